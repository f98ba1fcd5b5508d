"""Similarity exchange, SE (Lei's CSET, eq. 1-3): patch tokens cross between two modalities.

Two modality-specific ViTs of equal shape give, after the same layer k, visible tokens F_V and
infrared tokens F_I, each (B, 1+N, D): the CLS token at index 0, then N patch tokens of one
(h, w) grid in row-major order. The exchange lets each patch token of one modality take in the
patch tokens of the other modality that match it:

    A_I       = softmax(F_I F_I^T / (sqrt(d) t))                    (1)  within_modality_attention
    J_ij      = 1 - a_i.b_j / (|a_i|^2 + |b_j|^2 - a_i.b_j)          (2)  tanimoto_distance
    S_{I->V}  = alpha (1 - J_{I->V}) + (1 - alpha) A_I               (3)  matching_weights
    F̄_I       = F_I + beta softmax(S_{I->V} / tau) F_V                    SimilarityExchange

Eq. 1 as printed has neither the 1/sqrt(d) nor the temperature t: without them the softmax of
raw dot products of d-dimensional tokens is one-hot for any trained ViT, so we scale as
attention does (t = 1 by default). The paper says tokens are "exchanged" without a formula; the
course's default is the soft, differentiable exchange above, and ``mode="hard"`` is the
variant in which each of the top-r fraction of tokens (ranked by their best S) takes its single
argmax partner, F̄_I[i] = F_I[i] + beta F_V[argmax_j S_ij]; the soft exchange tends to it as
tau -> 0 (with top_r = 1). CLS tokens are never exchanged. The book's "Methods and protocols"
page records these decisions.

Eq. 3 adds A_I[i, j], a similarity between infrared tokens i and j, to a score of infrared
token i against *visible* token j: that makes sense because both streams share one grid, so
index j is the same image position in both; it rewards partners whose position is one that
token i already attends to in its own image.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor, nn

Direction = Literal["i2v", "v2i", "both"]
Mode = Literal["soft", "hard"]
DIRECTIONS: tuple[str, ...] = ("i2v", "v2i", "both")
MODES: tuple[str, ...] = ("soft", "hard")


@contextlib.contextmanager
def _full_precision(x: Tensor) -> Iterator[None]:
    # J subtracts nearly equal numbers (J(a, a) = 1 - x / x): bf16 would lose it entirely.
    with torch.autocast(device_type=x.device.type, enabled=False):
        yield


def _wide(x: Tensor) -> Tensor:
    """float32 for half-precision tokens; float32 and float64 as they are."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_tokens(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected tokens (B, N, D) with N >= 1, got {shape}")


def _check_pair(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    _check_tokens(name_a, a)
    _check_tokens(name_b, b)
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(
            f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}: expected the same batch "
            f"size B and token width D, (B, N, D) and (B, M, D)"
        )


def _check_range(name: str, value: float, low: float, high: float, open_low: bool) -> None:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if (
        not numeric
        or math.isnan(value)
        or value > high
        or value < low
        or (open_low and value == low)
    ):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}], got {value!r}")


