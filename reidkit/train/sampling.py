"""Batch samplers by name: a method names the one it needs (``Method.sampler``).

Each factory takes the training records, the data configuration and the seed, and returns a
resumable batch sampler (``state_dict`` / ``load_state_dict`` / ``set_epoch``, see
``reidkit.data.samplers``). ``data.ids_per_batch`` is P and ``data.images_per_id`` K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reidkit.data.records import Record
from reidkit.data.samplers import (
    CrossModalIdentitySampler,
    IdentityBalancedSampler,
    ImageCaptionSampler,
    PairedCrossModalSampler,
    ResumableBatchSampler,
)
from reidkit.train.config import DataConfig

SamplerFactory = Callable[[Sequence[Record], DataConfig, int], ResumableBatchSampler]


def cross_modal(records: Sequence[Record], data: DataConfig, seed: int) -> ResumableBatchSampler:
    """P identities x (K visible + K infrared) images per batch."""
    return CrossModalIdentitySampler(records, data.ids_per_batch, data.images_per_id, seed=seed)


def paired(records: Sequence[Record], data: DataConfig, seed: int) -> ResumableBatchSampler:
    """As ``cross_modal``, with the k-th visible image paired with the k-th infrared one."""
    return PairedCrossModalSampler(records, data.ids_per_batch, data.images_per_id, seed=seed)


def paired_xray(records: Sequence[Record], data: DataConfig, seed: int) -> ResumableBatchSampler:
    """As ``paired``, on visible and X-ray images: the k-th photograph of a package with its
    k-th scan (visible-X-ray methods)."""
    return PairedCrossModalSampler(
        records, data.ids_per_batch, data.images_per_id, seed=seed, modalities=("visible", "xray")
    )


def identity(records: Sequence[Record], data: DataConfig, seed: int) -> ResumableBatchSampler:
    """P identities x K images of any modality per batch."""
    return IdentityBalancedSampler(records, data.ids_per_batch, data.images_per_id, seed=seed)


def image_caption(records: Sequence[Record], data: DataConfig, seed: int) -> ResumableBatchSampler:
    """P identities x K (image, caption) records per batch (text-image tasks)."""
    return ImageCaptionSampler(records, data.ids_per_batch, data.images_per_id, seed=seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "cross_modal": cross_modal,
    "paired": paired,
    "paired_xray": paired_xray,
    "identity": identity,
    "image_caption": image_caption,
}


def register_sampler(name: str, factory: SamplerFactory) -> None:
    """Add a sampler factory (e.g. a visible-X-ray pairing) under ``name``."""
    if name in SAMPLERS:
        raise ValueError(f"a sampler named {name!r} is already registered")
    SAMPLERS[name] = factory


def build_sampler(name: str, records: Sequence[Record], data: DataConfig, seed: int):
    """The sampler called ``name``; the error lists the known ones."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](records, data, seed)
