"""A whole run from a configuration: data, model, evaluator and trainer, in that order.

``train(config)`` is what ``reidkit train CONFIG`` and the demo call. The seed is set before the
model is built, so one seed fixes the initialisation, the sampling and the augmentation; the
synthetic data has its own ``data.data_seed``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reidkit.data.records import Record
from reidkit.models.baseline import CrossModalBaseline, build_baseline
from reidkit.train.config import DataConfig, TrainConfig
from reidkit.train.engine import Callback, Trainer, relabel
from reidkit.train.evaluation import Evaluate, regdb_evaluator, sysu_evaluator
from reidkit.utils import cache_dir, seed_everything


def expand_root(root: str | None, dataset: str) -> Path:
    """``data.root`` with ``$VARS`` and ``~`` expanded; a clear error when unset or missing."""
    if not root:
        raise ValueError(
            f"data.root must name the {dataset} folder (e.g. "
            f"$REIDKIT_DATASETS/{'SYSU-MM01' if dataset == 'sysu' else 'RegDB'})"
        )
    expanded = os.path.expanduser(os.path.expandvars(root))
    if "$" in expanded:
        raise ValueError(f"data.root {root!r}: an environment variable in it is not set")
    path = Path(expanded)
    if not path.is_dir():
        raise FileNotFoundError(f"data.root {path} (from {root!r}) is not a folder")
    return path


def synthetic_sysu_root(data: DataConfig) -> Path:
    """Write (once) the synthetic people in the SYSU-MM01 layout to the data cache.

    ``train_ids + test_ids`` identities are written; the last ``test_ids`` form the test split,
    the others train / val as SYSU-MM01's 296 / 99 (training uses both).
    """
    from reidkit.data.synth import write_layout

    ids = data.train_ids + data.test_ids
    height, width = data.img_size
    name = f"sysu-seed{data.data_seed}-{height}x{width}-ids{ids}-test{data.test_ids}"
    name += f"-k{data.images_per_camera}"
    return write_layout(
        "sysu",
        cache_dir() / "synthetic" / name,
        ids,
        seed=data.data_seed,
        img_size=(height, width),
        images_per_camera=data.images_per_camera,
        test_ids=data.test_ids,
        overwrite=True,  # a cache: rewritten when the generator's settings have changed
    )


def open_dataset(data: DataConfig):
    """The dataset object the configuration names (a SYSU-MM01 or RegDB loader)."""
    if data.dataset == "regdb":
        from reidkit.data.regdb import RegDB

        return RegDB(expand_root(data.root, "regdb"), trial=data.trial)
    from reidkit.data.sysu import SYSUMM01

    if data.dataset == "synthetic":
        root = Path(os.path.expandvars(data.root)) if data.root else synthetic_sysu_root(data)
        return SYSUMM01(root)
    return SYSUMM01(expand_root(data.root, "sysu"))


def make_evaluator(config: TrainConfig, dataset) -> Evaluate:
    e, data = config.eval, config.data
    if data.dataset == "regdb":
        return regdb_evaluator(dataset, data.img_size, e.direction, e.batch_size, data.num_workers)
    return sysu_evaluator(dataset, data.img_size, e.mode, e.trials, e.batch_size, data.num_workers)


@dataclass
class Prepared:
    """Everything a training run needs besides the configuration."""

    dataset: object
    records: list[Record]  # training records, identities renumbered 0..C-1
    num_classes: int
    evaluate: Evaluate


def prepare(config: TrainConfig) -> Prepared:
    dataset = open_dataset(config.data)
    records, num_classes = relabel(dataset.train)
    return Prepared(dataset, records, num_classes, make_evaluator(config, dataset))


def build_model(config: TrainConfig, num_classes: int) -> CrossModalBaseline:
    """The baseline the configuration describes, initialised from ``config.seed``."""
    seed_everything(config.seed)
    m = config.model
    return build_baseline(
        m.vit, config.data.img_size, num_classes, m.modality_patch_embed, m.drop_path_rate
    )


def train(
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
    progress: bool = True,
    prepared: Prepared | None = None,
) -> tuple[Trainer, list[dict]]:
    """Prepare the data, build the model, train; returns the trainer and the metrics log."""
    prepared = prepared or prepare(config)
    model = build_model(config, prepared.num_classes)
    trainer = Trainer(config, model, prepared.records, prepared.evaluate, callbacks, progress)
    return trainer, trainer.fit(resume=resume)
