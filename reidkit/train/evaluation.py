"""From a model to protocol metrics: the one evaluator, for every method and dataset.

``model_extractor`` turns a model into the ``extract(records) -> (N, D)`` function that
``reidkit.eval.evaluate_protocol`` calls once per evaluation with every image (and caption) the
protocol needs; it batches the records by modality and calls the model's
``forward_embedding(batch)``; a model with a ``retrieval_distance`` ranks by it instead of the
cosine (``retrieval_metric``). ``make_evaluator`` fixes the protocol (setting, split, trials)
that a training configuration asks for. The metrics themselves come from ``reidkit.eval``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from reidkit.data.batch import Collate, RecordDataset
from reidkit.data.records import Record
from reidkit.data.transforms import test_transform
from reidkit.eval.distance import Distance
from reidkit.eval.protocols import METRIC_KEYS, evaluate_protocol
from reidkit.train.config import TrainConfig
from reidkit.train.precision import autocast_context

Evaluate = Callable[[nn.Module], dict[str, float]]


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def model_extractor(
    model: nn.Module,
    img_size: tuple[int, int],
    batch_size: int = 128,
    num_workers: int = 0,
    collate: Collate | None = None,
    amp: bool = False,
) -> Callable[[Sequence[Record]], Tensor]:
    """``records -> model.forward_embedding`` of each, (N, D) float32 on the CPU, in record
    order; with ``amp`` the model runs under the training's autocast (``reidkit.train.precision``).

    Records of each modality are batched apart (an image batch, a caption batch), so a
    text-image model embeds captions and images with its two encoders."""

    @torch.no_grad()
    def extract(records: Sequence[Record]) -> Tensor:
        device = model_device(model)
        was_training = model.training
        model.eval()
        rows: dict[int, Tensor] = {}
        for modality in dict.fromkeys(r.modality for r in records):
            positions = [i for i, r in enumerate(records) if r.modality == modality]
            loader = DataLoader(
                RecordDataset([records[i] for i in positions], test_transform(img_size)),
                batch_size=batch_size,
                num_workers=num_workers,
                collate_fn=collate or Collate(),
            )
            with autocast_context(device, amp):
                out = [model.forward_embedding(b.to(device)).float().cpu() for b in loader]
            rows.update(zip(positions, torch.cat(out)))
        model.train(was_training)
        if not rows:
            return torch.empty(0, 0)
        return torch.stack([rows[i] for i in range(len(records))])  # (N, D)

    return extract


def metric_values(result: dict[str, Any]) -> dict[str, float]:
    """The scalar metrics of a protocol result (fractions), for logs and tables."""
    return {k: float(result[k]) for k in METRIC_KEYS if k in result}


def retrieval_metric(model: nn.Module) -> str | Distance:
    """How the evaluator compares ``model``'s embeddings: its ``retrieval_distance(queries,
    gallery) -> (Q, G)`` when it has one (a score that is not a fixed metric of two vectors,
    e.g. ACSA's), else cosine."""
    return getattr(model, "retrieval_distance", None) or "cosine"


def make_evaluator(config: TrainConfig, dataset: Any, collate: Collate | None = None) -> Evaluate:
    """``model -> metrics`` with the protocol ``config.eval`` describes on ``dataset``."""
    e, data = config.eval, config.data

    def evaluate(model: nn.Module) -> dict[str, float]:
        extract = model_extractor(
            model, data.img_size, e.batch_size, data.num_workers, collate, config.optim.amp
        )
        result = evaluate_protocol(
            extract,
            dataset,
            e.setting,
            split=e.split,
            trials=e.trials,
            seed=e.seed,
            metric=retrieval_metric(model),
        )
        return metric_values(result)

    return evaluate
