"""From a model to protocol metrics: feature extraction and the SYSU-MM01 / RegDB evaluators
used during training, by ``reidkit eval`` and by the demo.

The metrics themselves come from ``reidkit.eval`` (METHODS.md §1); this file only runs the
model over the query and gallery images. Features are extracted once per image and reused by
every gallery trial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from reidkit.data.records import ImageDataset, Record
from reidkit.data.transforms import test_transform
from reidkit.eval.metrics import rank_metrics_from_features

Evaluate = Callable[[nn.Module], dict[str, float]]


@torch.no_grad()
def extract_features(
    model: nn.Module,
    records: Sequence[Record],
    img_size: tuple[int, int],
    batch_size: int = 128,
    num_workers: int = 0,
) -> torch.Tensor:
    """``model.forward_features(images, modalities)`` for every record -> (N, D) on the CPU."""
    device = next(model.parameters(), torch.empty(0)).device
    loader = DataLoader(
        ImageDataset(records, test_transform(img_size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
    )
    was_training = model.training
    model.eval()
    out = []
    for images, _, _, modalities in loader:
        out.append(model.forward_features(images.to(device), modalities.to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


class RawPixels(nn.Module):
    """The chapter 1 baseline as a "model": images box-downsampled to ``size`` and flattened,
    so it runs through exactly the same evaluation as a trained network."""

    def __init__(self, size: tuple[int, int] = (32, 16)) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("anchor", torch.zeros(0))  # gives the module a device

    def forward_features(self, images: torch.Tensor, modalities=None) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, self.size).flatten(1)  # (B, 3 * h * w)


def _metrics(result: dict) -> dict[str, float]:
    cmc = np.asarray(result["cmc"])
    return {
        "rank1": float(cmc[0]),
        "rank5": float(cmc[min(4, len(cmc) - 1)]),
        "rank10": float(cmc[min(9, len(cmc) - 1)]),
        "mAP": float(result["mAP"]),
        "mINP": float(result["mINP"]),
    }


def _average(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def _arrays(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r.pid for r in records]), np.array([r.camid for r in records])


def sysu_evaluator(
    dataset,
    img_size: tuple[int, int],
    mode: str = "all",
    trials: int = 10,
    batch_size: int = 128,
    num_workers: int = 0,
) -> Evaluate:
    """SYSU-MM01 infrared -> visible, single-shot, ``trials`` gallery samplings (METHODS §1).

    ``dataset`` is a ``reidkit.data.sysu.SYSUMM01``. The returned function maps a model to the
    metrics averaged over the trials; every candidate gallery image is embedded once.
    """
    query = list(dataset.query(mode))
    galleries = [list(dataset.gallery(mode, shot="single", trial=t)) for t in range(trials)]
    pool = list(dataset.gallery_candidates(mode))
    position = {r.path: i for i, r in enumerate(pool)}
    q_pids, q_cams = _arrays(query)

    def evaluate(model: nn.Module) -> dict[str, float]:
        q = extract_features(model, query, img_size, batch_size, num_workers)
        g_all = extract_features(model, pool, img_size, batch_size, num_workers)
        rows = []
        for gallery in galleries:
            g = g_all[[position[r.path] for r in gallery]]
            g_pids, g_cams = _arrays(gallery)
            result = rank_metrics_from_features(q, g, q_pids, g_pids, q_cams, g_cams, "sysu")
            rows.append(_metrics(result))
        return _average(rows)

    return evaluate


def regdb_evaluator(
    dataset,
    img_size: tuple[int, int],
    direction: str = "i2v",
    batch_size: int = 128,
    num_workers: int = 0,
) -> Evaluate:
    """RegDB, one trial's test split: thermal -> visible (``i2v``) or the reverse (``v2i``)."""
    if direction not in ("i2v", "v2i"):
        raise ValueError(f"direction must be 'i2v' or 'v2i', got {direction!r}")
    query, gallery = list(dataset.query(direction)), list(dataset.gallery(direction))
    q_pids, q_cams = _arrays(query)
    g_pids, g_cams = _arrays(gallery)

    def evaluate(model: nn.Module) -> dict[str, float]:
        q = extract_features(model, query, img_size, batch_size, num_workers)
        g = extract_features(model, gallery, img_size, batch_size, num_workers)
        return _metrics(rank_metrics_from_features(q, g, q_pids, g_pids, q_cams, g_cams, "regdb"))

    return evaluate
