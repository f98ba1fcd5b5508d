"""Training configurations: typed dataclasses, loadable from YAML with clear errors.

A configuration names a registered *method* (``reidkit.methods``) and holds the sections every
run has (``data``, ``optim``, ``eval``) plus one section named after the method with the
method's own options (its model and objective: sizes, loss weights, warm-ups)::

    method: baseline
    epochs: 20
    data: {dataset: synthetic, img_size: [128, 64]}
    baseline:
      model: {backbone: vit_hybrid_cpu}
      loss: {triplet: weighted, triplet_start_epoch: 5}

Every key and value is checked (``reidkit.typed``): an unknown key, a value of the wrong
type or outside its range is an error that names the key. Strings may use ``$VARS``
(``root: $REIDKIT_DATASETS/SYSU-MM01``), expanded when the dataset is opened.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reidkit.data.augment import AUGMENTATIONS, BASELINE_AUGMENTATIONS, check_names
from reidkit.profiles import data_workers, resolve_pretrained
from reidkit.typed import Checked, bounded, build, merge, to_plain
from reidkit.utils import runs_dir

# the names of reidkit.data.augment.AUGMENTATIONS, checked with the config's other values
Augmentation = Literal[AUGMENTATIONS]  # type: ignore[valid-type]


def _baseline_augmentations() -> list[str]:
    return list(BASELINE_AUGMENTATIONS)


@dataclass
class AugmentConfig(Checked):
    """Which training augmentations each modality gets (names: ``reidkit.data.augment``; the
    pipeline keeps its own order) and their probabilities. The default is the baseline's
    pipeline for every modality; ``data.grayscale`` stays the greyscale probability."""

    visible: list[Augmentation] = field(default_factory=_baseline_augmentations)
    infrared: list[Augmentation] = field(default_factory=_baseline_augmentations)
    xray: list[Augmentation] = field(default_factory=_baseline_augmentations)
    flip: float = bounded(0.5, ge=0, le=1)  # chance of a mirrored image
    erasing: float = bounded(0.5, ge=0, le=1)  # chance of an erased rectangle (either kind)
    channel: float = bounded(0.5, ge=0, le=1)  # chance of channel_select / channel_permute

    def __post_init__(self) -> None:
        super().__post_init__()
        for modality in ("visible", "infrared", "xray"):
            check_names(getattr(self, modality), modality)


@dataclass
class DataConfig(Checked):
    dataset: str = "synthetic"  # a name in reidkit.train.datasets.DATASETS
    root: str | None = None  # real datasets (and a synthetic layout written elsewhere)
    img_size: tuple[int, int] = bounded((128, 64), ge=16)  # (height, width)
    train_ids: int = bounded(200, ge=2)  # synthetic data only
    test_ids: int = bounded(96, ge=1)  # synthetic data only
    images_per_camera: int = bounded(4, ge=1)  # synthetic data only
    data_seed: int = bounded(0, ge=0)  # synthetic data only: which people exist, how they look
    train_on_val: bool = True  # SYSU-MM01: train on train + val ids (common practice)
    ids_per_batch: int = bounded(8, ge=2)  # P
    images_per_id: int = bounded(4, ge=1)  # K (per modality for the cross-modal samplers)
    num_workers: int = bounded(0, ge=0)
    trial: int = bounded(1, ge=1, le=10)  # RegDB split (1..10)
    grayscale: float = bounded(0.3, ge=0, le=1)  # chance that a training image turns grey
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # per modality
    # Decode each training image once into a uint8 cache and augment whole batches on the
    # training device (reidkit.data.device_augment); None: on when training on CUDA.
    device_augment: bool | None = None


@dataclass
class OptimConfig(Checked):
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(0.05, ge=0)
    momentum: float = bounded(0.9, ge=0, lt=1)  # SGD only
    schedule: Literal["cosine", "step"] = "cosine"
    warmup_epochs: float = bounded(1.0, ge=0)
    min_lr_ratio: float = bounded(0.01, ge=0, le=1)  # cosine: final lr / peak lr
    step_epochs: int = bounded(40, ge=1)  # step: decay every N epochs
    gamma: float = bounded(0.1, gt=0, le=1)  # step: decay factor
    grad_clip: float | None = bounded(5.0, gt=0)
    # mixed precision: bf16 on Ampere+ GPUs and on CPUs with bf16 matrix units, fp16 on older GPUs
    amp: bool = True


@dataclass
class EvalConfig(Checked):
    every: int = bounded(4, ge=0)  # epochs; 0 = only at the end
    setting: str | None = None  # SYSU: all | indoor; RegDB, LLCM: v2i | i2v; None: default
    # test | val (where the dataset has one). With val, the epoch with the best `select`
    # metric is kept and evaluated on the test split once, after training.
    split: str = "test"
    select: str = "mAP"  # the validation metric that selects the model
    trials: int | None = bounded(None, ge=1)  # gallery samplings; None: the protocol's own
    seed: int = bounded(0, ge=0)  # gallery sampling seed (trial t uses seed + t)
    batch_size: int = bounded(128, ge=1)


@dataclass
class TrainConfig(Checked):
    name: str = "run"
    seed: int = bounded(0, ge=0)  # fixes sampling, augmentation and initialisation
    epochs: int = bounded(12, ge=1)
    out_dir: str = "runs/run"
    log_every: int = bounded(1, ge=1)  # steps between metrics-log lines
    keep_checkpoints: int = bounded(2, ge=1)
    device: str | None = None  # default: CUDA when available, else CPU
    method: str = "baseline"  # a name in reidkit.methods.METHODS
    options: Any = None  # the method's options (its dataclass); None: the defaults
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        from reidkit.methods import get_method

        options_type = get_method(self.method).options
        if self.options is None:
            self.options = options_type()
        elif isinstance(self.options, dict):
            self.options = build(options_type, self.options, self.method)
        elif not isinstance(self.options, options_type):
            raise TypeError(
                f"options: method {self.method!r} takes {options_type.__name__}, "
                f"got {type(self.options).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The YAML form: the method's options under the method's name."""
        values = to_plain(self)
        values[self.method] = values.pop("options")
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from nested dictionaries (missing keys keep their defaults)."""
    from reidkit.methods import METHODS, get_method

    values = dict(values)
    method = values.get("method", TrainConfig.method)
    if not isinstance(method, str):
        raise TypeError(f"method: expected a method name, got {method!r}")
    get_method(method)  # a clear error for an unknown name
    if "options" in values:
        raise ValueError(f"options: write the method's options under its name, {method!r}")
    options = values.pop(method, {})
    stray = sorted(set(values) & set(METHODS))
    if stray:
        raise ValueError(
            f"{stray[0]}: a section for method {stray[0]!r}, but this configuration's method "
            f"is {method!r}"
        )
    if not isinstance(options, dict):
        raise TypeError(f"{method}: expected a mapping of the method's options, got {options!r}")
    return build(TrainConfig, {**values, "options": options})


def with_overrides(config: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
    """``config`` with ``changes`` (nested mappings or dotted keys, in the YAML form:
    ``{"optim.lr": 3e-4, "baseline": {"loss": {"triplet": "none"}}}``) applied and checked."""
    return config_from_dict(merge(config.to_dict(), changes))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file holding a mapping; errors name the file."""
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
    return values


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training configuration; errors name the file and the key."""
    values = read_yaml(path)
    try:
        return config_from_dict(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def config_from_profile(profile: Any, method: str = "baseline", **changes: Any) -> TrainConfig:
    """The training configuration a profile implies (the demo's and the chapters').

    Data sizes, epochs and the schedule come from the profile; the method's options from its
    ``profile_options`` (model sizes per profile live with the method, not in the profile), and
    what the method's task needs beyond that from its ``profile_config`` (another dataset, say).
    A profile's ``pretrained="auto"`` is decided here (``resolve_pretrained`` prints which)."""
    from reidkit.methods import get_method

    profile = resolve_pretrained(profile)

    config = TrainConfig(
        name=f"demo-{profile.name}",
        epochs=profile.epochs,
        out_dir=str(runs_dir() / f"demo-{profile.name}"),
        method=method,
        options=get_method(method).profile_options(profile),
        data=DataConfig(
            dataset="synthetic",
            img_size=tuple(profile.img_size),
            train_ids=profile.train_ids,
            test_ids=profile.test_ids,
            images_per_camera=profile.images_per_camera,
            ids_per_batch=profile.ids_per_batch,
            images_per_id=profile.images_per_id,
            num_workers=data_workers(profile.num_workers),
            train_on_val=False,  # the val ids select the model (chapter 2: report test once)
        ),
        optim=OptimConfig(lr=profile.lr),
        eval=EvalConfig(every=profile.eval_every, split="val", trials=profile.trials),
    )
    task_config = get_method(method).profile_config
    if task_config is not None:
        config = with_overrides(config, task_config(profile))
    return dataclasses.replace(config, **changes) if changes else config
