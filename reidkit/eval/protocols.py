"""The one evaluation path: extract features once, rank every trial, average the metrics.

:func:`evaluate_protocol` runs the protocol of any loader, a :class:`reidkit.data.Benchmark`
(SYSU-MM01, RegDB, LLCM, CUHK-PEDES, ICFG-PEDES, RSTPReid). ``extract(records) -> (N, D)``
features (tensor or array), one row per record in order, is the only thing a model has to
provide; it is called ONCE per protocol run with every distinct image the protocol needs (all
queries and the union of the galleries of all trials), so a ten-trial SYSU-MM01 evaluation
costs one pass over the images. For text-to-image, the same function receives the caption
records (``modality == "text"``) and the image records in one list and must encode each by its
modality.

Results use one vocabulary, ``METRIC_KEYS``: ``R1``, ``R5``, ``R10``, ``R20``, ``mAP``,
``mINP``, fractions in [0, 1]; with them the mean ``cmc`` over trials, ``per_trial`` (one dict
per trial) and the settings used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from reidkit.data.records import Record
from reidkit.data.splits import Benchmark
from reidkit.eval.distance import Distance, as_tensor, metric_name, pairwise_distance
from reidkit.eval.metrics import rank_metrics, rank_metrics_from_features
from reidkit.eval.rerank import re_ranking

Extract = Callable[[Sequence[Record]], "torch.Tensor | np.ndarray"]
METRIC_KEYS = ("R1", "R5", "R10", "R20", "mAP", "mINP")


def extract_features(extract: Extract, records: Sequence[Record]):
    """Features of the distinct records: ``(features, {record: row})``."""
    unique = list(dict.fromkeys(records))
    with torch.no_grad():
        features = as_tensor(extract(unique), "extract(records)").float()
    if features.ndim != 2 or features.shape[0] != len(unique):
        raise ValueError(
            f"extract(records) must return one feature row per record: expected shape "
            f"({len(unique)}, D), got {tuple(features.shape)}"
        )
    return features, {record: row for row, record in enumerate(unique)}


def _ids(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r.pid for r in records]), np.array([r.camid for r in records])


def rank_records(
    features: torch.Tensor,
    index: dict[Record, int],
    queries: Sequence[Record],
    gallery: Sequence[Record],
    protocol: str,
    *,
    metric: str | Distance = "cosine",
    rerank: bool = False,
    max_rank: int = 20,
    return_per_query: bool = False,
) -> dict:
    """Metrics of one query set against one gallery, from already extracted features.

    Without re-ranking the distances are computed chunk by chunk (the full matrix never
    exists); re-ranking needs the query-query and gallery-gallery matrices too.
    """
    q = features[[index[r] for r in queries]]
    g = features[[index[r] for r in gallery]]
    (q_pids, q_cams), (g_pids, g_cams) = _ids(queries), _ids(gallery)
    labels = (q_pids, g_pids, q_cams, g_cams, protocol, max_rank)
    if rerank and callable(metric):
        raise ValueError(
            "rerank: re-ranking needs distances between any two records (query-query, "
            "gallery-gallery); a model's own distance ranks queries against the gallery only"
        )
    if not rerank:
        return rank_metrics_from_features(
            q, g, *labels, metric=metric, return_per_query=return_per_query
        )
    distances = re_ranking(
        pairwise_distance(q, g, metric),  # (Q, G)
        pairwise_distance(q, q, metric),
        pairwise_distance(g, g, metric),
    )
    return rank_metrics(distances, *labels, return_per_query=return_per_query)


def summarise(per_trial: list[dict], **settings) -> dict:
    """Mean CMC, R-k, mAP and mINP over trials, with the per-trial results kept."""
    cmc = np.mean([t["cmc"] for t in per_trial], axis=0)
    result = {**settings, "trials": len(per_trial), "cmc": cmc}
    for k in (1, 5, 10, 20):
        if k <= len(cmc):
            result[f"R{k}"] = float(cmc[k - 1])
    result["mAP"] = float(np.mean([t["mAP"] for t in per_trial]))
    result["mINP"] = float(np.mean([t["mINP"] for t in per_trial]))
    result["per_trial"] = per_trial
    return result


def evaluate_protocol(
    extract: Extract,
    ds: Benchmark,
    setting: str | None = None,
    *,
    split: str = "test",
    trials: int | None = None,
    seed: int = 0,
    metric: str | Distance = "cosine",
    rerank: bool = False,
    max_rank: int = 20,
    **gallery_options,
) -> dict:
    """Evaluate ``extract`` on any loader's protocol: ``ds.query`` against ``trials`` galleries.

    ``ds`` is a :class:`reidkit.data.Benchmark` (SYSU-MM01, RegDB, LLCM, the text datasets).
    ``setting`` None is ``ds.default_setting``; ``trials`` None is ``ds.default_trials``. Trial
    ``t`` ranks ``ds.query(setting, split)`` against ``ds.gallery(setting, trial=t, seed=seed,
    split=split, **gallery_options)`` (SYSU-MM01 takes ``shot="single"`` or ``"multi"``) with
    the removal and CMC rules of ``ds.protocol``; the metrics are averaged over the trials.
    ``metric`` is ``"cosine"``, ``"euclidean"`` or a model's own distance function
    (``reidkit.eval.distance.pairwise_distance``).
    """
    setting = ds.check_setting(setting)
    trials = ds.default_trials if trials is None else trials
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    queries = ds.query(setting, split=split)
    galleries = [
        ds.gallery(setting, trial=t, seed=seed, split=split, **gallery_options)
        for t in range(trials)
    ]
    features, index = extract_features(extract, list(queries) + [r for g in galleries for r in g])
    per_trial = [
        rank_records(
            features,
            index,
            queries,
            gallery,
            ds.protocol,
            metric=metric,
            rerank=rerank,
            max_rank=max_rank,
        )
        for gallery in galleries
    ]
    return summarise(
        per_trial,
        dataset=type(ds).__name__,
        protocol=ds.protocol,
        setting=setting,
        split=split,
        seed=seed,
        metric=metric_name(metric),
        rerank=rerank,
        **gallery_options,
    )


def format_result(result: dict) -> str:
    """One line: ``R1 57.3%  R10 90.1%  mAP 55.0%  mINP 40.2%`` (and the trial count when the
    result records it: a training log's records do not)."""
    parts = [f"{k} {100 * result[k]:5.1f}%" for k in METRIC_KEYS if k in result]
    trials = f"  ({result['trials']} trial(s))" if "trials" in result else ""
    return "  ".join(parts) + trials
