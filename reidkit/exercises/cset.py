"""Chapter 11 exercises: the distillation term, routing images to their modality's stream, and
normalising the mixed features without touching BatchNorm's running statistics, checked
against ``reidkit.losses.cosine_distillation`` and ``reidkit.models.cset``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from reidkit.exercises.checking import Case, CheckResult, generator, keep_random_state, run_check


def _with_teacher_gradient(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable:
    """Call ``fn(student, teacher)`` on copies that require gradients; return the loss and the
    gradient that reached the teacher (zeros when none did)."""

    def run(student: Tensor, teacher: Tensor) -> dict[str, Tensor]:
        student, teacher = student.clone().requires_grad_(), teacher.clone().requires_grad_()
        loss = fn(student, teacher)
        loss.backward()
        reached = torch.zeros_like(teacher) if teacher.grad is None else teacher.grad
        return {"loss": loss.detach(), "teacher_gradient": reached}

    return run


def check_cosine_distillation(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(student, teacher)``, both (B, D), returns the mean over the batch of
    ``1 - cos(student_b, teacher_b)``, and no gradient reaches the teacher."""
    from reidkit.losses import cosine_distillation

    g = generator(0)
    teacher = torch.randn(3, 6, generator=g)
    cases = [
        Case("4 random pairs of 8 numbers", tuple(torch.randn(2, 4, 8, generator=g))),
        Case("the student 3 x the teacher: distance 0", (3 * teacher, teacher)),
        Case("opposite features: distance 2", (-teacher, teacher)),
        Case("one pair of 16 numbers", tuple(torch.randn(2, 1, 16, generator=g))),
    ]
    return run_check(
        "cosine_distillation",
        _with_teacher_gradient(fn),
        _with_teacher_gradient(cosine_distillation),
        cases,
        "reidkit.losses.cosine_distillation",
    )


def reference_route_by_modality(
    images: Tensor, modalities: Tensor, visible: nn.Module, infrared: nn.Module
) -> Tensor:
    from reidkit.models.cset import in_batch_order

    rows = [(modalities == m).nonzero().flatten() for m in (0, 1)]
    kept = [(r, f) for r, f in zip(rows, (visible, infrared)) if len(r)]
    with torch.no_grad():
        return in_batch_order([f(images[r]) for r, f in kept], [r for r, _ in kept])


def _streams(seed: int) -> list[nn.Module]:
    """Four stand-in streams: (B, 3, 4, 2) images -> (B, 5) features."""
    with keep_random_state():
        torch.manual_seed(seed)
        return [nn.Sequential(nn.Flatten(), nn.Linear(24, 5)) for _ in range(4)]


def check_route_by_modality(
    fn: Callable[[Tensor, Tensor, nn.Module, nn.Module], Tensor],
) -> CheckResult:
    """``fn(images, modalities, visible, infrared)`` returns (B, D) features in batch order:
    row b is ``visible(images[b])`` where ``modalities[b] == 0`` and ``infrared(images[b])``
    where it is 1 (each stream called on its own rows)."""
    g = generator(1)
    orders = {
        "visible first, then infrared": [0, 0, 0, 1, 1, 1],
        "interleaved": [0, 1, 1, 0, 1, 0],
        "infrared first": [1, 1, 0, 0],
        "infrared images only": [1, 1, 1],
    }
    cases = [
        Case(words, (torch.randn(len(m), 3, 4, 2, generator=g), torch.tensor(m), *streams))
        for words, m, streams in zip(orders, orders.values(), zip(_streams(0), _streams(1)))
    ]
    return run_check(
        "route_by_modality",
        fn,
        reference_route_by_modality,
        cases,
        "reidkit.models.cset.CSET.forward_features",
    )


def _normalised_and_statistics(fn: Callable[[nn.BatchNorm1d, Tensor], Tensor]) -> Callable:
    def run(bn: nn.BatchNorm1d, features: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            normalised = fn(bn, features)
        return {
            "normalised": normalised,
            "running_mean": bn.running_mean.clone(),
            "running_var": bn.running_var.clone(),
        }

    return run


def _batch_norm(dim: int, seed: int) -> nn.BatchNorm1d:
    g = generator(seed)
    bn = nn.BatchNorm1d(dim)
    with torch.no_grad():
        bn.weight.copy_(1 + 0.5 * torch.randn(dim, generator=g))
        bn.bias.copy_(0.1 * torch.randn(dim, generator=g))
        bn.running_mean.copy_(torch.randn(dim, generator=g))
        bn.running_var.copy_(torch.rand(dim, generator=g) + 0.5)
    return bn.train()


def check_batch_statistics_norm(fn: Callable[[nn.BatchNorm1d, Tensor], Tensor]) -> CheckResult:
    """``fn(bn, features)`` normalises features (B, D) with this batch's mean and (biased)
    variance and ``bn``'s weight and bias, and leaves ``bn``'s running statistics as they were
    (the mixed features of CSET never occur at test)."""
    from reidkit.models.cset import batch_statistics_norm

    g = generator(2)
    cases = [
        Case("8 features of 6 numbers", (_batch_norm(6, 3), torch.randn(8, 6, generator=g))),
        Case("2 features, far from zero", (_batch_norm(4, 4), 5 + torch.randn(2, 4, generator=g))),
        Case("16 features of 32 numbers", (_batch_norm(32, 5), torch.randn(16, 32, generator=g))),
    ]
    return run_check(
        "batch_statistics_norm",
        _normalised_and_statistics(fn),
        _normalised_and_statistics(batch_statistics_norm),
        cases,
        "reidkit.models.cset.batch_statistics_norm",
    )
