"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), written from the paper's description.

Two images are likely the same person when each is among the other's k nearest neighbours.
Every image is described by a soft set of its k-reciprocal neighbours (a vector ``V`` of
weights over all query and gallery images); the Jaccard distance between two such sets is
blended with the original distance:  d* = (1 - lambda) d_J + lambda d.
"""

from __future__ import annotations

import numpy as np

from reidkit.eval.distance import as_tensor


def _as_matrix(values, name: str) -> np.ndarray:
    matrix = np.asarray(as_tensor(values, name).detach().cpu(), dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {matrix.shape}")
    return matrix


def _reciprocal(rank: np.ndarray, k: int) -> list[np.ndarray]:
    """For every image, its k-nearest neighbours that also have it among theirs."""
    nearest = rank[:, : k + 1]  # (N, k+1) including the image itself
    own = np.arange(len(rank))[:, None, None]
    mutual = (nearest[nearest] == own).any(axis=2)  # (N, k+1): is i among its neighbour's?
    return [nearest[i][mutual[i]] for i in range(len(rank))]


def re_ranking(q_g, q_q, g_g, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """Re-ranked (queries, gallery) distances from query-gallery, query-query, gallery-gallery.

    Distances must be non-negative (Euclidean, or 1 - cosine). Each row of the joint matrix is
    scaled by its maximum first, as in the paper's code. ``k1`` sizes the reciprocal sets,
    ``k2`` the local query expansion (1 disables it), ``lambda_value`` weighs the original
    distance. Cost: O(N^2) memory for N = queries + gallery, so it suits SYSU-sized problems.
    """
    q_g, q_q, g_g = _as_matrix(q_g, "q_g"), _as_matrix(q_q, "q_q"), _as_matrix(g_g, "g_g")
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ValueError(
            f"q_q must be ({num_q}, {num_q}) and g_g ({num_g}, {num_g}) for q_g of shape "
            f"{q_g.shape}; got {q_q.shape} and {g_g.shape}"
        )
    if k1 < 1 or k2 < 1 or not 0.0 <= lambda_value <= 1.0:
        raise ValueError(
            f"need k1, k2 >= 1 and 0 <= lambda_value <= 1, got {k1}, {k2}, {lambda_value}"
        )
    joint = np.block([[q_q, q_g], [q_g.T, g_g]])  # (N, N)
    if (joint < -1e-5).any():
        raise ValueError("re_ranking needs non-negative distances (Euclidean or 1 - cosine)")
    joint = joint.clip(0.0, None)  # rounding can leave 1 - cos slightly below zero
    original = joint / np.maximum(joint.max(axis=1, keepdims=True), 1e-12)
    num = len(original)
    k1 = min(k1, num - 1)
    rank = np.argsort(original, axis=1, kind="stable")  # (N, N) nearest first

    sets = _reciprocal(rank, k1)
    halves = _reciprocal(rank, int(np.around(k1 / 2)))
    weights = np.zeros_like(original)  # (N, N) the soft k-reciprocal sets V
    for i in range(num):
        expanded = sets[i]
        for candidate in sets[i]:
            extra = halves[candidate]
            if len(np.intersect1d(extra, sets[i])) > 2 / 3 * len(extra):
                expanded = np.union1d(expanded, extra)
        expanded = np.unique(expanded)
        weight = np.exp(-original[i, expanded])
        weights[i, expanded] = weight / weight.sum()

    if k2 > 1:  # local query expansion: average V over each image's k2 nearest neighbours
        weights = np.mean([weights[rank[:, t]] for t in range(k2)], axis=0)

    gallery = weights[num_q:]  # (G, N)
    jaccard = np.empty((num_q, num_g), dtype=np.float32)
    for i in range(num_q):
        support = np.flatnonzero(weights[i])  # min(V_i, V_j) vanishes outside V_i's support
        overlap = np.minimum(weights[i, support], gallery[:, support]).sum(axis=1)  # (G,)
        jaccard[i] = 1.0 - overlap / (2.0 - overlap)  # sets sum to 1: |union| = 2 - |overlap|
    return (1.0 - lambda_value) * jaccard + lambda_value * original[:num_q, num_q:]
