"""CMC, mAP and mINP for every protocol, with no Python loop over queries.

The numbers are those of ``reidkit.eval.reference`` (a test checks it to 1e-6): one stable sort
per row of the distance matrix, then the protocol's removal rule, the hits and the ranks are
all whole-tensor operations. Queries are processed in chunks so that memory stays bounded
whatever the size of the problem, and the work runs on the GPU when one is available.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from reidkit.eval.distance import Distance, as_tensor, pairwise_distance
from reidkit.eval.reference import DEDUPLICATED_CMC, PROTOCOLS

# Per distance entry a chunk holds about 80 bytes of temporaries (sort keys and indices,
# gathered ids and cameras, masks, cumulative sums), so 2**21 entries keep a chunk near 170 MiB
# (benchmarks/bench_eval.py measures the peak). Larger chunks gain little speed and, at tens of
# MiB per array, defeat the allocator's habit of returning big blocks to the system.
CHUNK_ELEMENTS = 2**21


def _check_inputs(shape, q_pids, g_pids, q_camids, g_camids, protocol, max_rank) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if len(shape) != 2:
        raise ValueError(f"distmat must be 2-D (queries, gallery), got shape {tuple(shape)}")
    num_q, num_g = shape
    lengths = {"q_pids": (len(q_pids), num_q), "q_camids": (len(q_camids), num_q)}
    lengths |= {"g_pids": (len(g_pids), num_g), "g_camids": (len(g_camids), num_g)}
    for name, (got, expected) in lengths.items():
        if got != expected:
            raise ValueError(
                f"{name} has {got} entries but distmat has shape {tuple(shape)} "
                f"(expected {expected} {'queries' if name[0] == 'q' else 'gallery items'})"
            )
    if num_g == 0:
        raise ValueError(f"the gallery is empty (distmat shape {tuple(shape)})")
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, got {max_rank}")


def stable_argsort(dist: torch.Tensor) -> torch.Tensor | np.ndarray:
    """Row-wise argsort, smaller first, ties in column order: ``torch.sort(stable=True)``.

    On the CPU NumPy sorts plain int64 values several times faster than any argsort, so each
    float32 distance becomes a sortable integer key (its bit pattern, negatives flipped) with the
    column index in the low 32 bits: the keys are distinct, so sorting them is a stable argsort.
    Matrices that are not exactly float32 (e.g. fine float64 values) take NumPy's stable argsort.
    Returns a tensor for a CUDA input, else a NumPy array.
    """
    if dist.is_cuda:
        return torch.sort(dist, dim=1, stable=True).indices
    values = dist.detach().numpy()
    single = values.astype(np.float32)
    if values.dtype != np.float32 and not np.array_equal(single, values):
        return np.argsort(values, axis=1, kind="stable")
    bits = (single + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into +0.0
    keys = (bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))).astype(np.int64)  # (c, G) ordered
    keys = (keys << 32) | np.arange(values.shape[1], dtype=np.int64)
    keys.sort(axis=1)
    return keys & 0xFFFFFFFF  # (c, G) column indices


def _nonzero(mask):
    return mask.nonzero(as_tuple=True) if isinstance(mask, torch.Tensor) else mask.nonzero()


def _float64(values):
    return values.double() if isinstance(values, torch.Tensor) else values.astype(np.float64)


def _false(shape: tuple[int, int], like):
    if isinstance(like, torch.Tensor):
        return torch.zeros(shape, dtype=torch.bool, device=like.device)
    return np.zeros(shape, dtype=bool)


def _chunk_statistics(order, q_idx, q_cam, g_idx, g_cam, protocol, num_ids):
    """Per query of one chunk: valid flag, CMC rank of the first match, AP and INP.

    ``order`` is the chunk's stable argsort; all arrays are NumPy (CPU) or torch (GPU) alike,
    and the code below only uses operations both libraries spell the same way.
    """
    xp = torch if isinstance(order, torch.Tensor) else np
    c, g = order.shape
    ranked_ids = g_idx[order]  # (c, G) id index of every ranked item
    same_id = ranked_ids == q_idx[:, None]
    if protocol == "sysu":  # a cam3 query skips every cam2 item
        keep = ~((q_cam[:, None] == 3) & (g_cam[order] == 2))
    elif protocol == "llcm":  # same id seen by the same camera number
        keep = ~(same_id & (g_cam[order] == q_cam[:, None]))
    else:
        keep = xp.ones_like(same_id)
    match = same_id & keep
    small = xp.int32  # cumulative counts fit in int32 and are faster to make
    rank = keep.cumsum(1, dtype=small)  # (c, G) rank of every kept item in the list after removal
    hits = match.cumsum(1, dtype=small)  # (c, G) true matches so far
    num_matches = hits[:, -1]
    valid = num_matches > 0

    rows, cols = _nonzero(match)  # every true match after removal
    precision = _float64(hits[rows, cols]) / _float64(rank[rows, cols])
    ap = xp.bincount(rows, weights=precision, minlength=c) / xp.clip(num_matches, 1, None)
    last = xp.amax(rank * match, 1)  # rank of the last true match
    inp = _float64(num_matches) / xp.clip(last, 1, None)

    before = keep & (hits == 0)  # kept items ranked before the first true match
    if protocol in DEDUPLICATED_CMC:  # count the distinct ids among them
        seen = _false((c, num_ids), like=same_id)  # (c, ids)
        r, j = _nonzero(before)
        seen[r, ranked_ids[r, j]] = True
        first = seen.sum(1) + 1
    else:
        first = before.sum(1) + 1
    return valid, first, ap, inp


def _run(
    chunks: Iterator,
    shape,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    protocol,
    max_rank,
    device,
    return_per_query,
) -> dict:
    ids, g_idx = np.unique(np.asarray(as_tensor(g_pids, "g_pids").cpu()), return_inverse=True)
    q_pid = np.asarray(as_tensor(q_pids, "q_pids").cpu())
    q_idx = np.searchsorted(ids, q_pid).clip(0, len(ids) - 1)
    q_idx = np.where(ids[q_idx] == q_pid, q_idx, -1)  # -1: the id is not in the gallery
    q_cam = np.asarray(as_tensor(q_camids, "q_camids").cpu())
    g_cam = np.asarray(as_tensor(g_camids, "g_camids").cpu())
    q_idx, q_cam, g_idx, g_cam = (a.astype(np.int32) for a in (q_idx, q_cam, g_idx, g_cam))
    if device.type != "cpu":
        q_idx, q_cam, g_idx, g_cam = (
            torch.as_tensor(a, dtype=torch.int64, device=device)
            for a in (q_idx, q_cam, g_idx, g_cam)
        )

    parts = []
    for start, dist in chunks:
        stop = start + dist.shape[0]
        order = stable_argsort(dist.to(device))
        parts.append(
            _chunk_statistics(
                order, q_idx[start:stop], q_cam[start:stop], g_idx, g_cam, protocol, len(ids)
            )
        )
    valid, first, ap, inp = (
        np.concatenate([np.asarray(torch.as_tensor(p).cpu()) for p in column])
        for column in zip(*parts)
    )
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            f"none of the {shape[0]} queries has a true match in the gallery after the "
            f"{protocol!r} removal rule; metrics are undefined"
        )
    counts = np.bincount(first[valid].clip(None, max_rank + 1), minlength=max_rank + 2)
    cmc = counts[1 : max_rank + 1].cumsum() / num_valid  # a short gallery's CMC stays flat
    result = {
        "cmc": cmc,
        "mAP": float(ap[valid].mean()),
        "mINP": float(inp[valid].mean()),
        "num_valid": num_valid,
    }
    if return_per_query:
        result["AP"] = np.where(valid, ap, np.nan)
        result["INP"] = np.where(valid, inp, np.nan)
        result["first_rank"] = np.where(valid, first, 0)
        result["valid"] = valid
    return result


def _device(preferred, tensor: torch.Tensor) -> torch.device:
    if preferred is not None:
        return torch.device(preferred)
    if tensor.is_cuda:
        return tensor.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def rank_metrics(
    distmat,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    protocol: str,
    max_rank: int = 20,
    *,
    device: str | torch.device | None = None,
    chunk_elements: int = CHUNK_ELEMENTS,
    return_per_query: bool = False,
) -> dict:
    """Mean ``cmc`` (array of ``max_rank``), ``mAP`` and ``mINP`` over valid queries.

    ``distmat`` is (queries, gallery), smaller = more similar (pass ``-similarity`` or
    ``1 - cosine`` for similarities); NumPy arrays and torch tensors (CPU or CUDA) are accepted.
    ``protocol`` is ``"sysu"``, ``"regdb"``, ``"llcm"`` or ``"text"`` (book/methods.md).
    A gallery shorter than ``max_rank`` is fine: the CMC keeps its last value from there on,
    as the reference codes pad it. Queries are processed ``chunk_elements // gallery`` at a
    time, each chunk holding about 80 bytes per entry (about 170 MiB by default) besides the
    matrix; a smaller ``chunk_elements`` lowers the bound proportionally.
    Runs on ``device``, else on the matrix's GPU, else on CUDA when available, else the CPU.
    ``return_per_query`` adds per-query ``AP``, ``INP`` (NaN when invalid), ``first_rank``
    (the CMC rank of the first match; 0 when invalid) and ``valid``.
    """
    dist = as_tensor(distmat, "distmat")
    _check_inputs(tuple(dist.shape), q_pids, g_pids, q_camids, g_camids, protocol, max_rank)
    has_nan = (
        np.isnan(dist.detach().numpy()).any() if dist.device.type == "cpu" else dist.isnan().any()
    )
    if dist.is_floating_point() and bool(has_nan):
        raise ValueError(f"distmat of shape {tuple(dist.shape)} contains NaN values")
    step = max(1, chunk_elements // dist.shape[1])
    chunks = ((s, dist[s : s + step]) for s in range(0, dist.shape[0], step))
    return _run(
        chunks,
        tuple(dist.shape),
        q_pids,
        g_pids,
        q_camids,
        g_camids,
        protocol,
        max_rank,
        _device(device, dist),
        return_per_query,
    )


def rank_metrics_from_features(
    q_feats,
    g_feats,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    protocol: str,
    max_rank: int = 20,
    *,
    metric: str | Distance = "cosine",
    device: str | torch.device | None = None,
    chunk_elements: int = CHUNK_ELEMENTS,
    return_per_query: bool = False,
) -> dict:
    """As :func:`rank_metrics`, computing the distances chunk by chunk from features.

    The full (queries, gallery) matrix never exists: memory is the features plus one chunk,
    so a 10,000 x 100,000 problem fits where its 4 GB distance matrix would not.
    """
    q, g = as_tensor(q_feats, "q_feats"), as_tensor(g_feats, "g_feats")
    target = _device(device, q)
    shape = (q.shape[0], g.shape[0])
    _check_inputs(shape, q_pids, g_pids, q_camids, g_camids, protocol, max_rank)
    g = g.to(target).float()
    if metric == "cosine":  # normalise the gallery once, not once per chunk
        g = torch.nn.functional.normalize(g, dim=1)

    def distances(block: torch.Tensor) -> torch.Tensor:
        block = block.to(target).float()
        if metric == "cosine":
            return 1.0 - torch.nn.functional.normalize(block, dim=1) @ g.T  # (chunk, G)
        return pairwise_distance(block, g, metric)

    step = max(1, chunk_elements // shape[1])
    chunks = ((s, distances(q[s : s + step])) for s in range(0, shape[0], step))
    return _run(
        chunks,
        shape,
        q_pids,
        g_pids,
        q_camids,
        g_camids,
        protocol,
        max_rank,
        target,
        return_per_query,
    )