def tanimoto_distance(a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    """Eq. 2, the Tanimoto (Jaccard) distance between every token of ``a`` and every token of
    ``b``: J_ij = 1 - a_i.b_j / (|a_i|^2 + |b_j|^2 - a_i.b_j).

    a (B, N, D), b (B, M, D) -> J (B, N, M), in float32 (float64 for float64 input) whatever
    the autocast.
    J lies in [0, 4/3]: 0 exactly when a_i = b_j, 1 for orthogonal tokens, 4/3 for opposite
    ones (a_i = -b_j). The denominator is at least (|a_i|^2 + |b_j|^2) / 2, so it vanishes only
    when both tokens are zero; it is clamped at ``eps``, which gives two zero tokens J = 1.
    """
    _check_pair("a", a, "b", b)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    with _full_precision(a):
        a, b = _wide(a), _wide(b)
        dot = a @ b.transpose(1, 2)  # (B, N, M): a_i . b_j
        sq_a = a.square().sum(dim=-1, keepdim=True)  # (B, N, 1): |a_i|^2
        sq_b = b.square().sum(dim=-1).unsqueeze(1)  # (B, 1, M): |b_j|^2
        union = (sq_a + sq_b - dot).clamp_min(eps)  # (B, N, M)
        return 1.0 - dot / union


def within_modality_attention(tokens: Tensor, temperature: float = 1.0) -> Tensor:
    """Eq. 1 with attention's scaling: A = softmax(F F^T / (sqrt(D) * temperature)) over the
    last dimension, tokens (B, N, D) -> A (B, N, N) in float32 (float64 for float64 input);
    every row sums to 1."""
    _check_tokens("tokens", tokens)
    _check_range("temperature", temperature, 0.0, math.inf, open_low=True)
    with _full_precision(tokens):
        f = _wide(tokens)
        scores = f @ f.transpose(1, 2) / (math.sqrt(f.shape[-1]) * temperature)  # (B, N, N)
        return scores.softmax(dim=-1)


def matching_weights(
    query: Tensor, other: Tensor, alpha: float = 0.7, temperature: float = 1.0
) -> Tensor:
    """Eq. 3, S_{query->other} = alpha (1 - J(query, other)) + (1 - alpha) A(query).

    query (B, N, D) and other (B, N, D), the patch tokens of the two modalities on one grid ->
    S (B, N, N) in float32: row i scores every token of ``other`` as a partner for query token
    i. ``alpha`` = 0.7 is the paper's best value (its Figure 3); ``temperature`` is eq. 1's."""
    _check_pair("query", query, "other", other)
    if query.shape[1] != other.shape[1]:
        raise ValueError(
            f"query has {query.shape[1]} tokens and other {other.shape[1]}: eq. 3 adds A(query) "
            f"(N x N) to J (N x M), so both modalities need the same grid (N = M)"
        )
    _check_range("alpha", alpha, 0.0, 1.0, open_low=False)
    J = tanimoto_distance(query, other)  # (B, N, N)
    A = within_modality_attention(query, temperature)  # (B, N, N)
    return alpha * (1.0 - J) + (1.0 - alpha) * A


def exchanged_count(tokens: int, top_r: float) -> int:
    """How many of ``tokens`` patch tokens the hard exchange changes: round(top_r * tokens),
    halves rounded up, at least 1."""
    return max(1, math.floor(top_r * tokens + 0.5))


def hard_matching(scores: Tensor, top_r: float) -> Tensor:
    """The hard exchange's weights: scores S (B, N, M) -> (B, N, M) with a single 1 at
    argmax_j S_ij in the rows of the ``exchanged_count(N, top_r)`` tokens whose best score is
    highest, and rows of zeros for the others (they take nothing)."""
    if scores.dim() != 3:
        raise ValueError(f"scores: expected (B, N, M), got {tuple(scores.shape)}")
    _check_range("top_r", top_r, 0.0, 1.0, open_low=True)
    best, partner = scores.max(dim=-1)  # (B, N) each: best score and its column
    k = exchanged_count(scores.shape[1], top_r)
    chosen = best.topk(k, dim=-1).indices  # (B, k): the rows that exchange
    rows = torch.zeros_like(best).scatter_(1, chosen, 1.0)  # (B, N): 1 on chosen rows
    one_hot = torch.zeros_like(scores).scatter_(2, partner.unsqueeze(-1), 1.0)  # (B, N, M)
    return one_hot * rows.unsqueeze(-1)


class SimilarityExchange(nn.Module):
    """Exchange patch tokens between a visible and an infrared stream (eq. 1-3 and the soft or
    hard exchange above). No learnable parameters.

    ``direction``: ``"i2v"`` - infrared tokens receive visible tokens,
    F̄_I = F_I + beta W_{I->V} F_V, visible unchanged; ``"v2i"`` - visible tokens receive
    infrared ones; ``"both"`` - both, each computed from the other's tokens *before* the
    exchange (the paper's three ablation rows). ``mode``: ``"soft"`` W = softmax(S / tau), or
    ``"hard"`` (``hard_matching``: one-hot argmax rows for the top-r fraction of tokens; the
    gradient then reaches the tokens but not the choice).

    Defaults, which the paper does not give:

    * ``beta = 0.5``: the received part enters at half the weight of the token's own feature, so
      each stream stays modality-specific (its token keeps the larger share) while the mixed
      part is large enough for the next block and the losses to feel; beta = 0 switches SE off.
    * ``tau = 0.1``: S lies in [-alpha/3, 1] (J in [0, 4/3], A in [0, 1]), a span of about 1.
      With tau = 1 the softmax weights could differ by a factor e^(4/3) at most: every token
      would receive nearly the mean of all the other modality's tokens, not its partners.
      tau = 0.1 turns a difference of 0.1 in S into a factor e, so the weights concentrate on
      the best-matching tokens while staying smooth and differentiable.
    * ``top_r = 0.5`` (hard mode only): the better-matched half of the tokens exchange, which
      leaves the worst-matched ones (often background) alone.
    * ``alpha = 0.7``: the paper's (its Figure 3); ``temperature = 1``: eq. 1's, see the module
      docstring.
    """

    def __init__(
        self,
        direction: Direction = "both",
        mode: Mode = "soft",
        alpha: float = 0.7,
        beta: float = 0.5,
        tau: float = 0.1,
        top_r: float = 0.5,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        _check_range("alpha", alpha, 0.0, 1.0, open_low=False)
        _check_range("beta", beta, 0.0, math.inf, open_low=False)
        _check_range("tau", tau, 0.0, math.inf, open_low=True)
        _check_range("top_r", top_r, 0.0, 1.0, open_low=True)
        _check_range("temperature", temperature, 0.0, math.inf, open_low=True)
        self.direction, self.mode = direction, mode
        self.alpha, self.beta, self.tau = alpha, beta, tau
        self.top_r, self.temperature = top_r, temperature

    def weights(self, query: Tensor, other: Tensor) -> Tensor:
        """The matching weights W (B, N, N) with which patch tokens ``query`` (B, N, D) take in
        the patch tokens ``other`` (B, N, D): softmax(S / tau) (soft) or ``hard_matching``."""
        scores = matching_weights(query, other, self.alpha, self.temperature)  # (B, N, N)
        if self.mode == "soft":
            return (scores / self.tau).softmax(dim=-1)
        return hard_matching(scores, self.top_r)

    def receive(self, receiver: Tensor, giver: Tensor) -> tuple[Tensor, Tensor]:
        """One direction: tokens (B, 1+N, D) of the receiving stream take in the giving stream's
        patch tokens. Returns (the mixed tokens (B, 1+N, D) with the CLS untouched, W)."""
        patches, other = receiver[:, 1:], giver[:, 1:]  # (B, N, D) each: CLS left out
        W = self.weights(patches, other)  # (B, N, N)
        received = W.to(other.dtype) @ other  # (B, N, D)
        mixed = patches + self.beta * received  # (B, N, D)
        return torch.cat([receiver[:, :1], mixed], dim=1), W  # (B, 1+N, D)

    def forward(
        self, visible: Tensor, infrared: Tensor, return_weights: bool = False
    ) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, dict[str, Tensor | None]]:
        """Visible and infrared tokens, each (B, 1+N, D) with the CLS token first ->
        (visible_mixed, infrared_mixed), each (B, 1+N, D); with ``return_weights`` also
        {"i2v": W_{I->V} (B, N, N) or None, "v2i": W_{V->I} or None}, None for a direction that
        is off. Row i of W_{I->V} is how much infrared patch i takes from each visible patch."""
        for name, x in (("visible", visible), ("infrared", infrared)):
            if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] < 2:
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(
                    f"{name}: expected tokens (B, 1+N, D), the CLS token first and N >= 1 "
                    f"patch tokens, got {shape}"
                )
        if visible.shape != infrared.shape:
            raise ValueError(
                f"visible {tuple(visible.shape)} and infrared {tuple(infrared.shape)}: expected "
                f"the same (B, 1+N, D), two ViTs of equal shape on images of the same size"
            )
        weights: dict[str, Tensor | None] = {"i2v": None, "v2i": None}
        visible_out, infrared_out = visible, infrared
        if self.direction in ("i2v", "both"):
            infrared_out, weights["i2v"] = self.receive(infrared, visible)
        if self.direction in ("v2i", "both"):
            visible_out, weights["v2i"] = self.receive(visible, infrared)
        if return_weights:
            return visible_out, infrared_out, weights
        return visible_out, infrared_out

    def extra_repr(self) -> str:
        hard = f", top_r={self.top_r}" if self.mode == "hard" else ""
        return (
            f"direction={self.direction!r}, mode={self.mode!r}, alpha={self.alpha}, "
            f"beta={self.beta}, tau={self.tau}{hard}, temperature={self.temperature}"
        )
