"""Whole protocols: extract features once, rank every trial, average the metrics.

``extract(records) -> (N, D)`` features (tensor or array), one row per record in order, is
the only thing a model has to provide; it is called ONCE per protocol run with every distinct
image the protocol needs (all queries and the union of the galleries of all trials), so a
ten-trial SYSU-MM01 evaluation costs one pass over the images. For text-to-image, the same
function receives the caption records (``modality == "text"``) and the image records in one
list and must encode each by its modality.

Results are fractions in [0, 1]: ``R1``, ``R5``, ``R10``, ``R20``, ``mAP``, ``mINP`` and the
mean ``cmc`` over trials, plus ``per_trial`` (one dict per trial) and the settings used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from reidkit.data.records import Record
from reidkit.eval.distance import as_tensor, pairwise_distance
from reidkit.eval.metrics import rank_metrics
from reidkit.eval.rerank import re_ranking

Extract = Callable[[Sequence[Record]], "torch.Tensor | np.ndarray"]


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
    features,
    index,
    queries,
    gallery,
    protocol,
    *,
    metric="cosine",
    rerank=False,
    max_rank=20,
    return_per_query=False,
) -> dict:
    """Metrics of one query set against one gallery, from already extracted features."""
    q = features[[index[r] for r in queries]]
    g = features[[index[r] for r in gallery]]
    distances = pairwise_distance(q, g, metric)  # (Q, G)
    if rerank:
        distances = re_ranking(
            distances, pairwise_distance(q, q, metric), pairwise_distance(g, g, metric)
        )
    (q_pids, q_cams), (g_pids, g_cams) = _ids(queries), _ids(gallery)
    return rank_metrics(
        distances,
        q_pids,
        g_pids,
        q_cams,
        g_cams,
        protocol,
        max_rank,
        return_per_query=return_per_query,
    )


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


def _run_trials(extract, queries, galleries, protocol, metric, rerank, max_rank, **settings):
    features, index = extract_features(extract, list(queries) + [r for g in galleries for r in g])
    per_trial = [
        rank_records(
            features,
            index,
            queries,
            gallery,
            protocol,
            metric=metric,
            rerank=rerank,
            max_rank=max_rank,
        )
        for gallery in galleries
    ]
    return summarise(per_trial, protocol=protocol, metric=metric, rerank=rerank, **settings)


def evaluate_sysu(
    extract: Extract,
    ds,
    mode: str = "all",
    shot: str = "single",
    trials: int = 10,
    seed: int = 0,
    *,
    metric: str = "cosine",
    rerank: bool = False,
    max_rank: int = 20,
) -> dict:
    """SYSU-MM01: infrared queries against a visible gallery drawn ``trials`` times.

    ``ds`` is a :class:`reidkit.data.sysu.SYSUMM01`; trial ``t`` uses ``ds.gallery(mode, shot,
    t, seed)`` (seeded random choice, see ``reidkit.data.splits.sample_gallery``).
    """
    galleries = [ds.gallery(mode, shot, trial, seed) for trial in range(trials)]
    return _run_trials(
        extract,
        ds.query(mode),
        galleries,
        "sysu",
        metric,
        rerank,
        max_rank,
        mode=mode,
        shot=shot,
        seed=seed,
    )


def evaluate_regdb(
    extract: Extract,
    ds,
    direction: str = "v2i",
    *,
    metric: str = "cosine",
    rerank: bool = False,
    max_rank: int = 20,
) -> dict:
    """RegDB, one trial (``ds.trial``; one model per trial): all test images, no sampling.

    Average the results of the ten trials' models yourself with :func:`summarise`.
    """
    return _run_trials(
        extract,
        ds.query(direction),
        [ds.gallery(direction)],
        "regdb",
        metric,
        rerank,
        max_rank,
        direction=direction,
        trial=ds.trial,
    )


def evaluate_llcm(
    extract: Extract,
    ds,
    direction: str = "v2i",
    trials: int = 10,
    seed: int = 0,
    *,
    metric: str = "cosine",
    rerank: bool = False,
    max_rank: int = 20,
) -> dict:
    """LLCM: all query-modality images against a single-shot gallery drawn ``trials`` times."""
    galleries = [ds.gallery(direction, trial, seed) for trial in range(trials)]
    return _run_trials(
        extract,
        ds.query(direction),
        galleries,
        "llcm",
        metric,
        rerank,
        max_rank,
        direction=direction,
        seed=seed,
    )


def evaluate_text(
    extract: Extract, ds, split: str = "test", *, metric: str = "cosine", max_rank: int = 10
) -> dict:
    """Text-to-image: every caption of ``split`` ranks all its images by cosine similarity."""
    return _run_trials(
        extract,
        ds.queries(split),
        [ds.gallery(split)],
        "text",
        metric,
        False,
        max_rank,
        split=split,
    )


def format_result(result: dict) -> str:
    """One line: ``R1 57.3%  R10 90.1%  mAP 55.0%  mINP 40.2%`` (and the trial count)."""
    parts = [
        f"{k} {100 * result[k]:5.1f}%"
        for k in ("R1", "R5", "R10", "R20", "mAP", "mINP")
        if k in result
    ]
    return "  ".join(parts) + f"  ({result.get('trials', 1)} trial(s))"


def evaluate_protocol(extract, ds, setting=None, *, split="test", trials=None, seed=0, **kw):
    """TEMPORARY (replaced by the loaders branch)."""
    if hasattr(ds, "gallery_candidates"):
        return evaluate_sysu(extract, ds, setting or "all", "single", trials or 10, seed, **kw)
    return evaluate_regdb(extract, ds, setting or "v2i", **kw)
