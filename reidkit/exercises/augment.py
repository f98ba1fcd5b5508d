"""Chapter 5 exercises: the channel augmentations and the batched random crop, written on
whole batches with one draw per image (the draws are given, so the answers are exact)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def _images(g: torch.Generator, n: int, height: int = 8, width: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, height, width, generator=g)


def select_channel_cases(seed: int) -> list[Case]:
    g = generator(seed)
    grey = _images(g, 2)[:, :1].expand(-1, 3, -1, -1).contiguous()
    return [
        Case("4 images, channels 0, 1, 2, 1", (_images(g, 4), torch.tensor([0, 1, 2, 1]))),
        Case("one image, the blue channel", (_images(g, 1, 5, 3), torch.tensor([2]))),
        Case("infrared (R = G = B): unchanged", (grey, torch.tensor([2, 0]))),
        Case("6 images, random channels", (_images(g, 6), torch.randint(0, 3, (6,), generator=g))),
    ]


def check_select_channel(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(images, channels)``: (B, 3, H, W) images and (B,) channel numbers -> each image
    with its chosen channel copied into all three (B, 3, H, W), as
    ``reidkit.data.augment.select_channel`` (the core of ``ChannelSelect``)."""
    from reidkit.data.augment import select_channel

    return run_check(
        "select_channel",
        fn,
        select_channel,
        select_channel_cases(0),
        "reidkit.data.augment.select_channel",
    )


def permute_channels_cases(seed: int) -> list[Case]:
    g = generator(seed)
    orders = torch.stack([torch.randperm(3, generator=g) for _ in range(5)])
    return [
        Case("RGB -> BGR", (_images(g, 1), torch.tensor([[2, 1, 0]]))),
        Case("RGB -> GBR, not its inverse BRG", (_images(g, 1), torch.tensor([[1, 2, 0]]))),
        Case("the identity", (_images(g, 2), torch.tensor([[0, 1, 2], [0, 1, 2]]))),
        Case("5 images, 5 random orders", (_images(g, 5), orders)),
    ]


def check_permute_channels(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """``fn(images, orders)``: (B, 3, H, W) images and (B, 3) permutations -> images whose
    channel c is the old channel ``orders[b, c]``, as ``reidkit.data.augment.permute_channels``
    (the core of ``ChannelPermute``)."""
    from reidkit.data.augment import permute_channels

    return run_check(
        "permute_channels",
        fn,
        permute_channels,
        permute_channels_cases(0),
        "reidkit.data.augment.permute_channels",
    )


def shifted_crop_cases(seed: int) -> list[Case]:
    g = generator(seed)

    def at(*offsets: int) -> torch.Tensor:
        return torch.tensor(offsets)

    shifts = torch.randint(0, 5, (2, 4), generator=g)  # (top, left) x 4 images
    return [
        Case("no shift (top = left = pad)", (_images(g, 1), 2, at(2), at(2))),
        Case("the top-left corner: zeros come in", (_images(g, 1), 2, at(0), at(0))),
        Case("a shift down, not right", (_images(g, 1), 3, at(6), at(3))),
        Case("4 images, each its own shift", (_images(g, 4, 10, 6), 2, shifts[0], shifts[1])),
    ]


def check_shifted_crop(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(images, pad, top, left)``: (B, C, H, W) images zero-padded by ``pad`` pixels on
    every side, then image b cropped back to (H, W) starting at row ``top[b]`` and column
    ``left[b]`` of the padded image, as ``reidkit.data.device_augment.shifted_crop`` (the
    batched path's random crop, with the offsets given)."""
    from reidkit.data.device_augment import shifted_crop

    return run_check(
        "shifted_crop",
        fn,
        shifted_crop,
        shifted_crop_cases(0),
        "reidkit.data.device_augment.shifted_crop",
    )
