"""Metric-learning losses over a mixed-modality batch (the book's "Methods and protocols", §5).

Every loss here starts from the same matrix: Euclidean distances between all pairs of
embeddings in the batch, whatever their modality, so that a visible anchor is pulled towards
its own identity's infrared images and pushed away from everybody else's.

* Batch-hard triplet: for each anchor, its farthest positive and nearest negative.
* Weighted regularisation triplet (the AGW baseline's loss): instead of the single hardest
  pair, a softmax-weighted average over all positives (weights ``softmax(d)``, so far positives
  count more) and all negatives (weights ``softmax(-d)``, so near negatives count more), with the
  soft margin ``log(1 + exp(d_p - d_n))``. With a number as ``margin`` it is the adaptive-weight
  triplet of the fused-attention paper (Huang and Shen, eq. 15): the same ``d_p`` and ``d_n``
  in the hinge ``max(0, d_p - d_n + margin)``. That paper sets the margin to 1, and its eq. 15
  as printed has no hinge; we read that as a typo for eq. 14's ``[.]_+``.

By default an anchor is never its own positive. AGW's public loss keeps it, at distance 0
(``anchor_as_positive=True``), which lowers ``d_p``. Anchors without a positive or without a
negative in the batch contribute nothing (with the anchor as its own positive, every anchor
that has a negative counts, as in AGW); a batch in which no anchor has both is an error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pairwise_euclidean(x: Tensor, y: Tensor | None = None, eps: float = 1e-12) -> Tensor:
    """Euclidean distances between the rows of ``x`` (N, D) and ``y`` (M, D) -> (N, M).

    Uses ``|a|^2 + |b|^2 - 2 a.b``, clamped at ``eps`` before the square root so the gradient
    stays finite at zero distance.
    """
    y = x if y is None else y
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"expected two (N, D) matrices with the same D, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    x, y = x.float(), y.float()
    squared = (
        x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    )  # (N, M)
    return squared.clamp_min(eps).sqrt()


def _masks(labels: Tensor, anchor_as_positive: bool = False) -> tuple[Tensor, Tensor]:
    """(positives, negatives) boolean masks (B, B); the diagonal is a positive only when
    ``anchor_as_positive``."""
    if labels.dim() != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}")
    same = labels.unsqueeze(0) == labels.unsqueeze(1)  # (B, B)
    if anchor_as_positive:
        return same, ~same
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _valid_anchors(positive: Tensor, negative: Tensor) -> Tensor:
    valid = positive.any(1) & negative.any(1)  # (B,)
    if not valid.any():
        raise ValueError(
            "no anchor in the batch has both a positive and a negative: a triplet loss needs "
            "at least two images of some identity and at least two identities per batch"
        )
    return valid


def batch_hard_triplet(features: Tensor, labels: Tensor, margin: float = 0.3) -> Tensor:
    """Batch-hard triplet (the fused-attention paper's eq. 14), averaged over the anchors a
    that have both a positive and a negative in the batch::

        [ max_{p in P(a)} d(a, p) - min_{n in N(a)} d(a, n) + margin ]_+

    features: (B, D); labels: (B,). P(a): same label, not a itself; N(a): other labels.
    """
    distances = pairwise_euclidean(features)  # (B, B)
    positive, negative = _masks(labels)
    valid = _valid_anchors(positive, negative)
    hardest_positive = distances.masked_fill(~positive, float("-inf")).amax(1)  # (B,)
    hardest_negative = distances.masked_fill(~negative, float("inf")).amin(1)  # (B,)
    losses = F.relu(hardest_positive - hardest_negative + margin)
    return losses[valid].mean()


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``scores`` over the entries where ``mask`` holds, zero elsewhere (rows)."""
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return torch.nan_to_num(weights, nan=0.0)  # rows with an empty mask


def triplet_weights(
    features: Tensor, labels: Tensor, anchor_as_positive: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """``(distances, positive_weights, negative_weights)``, each (B, B): row a holds anchor a's
    Euclidean distances, its weights ``softmax(d)`` over its positives and ``softmax(-d)`` over
    its negatives (eq. 15; zero elsewhere, each non-empty row sums to 1)."""
    distances = pairwise_euclidean(features)  # (B, B)
    positive, negative = _masks(labels, anchor_as_positive)
    positive_weights = _masked_softmax(distances, positive)  # (B, B), rows sum to 1
    negative_weights = _masked_softmax(-distances, negative)  # (B, B)
    return distances, positive_weights, negative_weights


def weighted_triplet(
    features: Tensor,
    labels: Tensor,
    margin: float | None = None,
    anchor_as_positive: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """The weighted regularisation / adaptive-weight triplet: returns ``(loss, d_p, d_n)``.

    Per anchor a, with P(a) its positives and N(a) its negatives (fused-attention paper,
    eq. 15)::

        d_p = sum_{p in P(a)} w_p d(a, p),   w_p = exp(d(a, p)) / sum_{p' in P(a)} exp(d(a, p'))
        d_n = sum_{n in N(a)} w_n d(a, n),   w_n = exp(-d(a, n)) / sum_{n' in N(a)} exp(-d(a, n'))
        loss(a) = log(1 + exp(d_p - d_n))    (margin None: AGW's soft margin)
        loss(a) = [d_p - d_n + margin]_+     (a number: eq. 15's hinge, alpha = margin)

    ``d_p`` and ``d_n`` come back for every anchor, each (B,); the loss averages the anchors
    that have both a positive and a negative (``d_p`` is 0 for an anchor without positives,
    ``d_n`` 0 for one without negatives). ``anchor_as_positive=True`` counts the anchor among
    its own positives at distance 0, as AGW's public code does.
    """
    distances, positive_weights, negative_weights = triplet_weights(
        features, labels, anchor_as_positive
    )
    positive, negative = _masks(labels, anchor_as_positive)
    valid = _valid_anchors(positive, negative)
    d_p = (positive_weights * distances).sum(1)  # (B,)
    d_n = (negative_weights * distances).sum(1)  # (B,)
    if margin is None:
        losses = F.softplus(d_p - d_n)  # log(1 + exp(d_p - d_n))
    else:
        losses = F.relu(d_p - d_n + margin)
    return losses[valid].mean(), d_p, d_n


class BatchHardTripletLoss(nn.Module):
    """Module form of :func:`batch_hard_triplet`."""

    def __init__(self, margin: float = 0.3) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return batch_hard_triplet(features, labels, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


class WeightedRegularizationTripletLoss(nn.Module):
    """Module form of :func:`weighted_triplet` (soft margin when ``margin`` is None)."""

    def __init__(self, margin: float | None = None, anchor_as_positive: bool = False) -> None:
        super().__init__()
        self.margin = margin
        self.anchor_as_positive = anchor_as_positive

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        return weighted_triplet(features, labels, self.margin, self.anchor_as_positive)[0]

    def extra_repr(self) -> str:
        margin = "soft margin" if self.margin is None else f"margin={self.margin}"
        return f"{margin}, anchor_as_positive={self.anchor_as_positive}"
