"""Raw pixels as a "model": the weakest sensible baseline, and the one implementation of it.

Each image goes through the test transform (resize to the model's ``img_size``, normalise),
is box-downsampled to ``size`` (32×16 by default) by averaging and flattened: a (3·h·w) vector
that remembers colours and a coarse silhouette and nothing else. Chapter 1 measures the
modality gap with it, chapter 2 runs the protocols with it, and the trainer evaluates it as a
model, all through this file.

>>> import torch
>>> raw_pixel_features(torch.zeros(2, 3, 64, 32)).shape
torch.Size([2, 1536])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from reidkit.data.records import Record, read_image
from reidkit.data.transforms import test_transform
from reidkit.eval.protocols import Extract


def raw_pixel_features(images: torch.Tensor, size: tuple[int, int] = (32, 16)) -> torch.Tensor:
    """(B, 3, H, W) images -> (B, 3·h·w): each channel averaged over boxes to ``size`` (h, w)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    return F.adaptive_avg_pool2d(images, size).flatten(1)  # (B, 3 * h * w)


def raw_pixel_extractor(
    img_size: tuple[int, int], size: tuple[int, int] = (32, 16), batch_size: int = 256
) -> Extract:
    """``records -> (N, 3·h·w)`` raw-pixel features, reading images as the test transform does.

    ``img_size`` (H, W) is what every image is resized to first (the profile's, as a model
    would see it). Caption records (modality ``text``) are refused: pixels cannot encode text.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    transform = test_transform(img_size)

    def extract(records: Sequence[Record]) -> torch.Tensor:
        captions = [r for r in records if r.modality == "text"]
        if captions:
            raise ValueError(
                f"raw pixels cannot encode captions: {len(captions)} record(s) have modality "
                f"'text' (first: {captions[0].path!r}); evaluate an image-text model instead"
            )
        rows = [torch.empty(0, 3 * size[0] * size[1])]
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            images = torch.stack([transform(read_image(r.path)) for r in chunk])  # (B, 3, H, W)
            rows.append(raw_pixel_features(images, size))
        return torch.cat(rows)

    return extract
