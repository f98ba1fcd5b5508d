"""Training: typed configurations, the method-agnostic loop, schedules, crash-safe checkpoints."""

from reidkit.train.checkpoint import latest_checkpoint, load_state, load_weights, save_checkpoint
from reidkit.train.config import (
    DataConfig,
    EvalConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    config_from_profile,
    load_config,
    with_overrides,
)
from reidkit.train.engine import Trainer, read_metrics

__all__ = [
    "DataConfig",
    "EvalConfig",
    "OptimConfig",
    "TrainConfig",
    "Trainer",
    "config_from_dict",
    "config_from_profile",
    "latest_checkpoint",
    "load_config",
    "load_state",
    "load_weights",
    "read_metrics",
    "save_checkpoint",
    "with_overrides",
]
