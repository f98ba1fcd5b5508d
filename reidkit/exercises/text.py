"""Chapter 12 exercises: the identity-match distribution, SDM and the masked mean pooling of a
text encoder, checked against ``reidkit.losses`` and ``reidkit.models.text_encoder``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def check_match_distribution(fn: Callable[[Tensor], Tensor]) -> CheckResult:
    """``fn(labels)`` returns q (B, B): row i spreads 1 evenly over the items j with
    ``labels[j] == labels[i]`` (itself included), 0 elsewhere."""
    from reidkit.losses import match_distribution

    cases = [
        Case("four different people", (torch.tensor([0, 1, 2, 3]),)),
        Case("two people, two items each", (torch.tensor([5, 5, 9, 9]),)),
        Case("one person three times, one once", (torch.tensor([2, 7, 2, 2]),)),
        Case("a P x K batch, P = 3, K = 2", (torch.tensor([0, 0, 4, 4, 1, 1]),)),
    ]
    return run_check(
        "match_distribution", fn, match_distribution, cases, "reidkit.losses.match_distribution"
    )


def check_sdm_loss(fn: Callable[[Tensor, Tensor, Tensor, float], Tensor]) -> CheckResult:
    """``fn(image, text, labels, temperature)`` returns IRRA's SDM: the KL divergence (with
    eps = 1e-8 inside the log of q) from softmax(cos(image_i, text_j) / temperature) over j to
    the identity-match distribution q, averaged over i, plus the same for text -> image."""
    from reidkit.losses import sdm_loss

    g = generator(0)
    same = torch.randn(4, 8, generator=g)
    cases = [
        Case(
            "4 pairs of different people, tau 0.02",
            (*torch.randn(2, 4, 8, generator=g), torch.arange(4), 0.02),
        ),
        Case(
            "a P x K batch (3 people x 2), tau 0.1",
            (*torch.randn(2, 6, 16, generator=g), torch.tensor([0, 0, 1, 1, 2, 2]), 0.1),
        ),
        Case("text = 3 x image: only the norm differs", (same, 3 * same, torch.arange(4), 0.05)),
        Case(
            "everyone the same person, tau 1",
            (*torch.randn(2, 3, 5, generator=g), torch.zeros(3, dtype=torch.long), 1.0),
        ),
    ]
    return run_check("sdm_loss", fn, sdm_loss, cases, "reidkit.losses.sdm_loss", atol=1e-4)


def check_masked_mean(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(tokens, mask)`` with tokens (B, L, D) and mask (B, L) of 1 (a real token) and 0
    (padding) returns (B, D): the mean of each caption's real tokens only."""
    from reidkit.models.text_encoder import masked_mean

    g = generator(0)
    ragged = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    cases = [
        Case("no padding", (torch.randn(2, 4, 3, generator=g), torch.ones(2, 4, dtype=torch.long))),
        Case("three captions of 3, 5 and 1 tokens", (torch.randn(3, 5, 6, generator=g), ragged)),
        Case(
            "padding positions hold large numbers",
            (torch.randn(3, 5, 2, generator=g) + 100 * (1 - ragged)[..., None], ragged),
        ),
    ]
    return run_check(
        "masked_mean", fn, masked_mean, cases, "reidkit.models.text_encoder.masked_mean"
    )
