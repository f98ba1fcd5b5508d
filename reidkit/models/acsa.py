"""ACSA's local branch: image regions at two scales, phrase features, and SCAN-style
asymmetric cross-attention between them (seed 001; METHODS.md section 7; chapter 13).

    caption --reidkit.data.phrases--> P noun phrases and their tokens (B, P, L)
    text tokens (B, L, D) --phrase_features--> phrases (B, P, D) and their mask (B, P)
    image tokens (B, 1+N, D) --region_features--> regions (B, R, D), R = 2x1 + 4x2 = 10
    AsymmetricCrossAlignment(regions, phrases) -> local similarity (B_img, B_txt)
    combined_score(global, local) = 0.9 global + 0.1 local

The attention follows SCAN (Lee et al., ECCV 2018), in both directions. For a query set
{e_j} (say the phrases) and a key set {v_i} (the regions), all L2-normalised:

    s_ij  = LeakyReLU_0.1(cos(v_i, e_j))                      cosine logits
    s̄_ij  = s_ij / sqrt(Σ_j s_ij²)                            normalised over the queries j
    α_ij  = exp(λ s̄_ij) / Σ_i exp(λ s̄_ij),  λ = 20            attention of query j over keys
    a_j   = Σ_i α_ij v_i                                      attended key vector
    S     = mean_j cos(e_j, a_j)                              relevance, SCAN's AVG pooling

Phrase -> region is SCAN's text-to-image attention, region -> phrase its image-text one (keys
restricted to the caption's real phrases); the local score is the mean of the two directions.
A caption with no phrase scores 0. The normalisation runs over the *queries* (for each key,
its logits across the queries have unit norm), as SCAN's released code does ("clipped_l2norm"
on the (keys, queries) logits, then the softmax over the keys): a key that resembles every
query stands out less. Padded phrases are left out of that norm.

**The two paths.** ``explicit=False`` scores every image x caption pair at once on
(B, Bt, P, R) logits, masking padded phrases; ``explicit=True`` loops over the pairs and calls
:meth:`AsymmetricCrossAlignment.pair` on the real phrases only, which returns the weights for
plots. Neither uses ``F.scaled_dot_product_attention``: SDPA computes softmax(q k^T · scale +
mask), and LeakyReLU(cos) divided by a norm over the queries is not a scaled product q·k. The
logits could only enter SDPA as a finished additive mask with a zero query, which still forms
the whole logit tensor and saves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def phrase_features(tokens: Tensor, assign: Tensor) -> Tensor:
    """Masked mean of the text tokens (B, L, D) over each phrase's tokens (B, P, L):
    f_k = Σ_t m_kt x_t / Σ_t m_kt, (B, P, D); a phrase without tokens gets zeros."""
    assign = assign.to(tokens.dtype)
    count = assign.sum(-1, keepdim=True).clamp(min=1.0)  # (B, P, 1)
    return (assign @ tokens) / count  # (B, P, L) @ (B, L, D) -> (B, P, D)


def region_features(
    tokens: Tensor,
    grid: tuple[int, int],
    scales: Sequence[tuple[int, int]] = ((2, 1), (4, 2)),
) -> Tensor:
    """Patch tokens (B, prefix + h*w, D), prefix tokens first, average-pooled into regions:
    for each scale (rows, cols) the grid is cut into rows x cols cells (adaptive pooling, so
    uneven grids give overlapping cells). Default: 2x1 = upper and lower body, then a 4x2
    grid. Returns (B, R, D), R = Σ rows * cols, the scales in order, cells row-major."""
    h, w = grid
    B, T, D = tokens.shape
    if T < h * w:
        raise ValueError(f"tokens: {T} tokens cannot hold a {h}x{w} grid")
    patches = tokens[:, T - h * w :]  # (B, N, D), prefix tokens removed
    maps = patches.transpose(1, 2).reshape(B, D, h, w)  # (B, D, h, w)
    regions = []
    for rows, cols in scales:
        pooled = F.adaptive_avg_pool2d(maps, (rows, cols))  # (B, D, rows, cols)
        regions.append(pooled.flatten(2).transpose(1, 2))  # (B, rows * cols, D)
    return torch.cat(regions, dim=1)  # (B, R, D)


def combined_score(global_sim: Tensor, local_sim: Tensor, weight: float = 0.1) -> Tensor:
    """ACSA's retrieval score of every image x caption pair (B, Bt):
    S = (1 - w) S_global + w S_local, w = 0.1 (METHODS.md: 0.9 global + 0.1 local)."""
    return (1.0 - weight) * global_sim + weight * local_sim


def scan_attention(s: Tensor, lam: float = 20.0) -> Tensor:
    """SCAN's weights from the logits s = LeakyReLU(cos) (Q, K) of Q queries over K keys:
    each key's logits are L2-normalised over the queries, then each query's softmax over the
    keys at inverse temperature ``lam``; (Q, K), rows sum to 1."""
    s_bar = s / s.pow(2).sum(dim=0, keepdim=True).sqrt().clamp(min=1e-8)  # over the queries
    return torch.softmax(lam * s_bar, dim=1)  # over the keys


class AsymmetricCrossAlignment(nn.Module):
    """SCAN-style attention of phrases over regions and of regions over phrases (module
    docstring), after linear projections of both to ``dim``."""

    def __init__(
        self,
        region_dim: int,
        phrase_dim: int,
        dim: int,
        lam: float = 20.0,
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        self.region_proj = nn.Linear(region_dim, dim)
        self.phrase_proj = nn.Linear(phrase_dim, dim)
        self.lam = lam
        self.negative_slope = negative_slope

    def project(self, regions: Tensor, phrases: Tensor) -> tuple[Tensor, Tensor]:
        """Regions (..., R, D_r) and phrases (..., P, D_p) -> unit vectors in the joint dim."""
        return (
            F.normalize(self.region_proj(regions), dim=-1),
            F.normalize(self.phrase_proj(phrases), dim=-1),
        )

    def pair(self, regions: Tensor, phrases: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One image's regions (R, D_r) and one caption's real phrases (P, D_p), spelled out:
        returns the local score (a 0-d tensor), the phrase -> region weights (P, R) ("for a
        phrase, its attention over the image regions") and region -> phrase weights (R, P)."""
        v, e = self.project(regions, phrases)  # (R, E), (P, E)
        if e.shape[0] == 0:
            return v.new_zeros(()), v.new_zeros(0, v.shape[0]), v.new_zeros(v.shape[0], 0)
        s = F.leaky_relu(e @ v.T, self.negative_slope)  # (P, R): LeakyReLU(cos(e_j, v_i))
        w_p2r = scan_attention(s, self.lam)  # (P, R): phrase j over the regions
        t2i = F.cosine_similarity(e, w_p2r @ v, dim=1).mean()  # a_j = Σ_i α_ij v_i
        w_r2p = scan_attention(s.T, self.lam)  # (R, P): region i over the phrases
        i2t = F.cosine_similarity(v, w_r2p @ e, dim=1).mean()
        return 0.5 * (t2i + i2t), w_p2r, w_r2p

    def attend(
        self, queries: Tensor, keys: Tensor, s: Tensor, query_mask: Tensor, key_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One direction on all pairs: unit queries (..., Q, E), keys (..., K, E) (broadcast
        against each other), logits s = LeakyReLU(cos) (..., Q, K) and masks (..., Q, 1),
        (..., 1, K) -> weights α (..., Q, K), 0 on masked keys and queries, and the relevance
        cos(q, a) of each query (..., Q)."""
        s = s.masked_fill(~(query_mask & key_mask), 0.0)  # padding leaves the norm
        s_bar = F.normalize(s, dim=-2, eps=1e-8)  # s_ij / sqrt(Σ_j s_ij²) over the queries
        logits = (self.lam * s_bar).masked_fill(~key_mask, torch.finfo(s.dtype).min)
        alpha = torch.softmax(logits, dim=-1).masked_fill(~(query_mask & key_mask), 0.0)
        attended = F.normalize(alpha @ keys, dim=-1)  # (..., Q, E); zero if no key
        return alpha, (queries * attended).sum(-1)  # (..., Q)

    def score(self, v: Tensor, e: Tensor, phrase_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Projected unit regions v (B, R, E) and phrases e (Bt, P, E) with the phrase mask
        (Bt, P) -> local similarity (B, Bt), weights phrase -> region (B, Bt, P, R) and
        region -> phrase (B, Bt, R, P)."""
        mask = phrase_mask.bool()
        R = v.shape[1]
        s = F.leaky_relu(torch.einsum("bre,tpe->btpr", v, e), self.negative_slope)
        regions, phrases = v[:, None], e[None]  # (B, 1, R, E), (1, Bt, P, E)
        every_region = mask.new_ones(1, 1, 1, R)  # (1, 1, 1, R): every region is real
        w_p2r, rel = self.attend(phrases, regions, s, mask[None, :, :, None], every_region)
        t2i = (rel * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B, Bt): over real phrases
        w_r2p, rel = self.attend(
            regions,
            phrases,
            s.transpose(-1, -2),
            every_region.transpose(-1, -2),
            mask[None, :, None, :],
        )  # (B, Bt, R, P), (B, Bt, R)
        sim = torch.where(mask.any(-1), 0.5 * (t2i + rel.mean(-1)), 0.0)  # (B, Bt)
        return sim, w_p2r, w_r2p

    def forward(
        self,
        regions: Tensor,
        phrases: Tensor,
        phrase_mask: Tensor,
        return_weights: bool = False,
        explicit: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        """Local similarity (B, Bt) of every image (regions (B, R, D_r)) with every caption
        (phrases (Bt, P, D_p), phrase_mask (Bt, P) True for real phrases). With
        ``return_weights`` also the weights phrase -> region (B, Bt, P, R) and region -> phrase
        (B, Bt, R, P), zero on padded phrases. ``explicit`` loops over pairs (:meth:`pair`)."""
        if explicit:
            return self._forward_explicit(regions, phrases, phrase_mask, return_weights)
        sim, w_p2r, w_r2p = self.score(*self.project(regions, phrases), phrase_mask)
        return (sim, w_p2r, w_r2p) if return_weights else sim

    def _forward_explicit(
        self, regions: Tensor, phrases: Tensor, phrase_mask: Tensor, return_weights: bool
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        B, R, _ = regions.shape
        Bt, P, _ = phrases.shape
        sim = regions.new_zeros(B, Bt)
        w_p2r = regions.new_zeros(B, Bt, P, R)
        w_r2p = regions.new_zeros(B, Bt, R, P)
        for t in range(Bt):
            real = phrase_mask[t].bool()  # (P,)
            for b in range(B):
                score, p2r, r2p = self.pair(regions[b], phrases[t][real])
                sim[b, t] = score
                w_p2r[b, t, real] = p2r  # (P_real, R) into the real rows
                w_r2p[b, t][:, real] = r2p  # (R, P_real) into the real columns
        return (sim, w_p2r, w_r2p) if return_weights else sim
