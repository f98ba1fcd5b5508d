"""Chapter 13 exercises: ACSA's image regions, SCAN's attention weights and the tokens of a
phrase, checked against ``reidkit.models.acsa`` and ``reidkit.data.phrases``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def check_region_features(fn: Callable[[Tensor, tuple[int, int]], Tensor]) -> CheckResult:
    """``fn(tokens, grid)``: tokens (B, 1 + h*w, D), the CLS token first and the patches
    row-major on an (h, w) grid -> regions (B, 10, D): the patches averaged into 2 x 1 cells
    (upper, lower), then into 4 x 2 cells, each scale's cells row-major."""
    from reidkit.models.acsa import region_features

    g = generator(0)
    cases = [
        Case("a 4 x 2 grid, one image", (torch.randn(1, 9, 3, generator=g), (4, 2))),
        Case("an 8 x 4 grid, two images", (torch.randn(2, 33, 5, generator=g), (8, 4))),
        Case(
            "a large CLS token (it must be left out)",
            (
                torch.cat([torch.full((1, 1, 2), 1e3), torch.randn(1, 32, 2, generator=g)], 1),
                (8, 4),
            ),
        ),
    ]
    return run_check(
        "region_features",
        fn,
        lambda tokens, grid: region_features(tokens, grid),
        cases,
        "reidkit.models.acsa.region_features",
        atol=1e-5,
    )


def check_scan_attention(fn: Callable[[Tensor, Tensor, float], Tensor]) -> CheckResult:
    """``fn(queries, keys, lam)``: unit queries (Q, E) and keys (K, E) -> SCAN's weights (Q, K):
    s = LeakyReLU_0.1(queries @ keys.T), each key's column of s divided by its L2 norm over the
    queries, then softmax over the keys of lam x that, one row per query."""
    from reidkit.models.acsa import scan_attention

    def library(queries: Tensor, keys: Tensor, lam: float) -> Tensor:
        return scan_attention(F.leaky_relu(queries @ keys.T, 0.1), lam)

    g = generator(0)

    def unit(*shape: int) -> Tensor:
        return F.normalize(torch.randn(*shape, generator=g), dim=-1)

    cases = [
        Case("3 phrases over 10 regions, lambda 20", (unit(3, 8), unit(10, 8), 20.0)),
        Case("10 regions over 3 phrases, lambda 20", (unit(10, 8), unit(3, 8), 20.0)),
        Case("one query (its norm is its own |s|), lambda 4", (unit(1, 4), unit(5, 4), 4.0)),
        Case("5 queries over 6 keys, lambda 1", (unit(5, 16), unit(6, 16), 1.0)),
    ]
    return run_check(
        "scan_attention", fn, library, cases, "reidkit.models.acsa.scan_attention", atol=1e-5
    )


def check_phrase_token_mask(
    fn: Callable[[Sequence[tuple[int, int]], Sequence[tuple[int, int, str]], int], Tensor],
) -> CheckResult:
    """``fn(offsets, spans, length)``: each token's character span (start, end) (special
    tokens (0, 0)), the phrases' (start, end, text) and the padded length L -> (P, L) float of
    1 where token t overlaps phrase k's characters, 0 elsewhere (padding too)."""
    from reidkit.data.phrases import phrase_token_mask

    caption = "a red coat and blue jeans"
    # [CLS] a red coat and blue jeans [SEP]
    offsets = [(0, 0), (0, 1), (2, 5), (6, 10), (11, 14), (15, 19), (20, 25), (0, 0)]
    spans = [(0, 10, caption[0:10]), (15, 25, caption[15:25])]
    # "jacket" in pieces: [CLS] a jack ##et [SEP]
    pieces = [(0, 0), (0, 1), (2, 6), (6, 8), (0, 0)]
    # "a red-coat": [CLS] a red - coat [SEP]; the phrases "red" and "coat" touch the hyphen
    hyphen = [(0, 0), (0, 1), (2, 5), (5, 6), (6, 10), (0, 0)]
    hyphen_spans = [(2, 5, "red"), (6, 10, "coat")]
    cases = [
        Case("two phrases, no padding", (offsets, spans, 8)),
        Case("two phrases, two padding positions", (offsets, spans, 10)),
        Case("a word in two pieces", (pieces, [(2, 8, "jacket")], 5)),
        Case("'red-coat': the hyphen touches both phrases", (hyphen, hyphen_spans, 6)),
    ]
    return run_check(
        "phrase_token_mask",
        fn,
        phrase_token_mask,
        cases,
        "reidkit.data.phrases.phrase_token_mask",
    )
