"""The modality gap in three numbers: retrieval within and across modalities, and chance.

On records from SYSU-MM01's six cameras (the synthetic people's test identities, or a loader's
test images), :func:`modality_gap` ranks three query/gallery pairs with the protocols of
:func:`reidkit.eval.rank_metrics`, every image of the gallery side kept (no sampling):

* ``V->V``: indoor visible cameras 1 and 2 against outdoor visible cameras 4 and 5, nothing
  removed (the ``"regdb"`` rule): the same modality, other cameras and other scenes;
* ``IR->V``: infrared queries (cameras 3 and 6) against every visible image with the
  ``"sysu"`` rule (cam3 queries skip cam2): SYSU-MM01's all-search, with every visible image in
  the gallery rather than one drawn per camera;
* ``IR->IR``: indoor infrared camera 3 against outdoor infrared camera 6, nothing removed.

Chance is the same evaluation with uniformly random distances, averaged over a few draws.
:func:`two_modality_gap` measures the same three kinds of number on a dataset of two modalities
without camera structure (visible-X-ray packages): within each modality and across, both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidkit.data.records import Record
from reidkit.data.sysu import INDOOR_CAMERAS, INFRARED_CAMERAS, VISIBLE_CAMERAS
from reidkit.eval.distance import pairwise_distance
from reidkit.eval.metrics import rank_metrics
from reidkit.eval.protocols import METRIC_KEYS, Extract, extract_features, summarise


def _cameras(cameras: tuple[int, ...], indoor: bool) -> tuple[int, ...]:
    return tuple(c for c in cameras if (c in INDOOR_CAMERAS) == indoor)


# name -> (query cameras, gallery cameras, protocol)
GAP_SETTINGS: dict[str, tuple[tuple[int, ...], tuple[int, ...], str]] = {
    "V->V": (_cameras(VISIBLE_CAMERAS, True), _cameras(VISIBLE_CAMERAS, False), "regdb"),
    "IR->V": (INFRARED_CAMERAS, VISIBLE_CAMERAS, "sysu"),
    "IR->IR": (_cameras(INFRARED_CAMERAS, True), _cameras(INFRARED_CAMERAS, False), "regdb"),
}


def modality_gap(
    extract: Extract,
    records: Sequence[Record],
    *,
    metric: str = "cosine",
    chance_trials: int = 5,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``{setting: {R1, R5, R10, R20, mAP, mINP, chance_R1, chance_mAP, queries, gallery}}``.

    ``extract`` is called once on the distinct ``records``; chance uses ``chance_trials``
    random distance matrices drawn from ``seed``.
    """
    if not isinstance(chance_trials, int) or chance_trials < 1:
        raise ValueError(f"chance_trials must be a positive integer, got {chance_trials!r}")
    features, index = extract_features(extract, records)
    rng = np.random.default_rng(seed)
    results = {}
    for name, (query_cams, gallery_cams, protocol) in GAP_SETTINGS.items():
        queries = [r for r in index if r.camid in query_cams]
        gallery = [r for r in index if r.camid in gallery_cams]
        if not queries or not gallery:
            raise ValueError(
                f"{name}: no records from cameras {query_cams} (queries) or {gallery_cams} "
                f"(gallery); got cameras {sorted({r.camid for r in records})}"
            )
        results[name] = _rank(
            features, index, queries, gallery, rng, chance_trials, metric, protocol
        )
    return results


SHORT_NAMES = {"visible": "V", "infrared": "IR", "xray": "X"}


def _rank(
    features, index, queries, gallery, rng, chance_trials, metric="cosine", protocol="regdb"
) -> dict[str, float]:
    """Metrics of one query/gallery pair under ``protocol``'s removal rule (``"regdb"``:
    nothing removed) and their chance level from ``chance_trials`` random distances."""
    q_pids, g_pids = [r.pid for r in queries], [r.pid for r in gallery]
    q_cams, g_cams = [r.camid for r in queries], [r.camid for r in gallery]
    q = features[[index[r] for r in queries]]
    g = features[[index[r] for r in gallery]]
    distances = pairwise_distance(q, g, metric)  # (Q, G)
    result = rank_metrics(distances, q_pids, g_pids, q_cams, g_cams, protocol)
    chance = [
        rank_metrics(rng.random(distances.shape), q_pids, g_pids, q_cams, g_cams, protocol)
        for _ in range(chance_trials)
    ]
    summary = summarise([result])
    return {
        **{key: summary[key] for key in METRIC_KEYS},
        "chance_R1": float(np.mean([c["cmc"][0] for c in chance])),
        "chance_mAP": float(np.mean([c["mAP"] for c in chance])),
        "queries": len(queries),
        "gallery": len(gallery),
    }


def two_modality_gap(
    extract: Extract,
    records: Sequence[Record],
    modalities: tuple[str, str] = ("visible", "xray"),
    *,
    chance_trials: int = 5,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """The gap of a dataset with two modalities and no camera structure (e.g. visible-X-ray).

    Within a modality (``"V->V"``, ``"X->X"``) the first record of each identity (in the given
    order) is the query and its other records the gallery; across (``"V->X"``, ``"X->V"``)
    every record of one modality queries every record of the other. Cosine distance, nothing
    removed (the ``"regdb"`` rule); same keys as :func:`modality_gap`.
    """
    if not isinstance(chance_trials, int) or chance_trials < 1:
        raise ValueError(f"chance_trials must be a positive integer, got {chance_trials!r}")
    features, index = extract_features(extract, records)
    by_modality = {m: [r for r in index if r.modality == m] for m in modalities}
    for modality, found in by_modality.items():
        if not found:
            raise ValueError(
                f"no {modality!r} records; got modalities {sorted({r.modality for r in records})}"
            )
    rng = np.random.default_rng(seed)
    results = {}
    for modality, found in by_modality.items():
        first: dict[int, Record] = {}
        for record in found:
            first.setdefault(record.pid, record)
        queries = list(first.values())
        gallery = [r for r in found if first[r.pid] is not r]
        name = SHORT_NAMES.get(modality, modality)
        results[f"{name}->{name}"] = _rank(features, index, queries, gallery, rng, chance_trials)
    for source, target in (modalities, modalities[::-1]):
        name = f"{SHORT_NAMES.get(source, source)}->{SHORT_NAMES.get(target, target)}"
        pair = (by_modality[source], by_modality[target])
        results[name] = _rank(features, index, *pair, rng, chance_trials)
    return results
