"""Chapter 0 exercises: reproducibility, the profile switch and distance matrices."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from unittest import mock

import numpy as np
import torch

from reidkit.exercises.checking import Case, CheckResult, generator, run_check

SEEDS = (0, 1, 42, 2**32 + 7)  # the last is beyond what NumPy's global seed accepts


def draws_after(seeder: Callable[[int], object]) -> Callable[[int], dict[str, object]]:
    """A function that seeds with ``seeder``, then draws from Python, NumPy and torch."""

    def draw(seed: int) -> dict[str, object]:
        seeder(seed)
        return {
            "random": [random.random() for _ in range(3)],
            "numpy": np.random.rand(3),  # noqa: NPY002 - the global RNG is what is seeded
            "torch": torch.rand(3),
        }

    return draw


def check_seed_everything(fn: Callable[[int], object]) -> CheckResult:
    """``fn(seed)`` must seed Python's ``random``, NumPy's global RNG and torch so that what
    they draw next is what they draw after ``reidkit.utils.seed_everything(seed)``. NumPy's
    global seed must be below 2**32: fold larger seeds into that range (``seed % 2**32``).
    The random states are put back afterwards."""
    from reidkit.utils import seed_everything

    return run_check(
        "seed_everything",
        draws_after(fn),
        draws_after(seed_everything),
        [Case(f"seed {seed}", (seed,)) for seed in SEEDS],
        "reidkit.utils.seed_everything",
    )


def reference_choose_profile(environment: dict[str, str], cuda: bool) -> str:
    """The profile reidkit picks in ``environment`` on a machine with or without CUDA."""
    from reidkit import profiles

    with (
        mock.patch.dict(os.environ, environment, clear=True),
        mock.patch.object(profiles, "_cuda_available", return_value=cuda),
    ):
        return profiles.get_profile().name


PROFILE_CASES = (
    Case("nothing set, no GPU", ({}, False)),
    Case("nothing set, a GPU", ({}, True)),
    Case("CI set, a GPU", ({"CI": "true"}, True)),
    Case("CI set but empty, a GPU", ({"CI": ""}, True)),
    Case("REIDKIT_PROFILE=full, no GPU", ({"REIDKIT_PROFILE": "full"}, False)),
    Case("REIDKIT_PROFILE=' Quick' and CI", ({"REIDKIT_PROFILE": " Quick", "CI": "1"}, True)),
    Case("REIDKIT_PROFILE empty, no GPU", ({"REIDKIT_PROFILE": ""}, False)),
)


def check_choose_profile(fn: Callable[[dict[str, str], bool], str]) -> CheckResult:
    """``fn(environment, cuda)`` returns the name of the profile reidkit uses when the
    environment variables are ``environment`` (a dict) and a GPU is (``cuda=True``) or is not
    there: ``REIDKIT_PROFILE`` when set (any case, spaces ignored), else ``smoke`` when ``CI``
    is set (non-empty), else ``full`` with a GPU and ``quick`` without."""
    return run_check(
        "choose_profile",
        fn,
        reference_choose_profile,
        PROFILE_CASES,
        "reidkit.profiles.get_profile",
    )


def distance_cases(seed: int) -> list[Case]:
    g = generator(seed)
    twins = torch.randn(3, 5, generator=g) * 0.5
    return [
        Case(
            "x (4, 3), y (5, 3)", (torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g))
        ),
        Case("one row each", (torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g))),
        Case("x equals y: zero diagonal", (twins, twins.clone())),
        Case(
            "large values (16 dimensions, scale 50)",
            (50 * torch.randn(6, 16, generator=g), 50 * torch.randn(3, 16, generator=g)),
        ),
    ]


def check_pairwise_euclidean(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """``fn(x, y)`` takes (N, D) and (M, D) tensors and returns the (N, M) matrix of Euclidean
    distances between their rows, as ``reidkit.losses.pairwise_euclidean`` does (hint:
    broadcast ``x[:, None, :] - y[None, :, :]``, or expand ``|a - b|^2``)."""
    from reidkit.losses import pairwise_euclidean

    return run_check(
        "pairwise_euclidean",
        fn,
        pairwise_euclidean,
        distance_cases(0),
        "reidkit.losses.pairwise_euclidean",
        atol=2e-3,  # the library's |a|^2 + |b|^2 - 2ab form loses digits near zero
    )
