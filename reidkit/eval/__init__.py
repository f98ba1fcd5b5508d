"""Evaluation: exact, vectorised CMC / mAP / mINP, the per-query reference, re-ranking and
whole-protocol runners for SYSU-MM01, RegDB, LLCM and text-to-image retrieval."""

from reidkit.eval.distance import pairwise_distance
from reidkit.eval.metrics import (
    rank_metrics,
    rank_metrics_from_features,
    stable_argsort,
)
from reidkit.eval.protocols import (
    evaluate_llcm,
    evaluate_regdb,
    evaluate_sysu,
    evaluate_text,
    extract_features,
    format_result,
    rank_records,
    summarise,
)
from reidkit.eval.reference import PROTOCOLS, query_metrics, ranked_list, reference_rank_metrics
from reidkit.eval.rerank import re_ranking

__all__ = [
    "PROTOCOLS",
    "evaluate_llcm",
    "evaluate_regdb",
    "evaluate_sysu",
    "evaluate_text",
    "extract_features",
    "format_result",
    "pairwise_distance",
    "query_metrics",
    "rank_metrics",
    "rank_metrics_from_features",
    "rank_records",
    "ranked_list",
    "re_ranking",
    "reference_rank_metrics",
    "stable_argsort",
    "summarise",
]
