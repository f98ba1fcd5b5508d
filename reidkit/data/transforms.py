"""Image transforms for training and testing, sized from the profile's ``img_size``.

Training (the baseline's augmentations, chosen by name from ``reidkit.data.augment``):
resize, random horizontal flip, zero-pad and random crop back to size (a small random
shift), random greyscale (visible images lose their colour now and then, so the model cannot
lean on colour alone: the usual cross-modal augmentation; infrared images are grey already and
stay unchanged), normalise, random erasing (a random rectangle replaced by noise, which teaches
the model not to rely on any one region). Testing: resize and normalise only. Infrared images
arrive as three equal channels and go through the same pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchvision import transforms as T

from reidkit.data.augment import (
    BASELINE_AUGMENTATIONS,
    ChannelPermute,
    ChannelSelect,
    GreyErasing,
    check_names,
)

# ImageNet statistics: the convention of pretrained ViTs, kept for from-scratch models too.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _check_size(img_size: tuple[int, int]) -> tuple[int, int]:
    if len(img_size) != 2 or min(img_size) < 1:
        raise ValueError(f"img_size must be (height, width) with positive sides, got {img_size}")
    return int(img_size[0]), int(img_size[1])


def train_transform(
    img_size: tuple[int, int],
    flip: float = 0.5,
    pad: int | None = None,
    erasing: float = 0.5,
    grayscale: float = 0.0,
    augmentations: Sequence[str] = BASELINE_AUGMENTATIONS,
    channel: float = 0.5,
) -> T.Compose:
    """PIL image -> normalised (3, H, W) tensor with the named ``augmentations``.

    Names and what they do: ``reidkit.data.augment`` (the list's order does not matter; the
    pipeline keeps the order of ``AUGMENTATIONS``). ``flip``, ``erasing``, ``grayscale`` and
    ``channel`` are probabilities (``channel`` for ``channel_select`` and ``channel_permute``,
    ``erasing`` for both erasings); a ``grayscale`` of 0 leaves it out. ``pad`` defaults to
    10 pixels at 256x128, scaled with the height (4 at 128x64).
    """
    height, width = _check_size(img_size)
    use = set(check_names(augmentations))
    pad = max(1, round(10 * height / 256)) if pad is None else pad
    steps: list = [T.Resize((height, width))]
    if "flip" in use:
        steps.append(T.RandomHorizontalFlip(flip))
    if "crop" in use and pad > 0:
        steps += [T.Pad(pad), T.RandomCrop((height, width))]
    if "trivial_augment" in use:
        steps.append(T.TrivialAugmentWide())
    if "grayscale" in use and grayscale > 0:  # luma weights sum to 1: R = G = B is unchanged
        steps.append(T.RandomGrayscale(grayscale))
    steps.append(T.ToTensor())
    if "channel_select" in use:
        steps.append(ChannelSelect(channel))
    if "channel_permute" in use:
        steps.append(ChannelPermute(channel))
    if "grey_erasing" in use:
        steps.append(GreyErasing(erasing))
    steps.append(T.Normalize(MEAN, STD))
    if "erasing" in use and erasing > 0:
        steps.append(T.RandomErasing(p=erasing, value="random"))
    return T.Compose(steps)


def test_transform(img_size: tuple[int, int]) -> T.Compose:
    """PIL image -> normalised (3, H, W) tensor, no randomness."""
    height, width = _check_size(img_size)
    return T.Compose([T.Resize((height, width)), T.ToTensor(), T.Normalize(MEAN, STD)])


def denormalize(images):
    """Normalised tensors (..., 3, H, W) back to [0, 1] for display."""
    import torch

    mean = torch.tensor(MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(3, 1, 1)
    return (images * std + mean).clamp(0, 1)
