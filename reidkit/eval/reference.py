"""The evaluation protocols written plainly, one query at a time.

This is the teaching version and the yardstick: ``reidkit.eval.metrics.rank_metrics`` computes
the same numbers without a loop over queries, and a test checks that both agree. Everything
here follows the protocols as ``book/methods.md`` states them:

* rank the gallery by distance, smaller first, ties keeping gallery order (stable sort);
* drop the gallery items the protocol removes for this query;
* a query is *valid* when at least one true match is left; metrics average valid queries;
* AP = mean over the true matches of (hits so far) / (rank);
* INP = (number of true matches) / (rank of the last true match);
* CMC@k = 1 when a true match is within the first k of the ranked list, where for SYSU-MM01
  and LLCM the list is the ranked list of *identities*, de-duplicated keeping first occurrences.
"""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("sysu", "regdb", "llcm", "text")
DEDUPLICATED_CMC = {"sysu", "llcm"}  # CMC over the de-duplicated ranked id list


def removed(protocol: str, q_pid: int, q_camid: int, g_pid: int, g_camid: int) -> bool:
    """Whether the protocol removes one gallery item from one query's ranked list."""
    if protocol == "sysu":  # cameras 2 and 3 share a room: cam3 queries skip all of cam2
        return q_camid == 3 and g_camid == 2
    if protocol == "llcm":  # same person seen by the same camera number
        return g_pid == q_pid and g_camid == q_camid
    if protocol in ("regdb", "text"):
        return False
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def ranked_list(dist_row, q_pid, q_camid, g_pids, g_camids, protocol: str) -> list[int]:
    """Gallery indices of one query, best first, after the protocol's removal rule."""
    order = np.argsort(np.asarray(dist_row), kind="stable")  # ties keep gallery order
    return [
        int(j)
        for j in order
        if not removed(protocol, int(q_pid), int(q_camid), int(g_pids[j]), int(g_camids[j]))
    ]


def query_metrics(
    dist_row, q_pid, q_camid, g_pids, g_camids, protocol: str, max_rank: int = 20
) -> dict | None:
    """CMC (length ``max_rank``), AP and INP of one query; None when it has no true match."""
    kept = ranked_list(dist_row, q_pid, q_camid, g_pids, g_camids, protocol)
    matches = [int(g_pids[j]) == int(q_pid) for j in kept]
    if not any(matches):
        return None

    # AP: precision at the rank of every true match, averaged over the true matches.
    hits, precisions = 0, []
    for rank, is_match in enumerate(matches, start=1):
        if is_match:
            hits += 1
            precisions.append(hits / rank)
    ap = sum(precisions) / hits

    # INP: how far down the list the hardest true match sits.
    last_rank = max(rank for rank, is_match in enumerate(matches, start=1) if is_match)
    inp = hits / last_rank

    # CMC: rank of the first true match in the (possibly de-duplicated) list of ids.
    ids = [int(g_pids[j]) for j in kept]
    if protocol in DEDUPLICATED_CMC:
        ids = list(dict.fromkeys(ids))  # keeps the first occurrence of every id, in order
    first = ids.index(int(q_pid)) + 1
    cmc = np.array([1.0 if first <= k else 0.0 for k in range(1, max_rank + 1)])
    return {"cmc": cmc, "AP": ap, "INP": inp}


def reference_rank_metrics(
    distmat, q_pids, g_pids, q_camids, g_camids, protocol: str, max_rank: int = 20
) -> dict:
    """Mean CMC, mAP and mINP over valid queries, one query at a time (slow, obviously right).

    CMC beyond the length of a short gallery stays at its last value (a valid query's first
    match is always inside the list, so its CMC has reached 1 there).
    """
    distmat = np.asarray(distmat, dtype=np.float64)
    results = []
    for i in range(distmat.shape[0]):
        result = query_metrics(
            distmat[i], q_pids[i], q_camids[i], g_pids, g_camids, protocol, max_rank
        )
        if result is not None:
            results.append(result)
    if not results:
        raise ValueError("no query has a true match in the gallery; metrics are undefined")
    return {
        "cmc": np.mean([r["cmc"] for r in results], axis=0),
        "mAP": float(np.mean([r["AP"] for r in results])),
        "mINP": float(np.mean([r["INP"] for r in results])),
        "num_valid": len(results),
    }
