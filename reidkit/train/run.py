"""A whole run from a configuration: data, method, evaluator and trainer, in that order.

``train(config)`` is what ``reidkit train CONFIG``, ``reidkit ablate`` and the demo call. The
method named by ``config.method`` supplies the model, the objective and the sampler; the
dataset supplies the evaluation protocol. The seed is set before the model is built, so one
seed fixes the initialisation, the sampling and the augmentation; the synthetic data has its
own ``data.data_seed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from reidkit.data.batch import Collate
from reidkit.data.records import Record
from reidkit.data.splits import relabel
from reidkit.methods import Method, get_method
from reidkit.train.config import TrainConfig
from reidkit.train.datasets import open_dataset
from reidkit.train.distributed import current_processes
from reidkit.train.engine import Callback, Trainer
from reidkit.train.evaluation import Evaluate, make_evaluator
from reidkit.train.sampling import build_sampler
from reidkit.utils import get_device, seed_everything


@dataclass
class Prepared:
    """Everything a training run needs besides the configuration and the model."""

    dataset: Any  # a loader with the evaluation protocol (reidkit.data)
    records: list[Record]  # training records, identities renumbered 0..C-1
    num_classes: int
    evaluate: Evaluate  # on config.eval.split, during training
    collate: Collate  # samples -> Batch, with the method's tokenizer where it has one
    test: Evaluate | None = None  # the test split, once, when training evaluates on val

    @property
    def evaluate_test(self) -> Evaluate:
        """The evaluator of the test split (``evaluate`` itself when training uses test)."""
        return self.test or self.evaluate


def check_task(method: Method, dataset: Any) -> None:
    """A method trains on the datasets of its task only (visible-infrared, text-image, ...)."""
    task = getattr(dataset, "task", None)
    if task is not None and task != method.task:
        raise ValueError(
            f"method {method.name!r} is for {method.task} data; dataset {type(dataset).__name__}"
            f" is {task}"
        )


def prepare(config: TrainConfig, dataset: Any = None) -> Prepared:
    """Open the dataset (unless given), renumber the training identities, build the evaluator."""
    method = get_method(config.method)
    dataset = open_dataset(config.data) if dataset is None else dataset
    check_task(method, dataset)
    records, mapping = relabel(dataset.train)
    tokenizer = method.build_tokenizer(config, records) if method.build_tokenizer else None
    collate = Collate(tokenizer)
    evaluate = make_evaluator(config, dataset, collate)
    test = None
    if config.eval.split != "test":
        on_test = dataclasses.replace(config, eval=dataclasses.replace(config.eval, split="test"))
        test = make_evaluator(on_test, dataset, collate)
    return Prepared(dataset, records, len(mapping), evaluate, collate, test)


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The method's model as the configuration describes it, initialised from ``config.seed``."""
    seed_everything(config.seed)
    return get_method(config.method).build_model(config, num_classes)


def build_trainer(
    config: TrainConfig,
    prepared: Prepared,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> Trainer:
    """Model, objective and sampler of ``config.method`` in a :class:`Trainer`."""
    method = get_method(config.method)
    model = build_model(config, prepared.num_classes)
    sampler = build_sampler(method.sampler, prepared.records, config.data, config.seed)
    return Trainer(
        config,
        model,
        method.build_objective(config),
        prepared.records,
        sampler,
        prepared.evaluate,
        callbacks,
        progress,
        prepared.collate,
        prepared.test,
    )


def train(
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
    progress: bool = True,
    prepared: Prepared | None = None,
) -> tuple[Trainer, list[dict]]:
    """Prepare the data, build the method, train; returns the trainer and the metrics log."""
    with current_processes(get_device(config.device)).main_first():  # rank 0 writes data first
        prepared = prepared or prepare(config)
    trainer = build_trainer(config, prepared, callbacks, progress)
    return trainer, trainer.fit(resume=resume)
