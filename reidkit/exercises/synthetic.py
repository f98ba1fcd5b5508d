"""Chapter 1 exercises: from a synthetic image to the model's input and back, and the
raw-pixel retrieval numbers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def _noise_image(rng: np.random.Generator, height: int, width: int, grey: bool = False):
    pixels = rng.integers(0, 256, (height, width, 1 if grey else 3), dtype=np.uint8)
    return Image.fromarray(np.repeat(pixels, 3, axis=2) if grey else pixels)


def model_input_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [
        Case("a 64x32 image, kept at 64x32", (_noise_image(rng, 64, 32), (64, 32))),
        Case("a 40x20 image enlarged to 128x64", (_noise_image(rng, 40, 20), (128, 64))),
        Case("a 300x90 image shrunk to 64x32", (_noise_image(rng, 300, 90), (64, 32))),
        Case(
            "an infrared-like grey image (R = G = B)", (_noise_image(rng, 50, 30, True), (64, 32))
        ),
    ]


def check_model_input(fn: Callable[[Image.Image, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """``fn(image, img_size)`` turns a PIL image into the (3, H, W) tensor a model reads at
    ``img_size = (H, W)``: resized (bilinear), scaled to [0, 1], then normalised per channel
    with the ImageNet mean and standard deviation (``reidkit.data.transforms.MEAN`` and
    ``STD``), as ``reidkit.data.transforms.test_transform(img_size)`` does."""
    from reidkit.data.transforms import test_transform

    def reference(image: Image.Image, img_size: tuple[int, int]) -> torch.Tensor:
        return test_transform(img_size)(image)

    return run_check(
        "model_input",
        fn,
        reference,
        model_input_cases(0),
        "reidkit.data.transforms.test_transform",
        atol=1e-4,
    )


def denormalize_cases(seed: int) -> list[Case]:
    g = generator(seed)
    return [
        Case("one image (3, 8, 4)", (torch.randn(3, 8, 4, generator=g),)),
        Case("a batch (2, 3, 8, 4)", (torch.randn(2, 3, 8, 4, generator=g),)),
        Case("zeros: the mean colour", (torch.zeros(3, 2, 2),)),
        Case("values far outside: clamped to [0, 1]", (6 * torch.randn(3, 4, 4, generator=g),)),
    ]


def check_denormalize(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(images)`` undoes the normalisation of (..., 3, H, W) tensors for display: times
    the channel's standard deviation, plus its mean, clamped to [0, 1], as
    ``reidkit.data.transforms.denormalize`` does."""
    from reidkit.data.transforms import denormalize

    return run_check(
        "denormalize",
        fn,
        denormalize,
        denormalize_cases(0),
        "reidkit.data.transforms.denormalize",
    )


def retrieval_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    q_pids, g_pids = rng.integers(0, 4, 6), rng.integers(0, 4, 10)
    g_pids[:4] = [0, 1, 2, 3]  # every identity is in the gallery
    ties = rng.integers(0, 3, (6, 10)).astype(np.float64)  # many equal distances
    lonely = np.append(q_pids[:3], 9)  # identity 9 is not in the gallery: query skipped
    return [
        Case(
            "6 queries, 10 gallery items, all usable",
            (rng.random((6, 10)), q_pids, g_pids, np.ones((6, 10), bool)),
        ),
        Case("ties keep gallery order", (ties, q_pids, g_pids, np.ones((6, 10), bool))),
        Case(
            "some gallery items not usable (valid False)",
            (rng.random((6, 10)), q_pids, g_pids, rng.random((6, 10)) > 0.3),
        ),
        Case(
            "a query without a true match is skipped",
            (rng.random((4, 10)), lonely, g_pids, np.ones((4, 10), bool)),
        ),
    ]


def check_rank1_and_map(
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[float, float]],
) -> CheckResult:
    """``fn(distances, query_pids, gallery_pids, valid)`` returns ``(rank1, mAP)`` of a (Q, G)
    distance matrix, using only the gallery items where ``valid`` (Q, G) is True; queries with
    no true match left are skipped; equal distances keep gallery order (a stable sort). The
    library's version is ``reidkit.data.synth.rank1_and_map``."""
    from reidkit.data.synth import rank1_and_map

    return run_check(
        "rank1_and_map",
        fn,
        rank1_and_map,
        retrieval_cases(0),
        "reidkit.data.synth.rank1_and_map",
    )
