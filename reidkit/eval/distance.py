"""Features to distances, and array-likes to tensors: the inputs of every metric."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def as_tensor(values, name: str) -> torch.Tensor:
    """NumPy array, list or tensor -> tensor (kept on its device)."""
    if isinstance(values, torch.Tensor):
        return values
    try:
        return torch.as_tensor(np.asarray(values))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: cannot be turned into a tensor ({error})") from error


# a model's own distance between query and gallery features (see ``pairwise_distance``)
Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def metric_name(metric: str | Distance) -> str:
    """How results record a metric: its name, or a distance function's ``__name__``."""
    return metric if isinstance(metric, str) else getattr(metric, "__name__", "custom")


def pairwise_distance(x, y, metric: str | Distance = "cosine") -> torch.Tensor:
    """(N, D) and (M, D) features -> (N, M) distances: ``cosine`` = 1 - cos, ``euclidean``, or
    a function ``(x, y) -> (N, M)`` (a model whose score is not a fixed metric of two
    vectors, e.g. ACSA's cross-attention over the regions and phrases its features hold)."""
    if callable(metric):
        return metric(as_tensor(x, "x").float(), as_tensor(y, "y").float())
    x, y = as_tensor(x, "x").float(), as_tensor(y, "y").float().to(as_tensor(x, "x").device)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"features must be (N, D) and (M, D) with the same D, got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        y = torch.nn.functional.normalize(y, dim=1)
        return 1.0 - x @ y.T
    if metric == "euclidean":
        squared = (x * x).sum(1, keepdim=True) + (y * y).sum(1) - 2.0 * (x @ y.T)  # (N, M)
        return squared.clamp_min(0.0).sqrt()
    raise ValueError(f"unknown metric {metric!r}; expected 'cosine' or 'euclidean'")
