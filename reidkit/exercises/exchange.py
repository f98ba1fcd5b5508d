"""Chapter 9 exercises: the Tanimoto distance (eq. 2), the matching weights (eq. 3) and the soft
and hard exchanges, checked against ``reidkit.models.exchange``."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def _tokens(g: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    return torch.randn(*shape, generator=g) * scale


def reference_tanimoto_distance(a: Tensor, b: Tensor) -> Tensor:
    from reidkit.models.exchange import tanimoto_distance

    return tanimoto_distance(a, b)


def check_tanimoto_distance(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(a, b)`` returns eq. 2's distance J (B, N, M) between every token of a (B, N, D) and
    every token of b (B, M, D): J_ij = 1 - a_i.b_j / (|a_i|^2 + |b_j|^2 - a_i.b_j)."""
    g = generator(0)
    a = _tokens(g, 2, 4, 8)
    cases = [
        Case("two images, 4 and 5 tokens of 8 numbers", (a, _tokens(g, 2, 5, 8))),
        Case("a set against itself: J_ii = 0", (a, a.clone())),
        Case("opposite tokens: J = 4/3", (a, -a)),
        Case("the same directions at twice the length: J = 1/3", (a, 2 * a)),
        Case(
            "large tokens, as a trained ViT's",
            (_tokens(g, 1, 6, 16, scale=20.0), _tokens(g, 1, 3, 16, scale=20.0)),
        ),
    ]
    return run_check(
        "tanimoto_distance",
        fn,
        reference_tanimoto_distance,
        cases,
        "reidkit.models.exchange.tanimoto_distance",
        atol=1e-5,
    )


def reference_matching_weights(
    query: Tensor, other: Tensor, alpha: float, temperature: float
) -> Tensor:
    from reidkit.models.exchange import matching_weights

    return matching_weights(query, other, alpha, temperature)


def check_matching_weights(fn: Callable[[Tensor, Tensor, float, float], Tensor]) -> CheckResult:
    """``fn(query, other, alpha, temperature)`` returns eq. 3's S (B, N, N) for patch tokens
    query and other (B, N, D) on one grid: alpha (1 - J(query, other)) + (1 - alpha) A(query),
    with A = softmax(query query^T / (sqrt(D) * temperature)) over the last dimension."""
    g = generator(1)
    q, o = _tokens(g, 2, 6, 8), _tokens(g, 2, 6, 8)
    cases = [
        Case("the paper's alpha = 0.7", (q, o, 0.7, 1.0)),
        Case("alpha = 0: within-modality attention only", (q, o, 0.0, 1.0)),
        Case("alpha = 1: Tanimoto similarity only", (q, o, 1.0, 1.0)),
        Case(
            "alpha = 0.5, temperature 0.5, 32 numbers per token",
            (_tokens(g, 1, 4, 32), _tokens(g, 1, 4, 32), 0.5, 0.5),
        ),
    ]
    return run_check(
        "matching_weights",
        fn,
        reference_matching_weights,
        cases,
        "reidkit.models.exchange.matching_weights",
        atol=1e-5,
    )


def _with_cls(g: torch.Generator, B: int, N: int, D: int) -> Tensor:
    return _tokens(g, B, 1 + N, D)  # (B, 1+N, D): token 0 plays the CLS token


def exchange_cases(seed: int, last: tuple) -> list[Case]:
    """Receiver and giver tokens (B, 1+N, D) with the exchange's settings as the last args."""
    g = generator(seed)
    receiver, giver = _with_cls(g, 2, 8, 16), _with_cls(g, 2, 8, 16)
    odd = _with_cls(g, 1, 5, 8), _with_cls(g, 1, 5, 8)
    loud = receiver.clone()
    loud[:, 0] = 50.0  # a CLS token far from every patch token
    return [
        Case("two pairs, 8 patches of 16 numbers", (receiver, giver, *last[0])),
        Case("one pair, 5 patches, other settings", (*odd, *last[1])),
        Case("a CLS token far from every patch", (loud, giver, *last[0])),
    ]


def reference_exchange(
    mode: str, receiver: Tensor, giver: Tensor, alpha: float, beta: float, setting: float
) -> Tensor:
    """The library's exchange of ``mode`` in one direction; ``setting`` is tau (soft) or top_r
    (hard)."""
    from reidkit.models.exchange import SimilarityExchange

    option = {"tau": setting} if mode == "soft" else {"top_r": setting}
    exchange = SimilarityExchange("i2v", mode, alpha=alpha, beta=beta, **option)
    return exchange.receive(receiver, giver)[0]


def check_soft_exchange(fn: Callable[[Tensor, Tensor, float, float, float], Tensor]) -> CheckResult:
    """``fn(receiver, giver, alpha, beta, tau)``: tokens (B, 1+N, D) of two modalities, CLS
    first. Return the receiver's tokens (B, 1+N, D) after the soft exchange: its patch tokens
    F become F + beta softmax(S / tau) G, with G the giver's patch tokens and S =
    ``matching_weights(F, G, alpha)``; the CLS token is neither matched nor changed."""
    cases = exchange_cases(2, ((0.7, 0.5, 0.1), (0.3, 1.0, 0.5)))
    return run_check(
        "soft_exchange",
        fn,
        functools.partial(reference_exchange, "soft"),
        cases,
        "reidkit.models.exchange.SimilarityExchange (mode='soft')",
        atol=1e-5,
    )


def check_hard_exchange(fn: Callable[[Tensor, Tensor, float, float, float], Tensor]) -> CheckResult:
    """``fn(receiver, giver, alpha, beta, top_r)``: as ``check_soft_exchange``, but only the
    k = round(top_r * N) patch tokens (halves up, at least 1) whose best score max_j S_ij is
    highest exchange, each taking its argmax partner: F_i + beta G_{argmax_j S_ij}; the other
    patch tokens and the CLS token stay as they are."""
    cases = exchange_cases(3, ((0.7, 0.5, 0.5), (0.7, 1.0, 0.2)))
    cases.append(Case("every token exchanges (top_r = 1)", (*cases[0].args[:2], 0.7, 0.5, 1.0)))
    return run_check(
        "hard_exchange",
        fn,
        functools.partial(reference_exchange, "hard"),
        cases,
        "reidkit.models.exchange.SimilarityExchange (mode='hard')",
        atol=1e-5,
    )
