"""Chapter 8 exercises: the center loss, the adaptive-weight triplet's weighted distances and its
hinge (eq. 15), checked against ``reidkit.losses``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.baseline import triplet_cases
from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def center_cases(seed: int) -> list[Case]:
    g = generator(seed)
    return [
        Case(
            "8 features, 3 classes",
            (
                torch.randn(8, 4, generator=g),
                torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]),
                torch.randn(3, 4, generator=g),
            ),
        ),
        Case(
            "by hand: (1, 0) and (0, 2) around the origin -> (1 + 4) / 4",
            (torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]), torch.zeros(1, 2)),
        ),
        Case(
            "a class with no feature in the batch",
            (
                torch.randn(5, 3, generator=g),
                torch.tensor([0, 0, 2, 2, 2]),
                torch.randn(4, 3, generator=g),
            ),
        ),
        Case(
            "features on their centers: 0",
            (torch.eye(3), torch.tensor([2, 0, 1]), torch.eye(3)[[1, 2, 0]]),
        ),
    ]


def check_center_loss(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(features, labels, centers)`` returns the center loss of (B, D) features with labels
    (B,) and one center per class (C, D): ``1/(2B) sum_i |f_i - c_{y_i}|^2`` (note the 1/2)."""
    from reidkit.losses import center_loss

    return run_check("center_loss", fn, center_loss, center_cases(0), "reidkit.losses.center_loss")


def reference_weighted_distances(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    from reidkit.losses import weighted_triplet

    _, d_p, d_n = weighted_triplet(features, labels)
    return d_p, d_n


def check_weighted_distances(fn: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]) -> CheckResult:
    """``fn(features, labels)`` returns ``(d_p, d_n)``, each (B,): for every anchor, the
    softmax(d)-weighted mean of its Euclidean distances to its positives (same label, not
    itself; far positives weigh more) and the softmax(-d)-weighted mean of its distances to its
    negatives (near negatives weigh more). An anchor without positives has ``d_p = 0``, one
    without negatives ``d_n = 0``."""
    cases = [Case(c.description, c.args[:2]) for c in triplet_cases(1)]
    return run_check(
        "weighted_distances",
        fn,
        reference_weighted_distances,
        cases,
        "reidkit.losses.weighted_triplet (its d_p, d_n)",
        atol=1e-3,  # the library squares and subtracts: ~1e-4 off at close points
    )


def reference_adaptive_triplet(features: Tensor, labels: Tensor, margin: float) -> Tensor:
    from reidkit.losses import weighted_triplet

    return weighted_triplet(features, labels, margin)[0]


def check_adaptive_triplet(fn: Callable[[Tensor, Tensor, float], Tensor]) -> CheckResult:
    """``fn(features, labels, margin)`` returns the adaptive-weight triplet of eq. 15 read with
    the hinge: ``max(0, d_p - d_n + margin)`` per anchor (``d_p``, ``d_n`` the weighted
    distances of :func:`check_weighted_distances`), averaged over the anchors that have both a
    positive and a negative."""
    return run_check(
        "adaptive_triplet",
        fn,
        reference_adaptive_triplet,
        triplet_cases(2),
        "reidkit.losses.weighted_triplet (margin = alpha)",
        atol=1e-3,  # the library squares and subtracts: ~1e-4 off at close points
    )
