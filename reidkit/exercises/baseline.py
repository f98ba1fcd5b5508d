"""Chapter 4 exercises: the baseline's losses and its BNNeck, checked against the library."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def smoothing_cases(seed: int) -> list[Case]:
    g = generator(seed)
    return [
        Case(
            "8 samples, 5 classes, epsilon 0.1",
            (torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g), 0.1),
        ),
        Case(
            "epsilon 0: plain cross-entropy",
            (torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 2]), 0.0),
        ),
        Case(
            "two classes, epsilon 0.3",
            (torch.randn(6, 2, generator=g), torch.tensor([0, 1, 1, 0, 0, 1]), 0.3),
        ),
        Case("one sample", (torch.randn(1, 7, generator=g), torch.tensor([6]), 0.1)),
        Case(
            "large logits (exp overflows)",
            (torch.tensor([[200.0, 0.0, -50.0], [0.0, 300.0, 10.0]]), torch.tensor([0, 2]), 0.1),
        ),
    ]


def check_label_smoothing_ce(fn: Callable[[Tensor, Tensor, float], Tensor]) -> CheckResult:
    """``fn(logits, targets, epsilon)`` returns the label-smoothed cross-entropy of (B, C) logits
    and (B,) class indices, averaged over the batch: the target distribution puts
    ``1 - epsilon + epsilon / C`` on the true class and ``epsilon / C`` on every other class.
    Use ``log_softmax``: the last case has logits that overflow ``exp``."""
    from reidkit.losses import label_smoothing_cross_entropy

    return run_check(
        "label_smoothing_ce",
        fn,
        label_smoothing_cross_entropy,
        smoothing_cases(0),
        "reidkit.losses.label_smoothing_cross_entropy",
    )


def triplet_cases(seed: int) -> list[Case]:
    g = generator(seed)
    line = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    return [
        Case(
            "16 features, 4 identities",
            (torch.randn(16, 8, generator=g), torch.arange(4).repeat(4), 0.3),
        ),
        Case(
            "chapter 4's line: 0, 1, 3 (id 0) and 5 (id 1)", (line, torch.tensor([0, 0, 0, 1]), 0.3)
        ),
        Case(
            "an identity with one image (no positive)",
            (torch.randn(7, 4, generator=g), torch.tensor([0, 0, 1, 1, 2, 2, 3]), 0.5),
        ),
        Case(
            "well separated: every hinge is 0",
            (torch.tensor([[0.0], [0.1], [10.0], [10.1]]), torch.tensor([0, 0, 1, 1]), 0.3),
        ),
        Case("margin 1", (torch.randn(12, 6, generator=g), torch.arange(3).repeat(4), 1.0)),
    ]


def check_batch_hard_triplet(fn: Callable[[Tensor, Tensor, float], Tensor]) -> CheckResult:
    """``fn(features, labels, margin)`` returns the batch-hard triplet loss of (B, D) features:
    for each anchor, its farthest positive (same label, not itself) and nearest negative in
    Euclidean distance, ``max(0, d_pos - d_neg + margin)``, averaged over the anchors that
    have both a positive and a negative."""
    from reidkit.losses import batch_hard_triplet

    return run_check(
        "batch_hard_triplet",
        fn,
        batch_hard_triplet,
        triplet_cases(0),
        "reidkit.losses.batch_hard_triplet",
    )


def reference_weighted_triplet(features: Tensor, labels: Tensor) -> Tensor:
    from reidkit.losses import weighted_triplet

    return weighted_triplet(features, labels)[0]


def check_weighted_triplet(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(features, labels)`` returns the weighted regularisation triplet loss (soft margin):
    per anchor, ``d_p`` = the softmax(d)-weighted mean distance to its positives (not itself),
    ``d_n`` = the softmax(-d)-weighted mean distance to its negatives, the loss
    ``log(1 + exp(d_p - d_n))``, averaged over the anchors that have both."""
    cases = [Case(c.description, c.args[:2]) for c in triplet_cases(0)]
    return run_check(
        "weighted_triplet",
        fn,
        reference_weighted_triplet,
        cases,
        "reidkit.losses.weighted_triplet",
    )


def reference_bnneck(features: Tensor, neck) -> Tensor:
    with torch.no_grad():
        return copy.deepcopy(neck)(features)


def bnneck_cases(seed: int) -> list[Case]:
    from reidkit.models.baseline import BNNeck

    g = generator(seed)

    def neck(dim: int, training: bool) -> BNNeck:
        module = BNNeck(dim, num_classes=0)  # no classifier: nothing drawn at random
        with torch.no_grad():
            module.bn.weight.copy_(1 + torch.rand(dim, generator=g))
            module.bn.running_mean.copy_(torch.randn(dim, generator=g))
            module.bn.running_var.copy_(0.5 + torch.rand(dim, generator=g))
        return module.train(training)

    return [
        Case(
            "evaluation mode: running statistics", (torch.randn(5, 6, generator=g), neck(6, False))
        ),
        Case(
            "training mode: the batch's statistics",
            (3 + torch.randn(8, 4, generator=g), neck(4, True)),
        ),
        Case("training mode, a batch of two", (torch.randn(2, 3, generator=g), neck(3, True))),
        Case("evaluation mode, one feature", (torch.randn(1, 5, generator=g), neck(5, False))),
    ]


def check_bnneck(fn: Callable[..., Tensor]) -> CheckResult:
    """``fn(features, neck)`` returns the retrieval embedding a ``BNNeck`` makes of (B, D)
    features, computed by hand from ``neck.bn``: ``(f - mean) / sqrt(var + eps) * weight +
    bias``, with the running statistics in evaluation mode (``neck.training`` False) and the
    batch's own mean and biased variance in training mode."""
    return run_check(
        "bnneck",
        fn,
        reference_bnneck,
        bnneck_cases(0),
        "reidkit.models.baseline.BNNeck",
    )
