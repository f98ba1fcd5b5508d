"""Identity loss: cross-entropy with label smoothing (book/methods.md; seed 002, eq. 13).

The target distribution puts ``1 - eps + eps / C`` on the true identity and ``eps / C`` on each
of the other ``C - 1`` identities, which keeps the classifier from growing over-confident on
the few images each training identity has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def label_smoothing_cross_entropy(logits: Tensor, targets: Tensor, epsilon: float = 0.1) -> Tensor:
    """Mean over the batch of ``-sum_c q_c log p_c`` with the smoothed targets ``q``.

    logits: (B, C) raw scores; targets: (B,) identity labels in ``0..C-1``.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, C), got {tuple(logits.shape)}")
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"targets must have shape ({logits.shape[0]},) to match the logits, "
            f"got {tuple(targets.shape)}"
        )
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    num_classes = logits.shape[1]
    log_probs = F.log_softmax(logits.float(), dim=1)  # (B, C)
    smoothed = torch.full_like(log_probs, epsilon / num_classes)  # (B, C)
    smoothed.scatter_(1, targets.long().unsqueeze(1), 1.0 - epsilon + epsilon / num_classes)
    return -(smoothed * log_probs).sum(dim=1).mean()


class LabelSmoothingCrossEntropy(nn.Module):
    """Module form of :func:`label_smoothing_cross_entropy`."""

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return label_smoothing_cross_entropy(logits, targets, self.epsilon)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}"
