"""Training: typed configurations, the loop, schedules and crash-safe checkpoints."""

from reidkit.train.checkpoint import latest_checkpoint, load_state, load_weights, save_checkpoint
from reidkit.train.config import (
    DataConfig,
    EvalConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    config_from_profile,
    load_config,
)
from reidkit.train.engine import Trainer, compute_losses, read_metrics, relabel

__all__ = [
    "DataConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "Trainer",
    "compute_losses",
    "config_from_dict",
    "config_from_profile",
    "latest_checkpoint",
    "load_config",
    "load_state",
    "load_weights",
    "read_metrics",
    "relabel",
    "save_checkpoint",
]
