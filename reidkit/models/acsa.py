"""ACSA's local branch: phrases, image regions at two scales, and SCAN-style asymmetric
cross-attention between them (seed 001; METHODS.md section 7; chapter 13).

    caption --phrase_spans--> P noun phrases --phrase_token_mask--> (P, L) token assignment
    text tokens (B, L, D) --phrase_features--> phrases (B, P, D) and their mask (B, P)
    image tokens (B, 1+N, D) --region_features--> regions (B, R, D), R = 2x1 + 4x2 = 10
    AsymmetricCrossAlignment(regions, phrases) -> local similarity (B_img, B_txt)
    combined_score(global, local) = 0.9 global + 0.1 local

The attention follows SCAN (Lee et al., ECCV 2018), in both directions. For a query set
{e_j} (say the phrases) and a key set {v_i} (the regions), all L2-normalised:

    s_ij  = LeakyReLU_0.1(cos(v_i, e_j))                      cosine logits
    s̄_ij  = s_ij / sqrt(Σ_i s_ij²)                            normalised over the keys i
    α_ij  = exp(λ s̄_ij) / Σ_i exp(λ s̄_ij),  λ = 20            attention of query j over keys
    a_j   = Σ_i α_ij v_i                                      attended key vector
    S     = mean_j cos(e_j, a_j)                              relevance, SCAN's AVG pooling

Phrase -> region is SCAN's text-to-image attention, region -> phrase its image-text one (keys
restricted to the caption's real phrases); the local score is the mean of the two directions.
A caption with no phrase scores 0. Note: we normalise over the keys as the equations above
read; SCAN's released code, as we read it, applies its ``l2norm`` to the (regions, words)
logits along the query axis instead (worth checking and an ablation; not done here).

**The two paths.** ``explicit=False`` scores every image x caption pair at once on
(B, Bt, P, R) logits, masking padded phrases; ``explicit=True`` loops over the pairs and calls
:meth:`AsymmetricCrossAlignment.pair` on the real phrases only, which returns the weights for
plots. Neither uses ``F.scaled_dot_product_attention``: SDPA computes softmax(q k^T · scale +
mask), and LeakyReLU(cos) divided by a norm over the keys is not a scaled product q·k. The
logits could only enter SDPA as a finished additive mask with a zero query, which still forms
the whole logit tensor and saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.data.synth.attributes import COLOURS
from reidkit.data.synth.captions import (
    BAG_NAMES,
    GLASSES_WORDS,
    HAT_NAMES,
    LOWER_NAMES,
    SHOE_NAMES,
    UPPER_NAMES,
)
from reidkit.data.tokenizer import CaptionTokenizer

_NAMES = (UPPER_NAMES, LOWER_NAMES, SHOE_NAMES, BAG_NAMES, HAT_NAMES)
# Head nouns of a phrase: the synthetic captions' garment, shoe, bag and hat names, hair and
# glasses, and a few of the real datasets' common ones.
NOUNS = frozenset(
    {name.split()[-1] for names in _NAMES for options in names.values() for name in options}
    | {"hair"}
    | GLASSES_WORDS
    | {"dress", "jeans", "hoodie", "vest", "shoes", "hat", "bag", "scarf", "umbrella", "top"}
)
# Words that end a phrase: conjunctions, prepositions and the verbs of the caption templates.
BOUNDARIES = frozenset(
    "and with carrying carry carries wearing wear wears wore in on is are has have holding "
    "holds dressed they he she of at while who which over under from to".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_CLAUSE = re.compile(r"[^,.;:!?]+")


def phrase_spans(caption: str) -> list[tuple[int, int, str]]:
    """Noun phrases of ``caption`` as ``(start, end, text)``, ``text == caption[start:end]``.

    Clauses are split at punctuation, then at :data:`BOUNDARIES` words; a chunk is kept when
    it holds a noun of :data:`NOUNS` ("a red jacket", not "a person" or "walking past"). An
    "and" between colours does not split ("blue and grey checked trousers"). This reads the
    synthetic captions' templates; a real dataset's captions (CUHK-PEDES, RSTPReid) would be
    chunked by a POS tagger and noun-phrase chunker (spaCy's ``doc.noun_chunks``, NLTK's
    ``RegexpParser`` on ``<DT>?<JJ.*>*<NN.*>+``), which reidkit does not depend on.
    """
    spans = []
    for clause in _CLAUSE.finditer(caption):
        for chunk in _chunks(caption, clause.start(), clause.end()):
            if any(word.group().lower() in NOUNS for word in chunk):
                start, end = chunk[0].start(), chunk[-1].end()
                spans.append((start, end, caption[start:end]))
    return spans


def _chunks(caption: str, start: int, end: int) -> list[list[re.Match[str]]]:
    """The words of ``caption[start:end]`` in runs between boundary words."""
    chunks: list[list[re.Match[str]]] = [[]]
    for word in _WORD.finditer(caption, start, end):
        lower, chunk = word.group().lower(), chunks[-1]
        if lower == "and" and chunk and all(w.group().lower() in COLOURS for w in chunk):
            continue  # "blue and grey ...": the chunk goes on past the "and"
        if lower in BOUNDARIES:
            chunks.append([])
        else:
            chunk.append(word)
    return [chunk for chunk in chunks if chunk]


def phrase_token_mask(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]], length: int
) -> Tensor:
    """(P, L) 0/1 float matrix: token t belongs to phrase k when its character span
    ``offsets[t]`` (:meth:`CaptionTokenizer.offsets`) overlaps the phrase's. Special tokens
    (empty spans) and padding (t >= len(offsets)) belong to none."""
    mask = torch.zeros(len(spans), length)
    for k, (start, end, _) in enumerate(spans):
        for t, (a, b) in enumerate(offsets[:length]):
            if b > a and a < end and b > start:
                mask[k, t] = 1.0
    return mask


def phrase_masks(
    tokenizer: CaptionTokenizer, captions: Sequence[str], length: int
) -> tuple[Tensor, Tensor]:
    """Token assignment (B, P_max, L) of every caption's phrases, zero-padded, and the phrase
    mask (B, P_max) (True for a real phrase with at least one token left after truncation).
    ``length`` is the batch's token width L (``token_ids.shape[1]``); P_max >= 1."""
    rows = [phrase_token_mask(tokenizer.offsets(c), phrase_spans(c), length) for c in captions]
    p_max = max([1] + [row.shape[0] for row in rows])
    assign = torch.zeros(len(rows), p_max, length)
    for b, row in enumerate(rows):
        assign[b, : row.shape[0]] = row
    return assign, assign.sum(-1) > 0


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
        cos = e @ v.T  # (P, R): cos(e_j, v_i)
        s = F.leaky_relu(cos, self.negative_slope)
        # phrase j attends over the regions i: normalise and softmax along i (rows of s)
        s_bar = s / s.pow(2).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-8)
        w_p2r = torch.softmax(self.lam * s_bar, dim=1)  # (P, R)
        attended = w_p2r @ v  # (P, E): a_j = Σ_i α_ij v_i
        t2i = F.cosine_similarity(e, attended, dim=1).mean()
        # region i attends over the phrases j: the same along j (columns of s)
        s_bar = s / s.pow(2).sum(dim=0, keepdim=True).sqrt().clamp(min=1e-8)
        w_r2p = torch.softmax(self.lam * s_bar, dim=0).T  # (R, P)
        attended = w_r2p @ e  # (R, E)
        i2t = F.cosine_similarity(v, attended, dim=1).mean()
        return 0.5 * (t2i + i2t), w_p2r, w_r2p

    def attend(self, queries: Tensor, keys: Tensor, s: Tensor, key_mask: Tensor) -> Tensor:
        """One direction on all pairs: unit queries (..., Q, E), keys (..., K, E), logits
        s = LeakyReLU(cos) (..., Q, K), key mask (..., 1, K) -> weights α (..., Q, K) that are 0
        on masked keys, and relevance cos(q, a) per query (..., Q) as (weights, relevance)."""
        s = s.masked_fill(~key_mask, 0.0)  # masked keys leave the norm
        s_bar = F.normalize(s, dim=-1, eps=1e-8)  # s_ij / sqrt(Σ_i s_ij²) over the keys
        logits = (self.lam * s_bar).masked_fill(~key_mask, torch.finfo(s.dtype).min)
        alpha = torch.softmax(logits, dim=-1).masked_fill(~key_mask, 0.0)  # (..., Q, K)
        attended = F.normalize(alpha @ keys, dim=-1)  # (..., Q, E); zero if no key
        return alpha, (queries * attended).sum(-1)  # (..., Q)

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
        mask = phrase_mask.bool()
        v, e = self.project(regions, phrases)  # (B, R, E), (Bt, P, E)
        B, R, E = v.shape
        Bt, P, _ = e.shape
        cos = torch.einsum("bre,tpe->btpr", v, e)  # (B, Bt, P, R)
        s = F.leaky_relu(cos, self.negative_slope)
        v4 = v[:, None].expand(B, Bt, R, E)  # (B, Bt, R, E)
        e4 = e[None].expand(B, Bt, P, E)  # (B, Bt, P, E)
        all_regions = mask.new_ones(1, 1, 1, R)  # (1, 1, 1, R): every region is real
        w_p2r, rel = self.attend(e4, v4, s, all_regions)  # (B, Bt, P, R), (B, Bt, P)
        n = mask.sum(-1).clamp(min=1)  # (Bt,) real phrases per caption
        t2i = (rel * mask).sum(-1) / n  # (B, Bt): mean over real phrases
        key_mask = mask[None, :, None, :]  # (1, Bt, 1, P)
        w_r2p, rel = self.attend(v4, e4, s.transpose(-1, -2), key_mask)  # (B, Bt, R, P)
        i2t = rel.mean(-1)  # (B, Bt); 0 for a caption with no phrase
        sim = torch.where(mask.any(-1), 0.5 * (t2i + i2t), 0.0)  # (B, Bt)
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
