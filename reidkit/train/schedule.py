"""Optimizer and learning-rate schedule: linear warm-up, then cosine decay or steps.

The learning rate is a function of *progress in epochs* (a float: 2.5 = halfway through the
third epoch), so it does not depend on how many batches an epoch happens to have, and the
schedule's whole state is one number that a checkpoint stores.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reidkit.train.config import OptimConfig


def lr_factor(progress: float, epochs: int, config: OptimConfig) -> float:
    """Multiplier of the peak learning rate at ``progress`` epochs into an ``epochs`` run."""
    warmup = config.warmup_epochs
    if warmup > 0 and progress < warmup:
        return 0.01 + 0.99 * progress / warmup  # linear from 1% to 100%
    if config.schedule == "step":
        return config.gamma ** int(progress // config.step_epochs)
    span = max(epochs - warmup, 1e-8)
    t = min(max((progress - warmup) / span, 0.0), 1.0)
    floor = config.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


class EpochSchedule:
    """Sets every parameter group's lr to ``base_lr * lr_factor(progress)`` on ``step``."""

    def __init__(self, optimizer: torch.optim.Optimizer, epochs: int, config: OptimConfig):
        self.optimizer, self.epochs, self.config = optimizer, epochs, config
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.progress = 0.0
        self.step(0.0)

    def step(self, progress: float) -> float:
        self.progress = float(progress)
        factor = lr_factor(self.progress, self.epochs, self.config)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, object]:
        return {"progress": self.progress, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.base_lrs = [float(v) for v in state["base_lrs"]]  # type: ignore[union-attr]
        self.step(float(state["progress"]))  # type: ignore[arg-type]


def lr_scale_of(name: str, scales: dict[str, float]) -> float:
    """The learning-rate factor of parameter ``name``: that of the longest matching prefix."""
    matches = [prefix for prefix in scales if name.startswith(prefix)]
    return float(scales[max(matches, key=len)]) if matches else 1.0


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only; none on biases, norms, tokens and
    position embeddings (decaying those only hurts).

    A model may scale the learning rate of some parameters with an attribute ``lr_scales``,
    ``{name prefix: factor}`` (a text method fine-tunes a pretrained text encoder at a tenth of
    the rate of an image encoder trained from scratch): each group carries its ``lr_scale``.
    The groups at scale 1 come first, so the first group's lr is the configured one."""
    scales: dict[str, float] = dict(getattr(model, "lr_scales", None) or {})
    # (lr scale, decayed) -> parameters; the two groups at scale 1 always exist, as before
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {(1.0, True): [], (1.0, False): []}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decay = not (parameter.ndim <= 1 or name.endswith(("cls_token", "pos_embed")))
        groups.setdefault((lr_scale_of(name, scales), decay), []).append(parameter)
    order = sorted(groups, key=lambda key: (key[0] != 1.0, key[0], not key[1]))
    return [
        {"params": groups[key], "weight_decay": weight_decay if key[1] else 0.0, "lr_scale": key[0]}
        for key in order
    ]


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay)
    for group in groups:
        group["lr"] = config.lr * group["lr_scale"]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)
