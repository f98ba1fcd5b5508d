"""Chapter 1's raw-pixel retrieval as a "model", so that it runs through exactly the same
evaluation as a trained network: images box-downsampled to ``size`` and flattened."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.eval.raw_pixels import raw_pixel_features


class RawPixels(nn.Module):
    """``forward_embedding(batch)`` -> the batch's images as (B, 3 * h * w) pixel vectors."""

    def __init__(self, size: tuple[int, int] = (32, 16)) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("anchor", torch.zeros(0))  # gives the module a device

    def forward_embedding(self, batch: Batch) -> Tensor:
        return raw_pixel_features(batch.images, self.size)  # (B, 3 * h * w)
