"""Augmentations by name, and what each does to an infrared image.

A training pipeline (``reidkit.data.transforms.train_transform``) is chosen by *names*; the
training configuration picks a list per modality (``data.augment.visible``, ``.infrared``,
``.xray``). The pipeline always runs them in the order of :data:`AUGMENTATIONS`, whatever the
order of the list:

==================  =====================================================  ==================
name                what it does                                            infrared (R=G=B)
==================  =====================================================  ==================
``flip``            mirror left-right (probability ``flip``)                stays R=G=B
``crop``            zero-pad, random crop back to size (a small shift)      stays R=G=B
``trivial_augment`` torchvision's ``TrivialAugmentWide``: one random op     stays R=G=B (every
                    (shear, shift, rotate, brightness, contrast, colour,    op treats equal
                    sharpness, posterize, solarize, autocontrast,           channels alike)
                    equalize, identity) at a random strength
``grayscale``       luma grey, probability ``data.grayscale``               unchanged
``channel_select``  copy one random channel to all three (Ye et al.'s       unchanged
                    channel-exchangeable augmentation)
``channel_permute`` shuffle the three channels                              unchanged
``grey_erasing``    a random rectangle replaced by noise shared by the      stays R=G=B
                    three channels (before normalising)
``erasing``         torchvision's ``RandomErasing``: a random rectangle     coloured noise in
                    replaced by per-channel normal noise (after             the rectangle:
                    normalising); the baseline's choice                     R=G=B broken there
==================  =====================================================  ==================

The channel transforms work on (3, H, W) or batched (B, 3, H, W) tensors in [0, 1] with one
draw per image, so the batched data path (``reidkit.data.device_augment``) uses them as they
are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision import transforms as T

# The order a pipeline applies them in (PIL stage, tensor stage, then after normalising).
AUGMENTATIONS = (
    "flip",
    "crop",
    "trivial_augment",
    "grayscale",
    "channel_select",
    "channel_permute",
    "grey_erasing",
    "erasing",
)
# Today's baseline pipeline (chapter 4): the default for every modality.
BASELINE_AUGMENTATIONS = ("flip", "crop", "grayscale", "erasing")


def check_names(names: Sequence[str], key: str = "augmentations") -> list[str]:
    """``names`` as a list, each a known augmentation named once; the error names ``key``."""
    names = list(names)
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"{key}: unknown augmentation {name!r}; expected any of {list(AUGMENTATIONS)}"
            )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{key}: {repeated[0]!r} is listed twice")
    return names


def _draws(images: Tensor, p: float) -> tuple[Tensor, bool]:
    """(which images of ``images`` (3, H, W) or (B, 3, H, W) are changed (B,), batched?)."""
    if images.shape[-3] != 3:
        raise ValueError(
            f"expected images of shape (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}"
        )
    batched = images.dim() == 4
    n = images.shape[0] if batched else 1
    return torch.rand(n) < p, batched


def select_channel(images: Tensor, channels: Tensor) -> Tensor:
    """(B, 3, H, W) images, (B,) channel numbers 0..2 -> each image's chosen channel copied
    into all three: (B, 3, H, W)."""
    index = channels.to(images.device).view(-1, 1, 1, 1).expand(-1, 1, *images.shape[-2:])
    return images.gather(1, index).expand_as(images)  # (B, 1, H, W) -> (B, 3, H, W)


def permute_channels(images: Tensor, orders: Tensor) -> Tensor:
    """(B, 3, H, W) images, (B, 3) permutations -> image b's channel c is its old channel
    ``orders[b, c]``: (B, 3, H, W)."""
    return images.gather(1, orders.to(images.device).view(-1, 3, 1, 1).expand_as(images))


class ChannelSelect:
    """With probability ``p``, one of the three channels, chosen at random, replaces all three.

    A visible image becomes a grey image whose brightness is its red, green or blue light: the
    channel-exchangeable augmentation of cross-modal baselines, which narrows the colour gap to
    infrared. An infrared image (R = G = B) is unchanged: every channel is the same."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, images: Tensor) -> Tensor:
        change, batched = _draws(images, self.p)
        channel = torch.randint(0, 3, (len(change),))
        batch = images if batched else images.unsqueeze(0)  # (B, 3, H, W)
        picked = select_channel(batch, channel)
        out = torch.where(change.to(batch.device).view(-1, 1, 1, 1), picked, batch)
        return out if batched else out[0]

    def __repr__(self) -> str:
        return f"ChannelSelect(p={self.p})"


class ChannelPermute:
    """With probability ``p``, the three channels in a random order (RGB -> BRG, ...).

    Colours change (red clothes may turn blue) while shapes and brightness patterns stay, so
    the model learns that colour is not identity. An infrared image is unchanged."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, images: Tensor) -> Tensor:
        change, batched = _draws(images, self.p)
        order = torch.rand(len(change), 3).argsort(dim=1)  # (B, 3) a random permutation each
        order[~change] = torch.arange(3)
        batch = images if batched else images.unsqueeze(0)  # (B, 3, H, W)
        out = permute_channels(batch, order)
        return out if batched else out[0]

    def __repr__(self) -> str:
        return f"ChannelPermute(p={self.p})"


class GreyErasing:
    """With probability ``p``, a random rectangle (2-33 % of the area, aspect 0.3-3.3, as
    torchvision's ``RandomErasing``) replaced by uniform noise shared by the three channels.

    Works on a (3, H, W) tensor in [0, 1], before normalising: an infrared image stays
    R = G = B everywhere (torchvision's ``erasing`` fills each channel with its own noise)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p
        self.area = (0.02, 0.33)
        self.ratio = (0.3, 3.3)

    def __call__(self, image: Tensor) -> Tensor:
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"GreyErasing: expected a (3, H, W) tensor, got {tuple(image.shape)}")
        if torch.rand(1).item() >= self.p:
            return image
        # torchvision's rectangle sampling, on one channel so that the noise is shared
        top, left, h, w, _ = T.RandomErasing.get_params(
            image[:1], scale=self.area, ratio=self.ratio, value=[0.0]
        )
        if (h, w) == tuple(image.shape[-2:]):  # torchvision's "no rectangle fitted" answer
            return image
        out = image.clone()
        noise = torch.rand(1, h, w).to(image.device, image.dtype)  # (1, h, w)
        out[:, top : top + h, left : left + w] = noise  # broadcast to the 3 channels
        return out

    def __repr__(self) -> str:
        return f"GreyErasing(p={self.p})"


def is_grey(images: Tensor, atol: float = 0.0) -> bool:
    """Whether every image of (..., 3, H, W) has R = G = B (within ``atol``)."""
    r, g, b = images.unbind(-3)
    return bool(((r - g).abs() <= atol).all() and ((r - b).abs() <= atol).all())
