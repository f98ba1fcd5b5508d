"""Chapter 1 exercises: from a synthetic image to the model's input and back, and the
raw-pixel features that measure the modality gap."""

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


def pixel_cases(seed: int) -> list[Case]:
    g = generator(seed)
    return [
        Case(
            "two 64x32 images to 32x16 (2x2 boxes)",
            (torch.randn(2, 3, 64, 32, generator=g), (32, 16)),
        ),
        Case(
            "one 128x64 image to 32x16 (4x4 boxes)",
            (torch.randn(1, 3, 128, 64, generator=g), (32, 16)),
        ),
        Case("three 64x32 images to 8x4", (torch.randn(3, 3, 64, 32, generator=g), (8, 4))),
        Case("a 64x32 image kept at 64x32", (torch.randn(1, 3, 64, 32, generator=g), (64, 32))),
        Case(
            "50x30 to 8x4: boxes of unequal size", (torch.randn(1, 3, 50, 30, generator=g), (8, 4))
        ),
    ]


def check_raw_pixel_features(
    fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor],
) -> CheckResult:
    """``fn(images, size)`` turns (B, 3, H, W) images into (B, 3 * h * w) raw-pixel features
    for ``size = (h, w)``: each channel averaged over boxes down to h x w, then flattened
    (channel first, then rows, then columns), as ``reidkit.eval.raw_pixel_features`` does.
    When h does not divide H, output row i averages input rows ``floor(i * H / h)`` to
    ``ceil((i + 1) * H / h) - 1`` (boxes may overlap by one), and likewise for columns."""
    from reidkit.eval.raw_pixels import raw_pixel_features

    return run_check(
        "raw_pixel_features",
        fn,
        raw_pixel_features,
        pixel_cases(0),
        "reidkit.eval.raw_pixel_features",
    )
