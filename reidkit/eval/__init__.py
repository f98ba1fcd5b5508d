"""Evaluation: exact, vectorised CMC / mAP / mINP, the per-query reference, re-ranking, the one
protocol runner for every loader (:func:`evaluate_protocol`), the raw-pixel baseline and the
modality-gap measurement. Metric names everywhere: ``METRIC_KEYS`` (R1 R5 R10 R20 mAP mINP)."""

from reidkit.eval.distance import pairwise_distance
from reidkit.eval.gap import GAP_SETTINGS, modality_gap, two_modality_gap
from reidkit.eval.metrics import (
    rank_metrics,
    rank_metrics_from_features,
    stable_argsort,
)
from reidkit.eval.protocols import (
    METRIC_KEYS,
    Extract,
    evaluate_protocol,
    extract_features,
    format_result,
    rank_records,
    summarise,
)
from reidkit.eval.raw_pixels import raw_pixel_extractor, raw_pixel_features
from reidkit.eval.reference import PROTOCOLS, query_metrics, ranked_list, reference_rank_metrics
from reidkit.eval.rerank import re_ranking

__all__ = [
    "GAP_SETTINGS",
    "METRIC_KEYS",
    "PROTOCOLS",
    "Extract",
    "evaluate_protocol",
    "extract_features",
    "format_result",
    "modality_gap",
    "pairwise_distance",
    "query_metrics",
    "rank_metrics",
    "rank_metrics_from_features",
    "rank_records",
    "ranked_list",
    "raw_pixel_extractor",
    "raw_pixel_features",
    "re_ranking",
    "reference_rank_metrics",
    "stable_argsort",
    "summarise",
    "two_modality_gap",
]
