"""Losses for re-identification (book/methods.md): identity, metric-learning and image-text
alignment terms (CMSN's CRIA and semi-positive triplet among them)."""

from reidkit.losses.alignment import (
    cmpm_loss,
    id_loss,
    match_distribution,
    sdm_from_similarity,
    sdm_loss,
)
from reidkit.losses.ce import LabelSmoothingCrossEntropy, label_smoothing_cross_entropy
from reidkit.losses.center import CenterLoss, center_loss
from reidkit.losses.cmsn import cria_loss, semi_positive_triplet
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
    "cmpm_loss",
    "cosine_distillation",
    "cria_loss",
    "id_loss",
    "label_smoothing_cross_entropy",
    "match_distribution",
    "sdm_from_similarity",
    "pairwise_euclidean",
    "sdm_loss",
    "semi_positive_triplet",
    "triplet_weights",
    "weighted_triplet",
]
