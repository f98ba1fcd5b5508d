"""Datasets by name for ``data.dataset``: the synthetic default and the real benchmarks.

Every dataset opens to a loader with the one evaluation protocol of ``reidkit.data``
(``task``, ``protocol``, ``settings``, ``query(setting, split)``, ``gallery(setting, trial,
seed, split)``, ``train``), so one evaluator serves them all. Real datasets live under
``data.root`` (``$REIDKIT_DATASETS/...``); the synthetic one is written to the data cache in
the SYSU-MM01 layout on first use and read back by the SYSU-MM01 loader.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from reidkit.data.batch import Batch, RecordDataset
from reidkit.data.records import Record
from reidkit.train.config import DataConfig
from reidkit.utils import cache_dir


def expand_root(root: str | None, dataset: str) -> Path:
    """``data.root`` with ``$VARS`` and ``~`` expanded; a clear error when unset or missing."""
    if not root:
        raise ValueError(
            f"data.root must name the {dataset} folder (e.g. $REIDKIT_DATASETS/"
            f"{FOLDER_NAMES.get(dataset, dataset)})"
        )
    expanded = os.path.expanduser(os.path.expandvars(root))
    if "$" in expanded:
        raise ValueError(f"data.root {root!r}: an environment variable in it is not set")
    path = Path(expanded)
    if not path.is_dir():
        raise FileNotFoundError(f"data.root {path} (from {root!r}) is not a folder")
    return path


def synthetic_root(data: DataConfig, layout: str = "sysu") -> Path:
    """Write (once) the synthetic people in a real dataset's layout to the data cache.

    ``train_ids + test_ids`` identities are written. In the SYSU-MM01 layout the last
    ``test_ids`` form the test split and the others train / val as SYSU-MM01's 296 / 99; the
    RegDB and CUHK-PEDES layouts split as those datasets do. The ``xray`` layout writes
    packages (not people) with the last ``test_ids`` as its test split.
    """
    from reidkit.data.synth import write_layout

    ids = data.train_ids + data.test_ids
    height, width = data.img_size
    name = f"{layout}-seed{data.data_seed}-{height}x{width}-ids{ids}"
    fixed_test = layout in ("sysu", "xray")
    name += f"-test{data.test_ids}" if fixed_test else ""
    name += f"-k{data.images_per_camera}"
    return write_layout(
        layout,
        cache_dir() / "synthetic" / name,
        ids,
        seed=data.data_seed,
        img_size=(height, width),
        images_per_camera=data.images_per_camera,
        test_ids=data.test_ids if fixed_test else None,
        overwrite=True,  # a cache: rewritten when the generator's settings have changed
    )


def _synthetic(data: DataConfig):
    from reidkit.data.sysu import SYSUMM01

    root = Path(os.path.expandvars(data.root)) if data.root else synthetic_root(data, "sysu")
    return SYSUMM01(root, train_on_val=data.train_on_val)


def _synthetic_regdb(data: DataConfig):
    from reidkit.data.regdb import RegDB

    return RegDB(synthetic_root(data, "regdb"), trial=data.trial)


def _synthetic_pedes(data: DataConfig):
    from reidkit.data.pedes import CUHKPEDES

    return CUHKPEDES(synthetic_root(data, "pedes"))


def _synthetic_xray(data: DataConfig):
    from reidkit.data.xray import XrayPackages

    return XrayPackages(synthetic_root(data, "xray"), train_on_val=data.train_on_val)


def _xray_packages(data: DataConfig):
    from reidkit.data.xray import XrayPackages

    return XrayPackages(expand_root(data.root, "xray-packages"), train_on_val=data.train_on_val)


def _sysu(data: DataConfig):
    from reidkit.data.sysu import SYSUMM01

    return SYSUMM01(expand_root(data.root, "sysu"), train_on_val=data.train_on_val)


def _regdb(data: DataConfig):
    from reidkit.data.regdb import RegDB

    return RegDB(expand_root(data.root, "regdb"), trial=data.trial)


def _llcm(data: DataConfig):
    from reidkit.data.llcm import LLCM

    return LLCM(expand_root(data.root, "llcm"))


def _text(class_name: str) -> Callable[[DataConfig], Any]:
    def opener(data: DataConfig):
        from reidkit.data import pedes

        return getattr(pedes, class_name)(expand_root(data.root, class_name))

    return opener


DATASETS: dict[str, Callable[[DataConfig], Any]] = {
    "synthetic": _synthetic,  # the SYSU-MM01 layout
    "synthetic-regdb": _synthetic_regdb,
    "synthetic-pedes": _synthetic_pedes,  # the CUHK-PEDES layout, with captions
    "synthetic-xray": _synthetic_xray,  # packages, visible and X-ray (reidkit.data.xray)
    "sysu": _sysu,
    "regdb": _regdb,
    "llcm": _llcm,
    "cuhk-pedes": _text("CUHKPEDES"),
    "icfg-pedes": _text("ICFGPEDES"),
    "rstpreid": _text("RSTPReid"),
    "xray-packages": _xray_packages,  # a real dataset in the layout of reidkit.data.xray
}
FOLDER_NAMES = {
    "sysu": "SYSU-MM01",
    "regdb": "RegDB",
    "llcm": "LLCM",
    "xray-packages": "XrayPackages",
}


def train_transforms(data: DataConfig) -> dict[str, Callable[[Any], Any]]:
    """The training transform of each image modality, as ``data.augment`` chooses.

    By default every modality gets chapter 4's pipeline (flip, crop, greyscale, erasing)."""
    from reidkit.data.transforms import train_transform

    augment = data.augment
    return {
        modality: train_transform(
            data.img_size,
            flip=augment.flip,
            erasing=augment.erasing,
            grayscale=data.grayscale,
            augmentations=getattr(augment, modality),
            channel=augment.channel,
        )
        for modality in ("visible", "infrared", "xray")
    }


def uses_device_augment(data: DataConfig, device: torch.device) -> bool:
    """``data.device_augment``, or (when None) whether training runs on CUDA."""
    return device.type == "cuda" if data.device_augment is None else data.device_augment


def training_data(
    records: Sequence[Record], data: DataConfig, device: torch.device
) -> tuple[Dataset, Callable[[Batch], Batch] | None]:
    """The training dataset and the transform of each batch on the device (or None).

    The PIL path reads and augments each image in the loader; the batched path
    (``data.device_augment``, see ``reidkit.data.device_augment``) reads every image once
    into a uint8 cache and augments whole batches on ``device``."""
    if not uses_device_augment(data, device):
        return RecordDataset(records, train_transforms(data)), None
    from reidkit.data.device_augment import BatchAugment, CachedRecordDataset, build_image_cache

    augment = data.augment
    cache = build_image_cache(records, data.img_size, data.num_workers)
    augmentations = {m: getattr(augment, m) for m in ("visible", "infrared", "xray")}
    batch_augment = BatchAugment(
        augmentations,
        data.img_size,
        flip=augment.flip,
        erasing=augment.erasing,
        grayscale=data.grayscale,
        channel=augment.channel,
    )
    return CachedRecordDataset(records, cache), batch_augment.batch


def open_dataset(data: DataConfig) -> Any:
    """The loader ``data.dataset`` names; the error lists the known names."""
    if data.dataset not in DATASETS:
        raise ValueError(
            f"data.dataset: unknown {data.dataset!r}; expected one of {list(DATASETS)}"
        )
    return DATASETS[data.dataset](data)
