"""Training configurations: typed dataclasses, loadable from YAML with clear errors.

A YAML file mirrors the nesting below (``data:``, ``model:``, ``loss:``, ``optim:``,
``eval:`` plus top-level fields). Every key is checked: an unknown key or a value of the wrong
type is an error that names the key and the expected type. Strings may use ``$VARS``
(``root: $REIDKIT_DATASETS/SYSU-MM01``), expanded when the dataset is opened.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from reidkit.utils import runs_dir

DATASETS = ("synthetic", "sysu", "regdb")
TRIPLETS = ("weighted", "weighted_hinge", "batch_hard", "none")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step")


def _choice(section: str, name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{section}.{name}: {value!r} is not one of {list(choices)}")


@dataclass
class DataConfig:
    dataset: str = "synthetic"  # synthetic | sysu | regdb
    root: str | None = None  # real datasets (and a synthetic layout written elsewhere)
    img_size: tuple[int, int] = (128, 64)  # (height, width)
    train_ids: int = 200  # synthetic data only
    test_ids: int = 96  # synthetic data only
    images_per_camera: int = 4  # synthetic data only
    data_seed: int = 0  # synthetic data only: which people exist and how they look
    ids_per_batch: int = 8  # P
    images_per_id: int = 4  # K per modality
    num_workers: int = 0
    trial: int = 1  # RegDB split (1..10)
    grayscale: float = 0.3  # chance that a training image is turned grey (visible ones change)

    def __post_init__(self) -> None:
        _choice("data", "dataset", self.dataset, DATASETS)


@dataclass
class ModelConfig:
    vit: str = "vit_hybrid_cpu"  # a name in reidkit.models.vit.VIT_CONFIGS
    modality_patch_embed: bool = False
    drop_path_rate: float = 0.0


@dataclass
class LossConfig:
    label_smoothing: float = 0.1
    triplet: str = "weighted"  # weighted (soft margin) | weighted_hinge | batch_hard | none
    margin: float = 0.3  # hinge variants
    triplet_weight: float = 1.0
    # The triplet loss is off before this epoch (progress in epochs, fractions allowed). A ViT
    # trained from scratch starts with features that carry no identity; the triplet loss then
    # lowers d_p - d_n > 0 fastest by shrinking every distance, and the features collapse to
    # one point (Adam makes even a small weight enough). The identity loss goes first.
    triplet_start_epoch: float = 0.0

    def __post_init__(self) -> None:
        _choice("loss", "triplet", self.triplet, TRIPLETS)


@dataclass
class OptimConfig:
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"  # cosine | step
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01  # cosine: final lr / peak lr
    step_epochs: int = 40  # step: decay every N epochs
    gamma: float = 0.1  # step: decay factor
    grad_clip: float | None = 5.0
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16); off on CPU

    def __post_init__(self) -> None:
        _choice("optim", "optimizer", self.optimizer, OPTIMIZERS)
        _choice("optim", "schedule", self.schedule, SCHEDULES)


@dataclass
class EvalConfig:
    every: int = 4  # epochs; 0 = only at the end
    mode: str = "all"  # SYSU-MM01: all | indoor
    direction: str = "i2v"  # i2v (infrared query) | v2i
    trials: int = 10
    batch_size: int = 128


@dataclass
class TrainConfig:
    name: str = "run"
    seed: int = 0  # fixes sampling, augmentation and initialisation
    epochs: int = 12
    out_dir: str = "runs/run"
    log_every: int = 1  # steps between metrics-log lines
    keep_checkpoints: int = 2
    device: str | None = None  # default: CUDA when available, else CPU
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _convert(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against (and lightly converted to) the annotation ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"{key}: expected a mapping of {hint.__name__} fields, got {value!r}")
        return _build(hint, value, key)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise TypeError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{key}: expected bool (true/false), got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key}: expected int, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise TypeError(f"{key}: expected float, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key}: expected float, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{key}: expected str, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported annotation {hint!r}")


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            raise ValueError(f"{name}: unknown key; expected one of {sorted(known)}")
        kwargs[key] = _convert(value, hints[key], name)
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from nested dictionaries (missing keys keep their defaults)."""
    return _build(TrainConfig, values)


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training configuration; errors name the file and the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ValueError(
            f"{path}: expected a mapping at the top level, got {type(values).__name__}"
        )
    try:
        return config_from_dict(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def config_from_profile(profile: Any, **changes: Any) -> TrainConfig:
    """The training configuration a profile implies (the demo's and the chapter's)."""
    config = TrainConfig(
        name=f"demo-{profile.name}",
        epochs=profile.epochs,
        out_dir=str(runs_dir() / f"demo-{profile.name}"),
        data=DataConfig(
            dataset="synthetic",
            img_size=tuple(profile.img_size),
            train_ids=profile.train_ids,
            test_ids=profile.test_ids,
            images_per_camera=profile.images_per_camera,
            ids_per_batch=profile.ids_per_batch,
            images_per_id=profile.images_per_id,
            num_workers=profile.num_workers,
        ),
        model=ModelConfig(vit=profile.backbone),
        loss=LossConfig(triplet_start_epoch=profile.epochs / 4),
        optim=OptimConfig(lr=profile.lr),
        eval=EvalConfig(every=profile.eval_every, trials=profile.trials),
    )
    return dataclasses.replace(config, **changes) if changes else config
