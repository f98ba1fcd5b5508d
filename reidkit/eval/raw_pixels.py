"""TEMPORARY (replaced by the loaders branch): raw-pixel features."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def raw_pixel_features(images: Tensor, size: tuple[int, int] = (32, 16)) -> Tensor:
    return F.adaptive_avg_pool2d(images, size).flatten(1)  # (B, 3 * h * w)
