"""Center loss (Wen et al., 2016): pull each feature towards a learned center of its class.

    L_C = 1 / (2B) * sum_i || f_i - c_{y_i} ||^2

over a batch of B features f_i (B, D) with labels y_i, and one learnable center c_k (D,) per
class. It only pulls (nothing pushes classes apart), so it is used beside an identity or a
triplet loss; the seed-002 paper compares it with the two triplet losses (its Table 4).

Wen et al. move the centers with their own update rule and rate; here the centers are plain
parameters that the model's optimiser moves by the gradient of L_C, as most public re-id code
does. The gradient with respect to c_k is the mean offset (c_k - f_i) over class k's features,
divided by B, so a center drifts towards the mean of its class's features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def center_loss(features: Tensor, labels: Tensor, centers: Tensor) -> Tensor:
    """``1/(2B) sum_i |f_i - c_{y_i}|^2`` for features (B, D), labels (B,), centers (C, D)."""
    if features.dim() != 2 or centers.dim() != 2 or features.shape[1] != centers.shape[1]:
        raise ValueError(
            f"center_loss: expected features (B, D) and centers (C, D) with the same D, got "
            f"{tuple(features.shape)} and {tuple(centers.shape)}"
        )
    if labels.shape != features.shape[:1]:
        raise ValueError(
            f"center_loss: labels must have shape ({features.shape[0]},), got {tuple(labels.shape)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(centers)):
        raise ValueError(
            f"center_loss: labels must lie in 0..{len(centers) - 1} (one center per class), "
            f"got {labels.min().item()}..{labels.max().item()}"
        )
    own = centers[labels.long()]  # (B, D): each feature's class center c_{y_i}
    return 0.5 * (features.float() - own.float()).pow(2).sum(dim=1).mean()


class CenterLoss(nn.Module):
    """The center loss with its centers (num_classes, dim) as a parameter (random normal
    initialisation, seeded with the model): ``CenterLoss(C, D)(features, labels)``."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1 or dim < 1:
            raise ValueError(f"CenterLoss needs num_classes, dim >= 1, got {num_classes}, {dim}")
        self.centers = nn.Parameter(torch.randn(num_classes, dim))

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return center_loss(features, labels, self.centers)

    def extra_repr(self) -> str:
        return f"num_classes={self.centers.shape[0]}, dim={self.centers.shape[1]}"
