"""Losses for re-identification (book/methods.md): identity and metric-learning terms."""

from reidkit.losses.ce import LabelSmoothingCrossEntropy, label_smoothing_cross_entropy
from reidkit.losses.center import CenterLoss, center_loss
from reidkit.losses.distillation import cosine_distillation
from reidkit.losses.triplet import (
    BatchHardTripletLoss,
    WeightedRegularizationTripletLoss,
    batch_hard_triplet,
    pairwise_euclidean,
    triplet_weights,
    weighted_triplet,
)

__all__ = [
    "BatchHardTripletLoss",
    "CenterLoss",
    "LabelSmoothingCrossEntropy",
    "WeightedRegularizationTripletLoss",
    "batch_hard_triplet",
    "center_loss",
    "cosine_distillation",
    "label_smoothing_cross_entropy",
    "pairwise_euclidean",
    "triplet_weights",
    "weighted_triplet",
]
