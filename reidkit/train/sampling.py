"""Batch samplers by name: a method names the one it needs (``Method.sampler``).

Each factory takes the training records, the data configuration and the seed, and returns a
resumable batch sampler (``state_dict`` / ``load_state_dict`` / ``set_epoch``, see
``reidkit.data.samplers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reidkit.data.records import Record
from reidkit.data.samplers import CrossModalIdentitySampler
from reidkit.train.config import DataConfig

SamplerFactory = Callable[[Sequence[Record], DataConfig, int], CrossModalIdentitySampler]


def cross_modal(records: Sequence[Record], data: DataConfig, seed: int):
    """P identities x (K visible + K infrared) images per batch."""
    return CrossModalIdentitySampler(records, data.ids_per_batch, data.images_per_id, seed=seed)


SAMPLERS: dict[str, SamplerFactory] = {"cross_modal": cross_modal}


def build_sampler(name: str, records: Sequence[Record], data: DataConfig, seed: int):
    """The sampler called ``name``; the error lists the known ones."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](records, data, seed)
