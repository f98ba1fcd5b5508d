"""Typed training configurations: YAML round trip, defaults, and errors that name the key."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from reidkit.profiles import get_profile
from reidkit.train import config_from_dict, config_from_profile, load_config, with_overrides
from reidkit.train.schedule import lr_factor
from reidkit.typed import Checked, bounded, build, merge

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_load(path):
    config = load_config(path)
    assert config.epochs > 0 and len(config.data.img_size) == 2


def test_values_are_typed_and_defaults_kept():
    config = config_from_dict({"epochs": 3, "data": {"img_size": [64, 32]}, "optim": {"lr": 1}})
    assert config.data.img_size == (64, 32)
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.options.loss.label_smoothing == 0.1  # the method's defaults
    assert config_from_dict({"optim": {"grad_clip": None}}).optim.grad_clip is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epoch": 3}, r"epoch: unknown key; expected one of \[.*'epochs'"),
        ({"data": {"batch": 3}}, r"data\.batch: unknown key"),
        ({"epochs": "ten"}, r"epochs: expected int, got 'ten'"),
        ({"epochs": 2.5}, r"epochs: expected int"),
        ({"data": {"img_size": [64]}}, r"data\.img_size: expected a list of 2 values"),
        (
            {"baseline": {"model": {"modality_patch_embed": "yes"}}},
            r"baseline\.model\.modality_patch_embed: expected bool",
        ),
        ({"optim": {"lr": "fast"}}, r"optim\.lr: expected float"),
        ({"optim": "adamw"}, r"optim: expected a mapping of OptimConfig fields"),
        ({"baseline": {"loss": {"triplet": "hardest"}}}, r"triplet: 'hardest' is not one of"),
        ({"optim": {"optimizer": "adam"}}, r"optim\.optimizer: 'adam' is not one of"),
        ({"model": {"vit": "vit_nano"}}, r"model: unknown key"),
        ({"method": "magic"}, r"method: unknown method 'magic'; registered: \[.*'baseline'"),
        ({"options": {}}, r"options: write the method's options under its name"),
        # ranges
        ({"epochs": 0}, r"epochs: must be >= 1, got 0"),
        ({"epochs": -3}, r"epochs: must be >= 1, got -3"),
        ({"optim": {"lr": -1}}, r"optim\.lr: must be > 0, got -1"),
        ({"optim": {"momentum": 1.0}}, r"optim\.momentum: must be < 1"),
        ({"data": {"ids_per_batch": 1}}, r"data\.ids_per_batch: must be >= 2, got 1"),
        ({"data": {"img_size": [64, 0]}}, r"data\.img_size: must be >= 16, got \(64, 0\)"),
        ({"data": {"grayscale": 1.5}}, r"data\.grayscale: must be <= 1"),
        ({"eval": {"trials": 0}}, r"eval\.trials: must be >= 1, got 0"),
        ({"baseline": {"loss": {"margin": -0.1}}}, r"baseline\.loss\.margin: must be >= 0"),
        ({"baseline": {"loss": {"label_smoothing": 1}}}, r"label_smoothing: must be < 1"),
    ],
)
def test_bad_values_name_the_key_and_the_type(values, message):
    with pytest.raises((TypeError, ValueError), match=message):
        config_from_dict(values)


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 2\nbaseline:\n  model:\n    backbone: vit_nano\n    depth: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: baseline\.model\.depth: unknown key"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_profile_config_follows_the_profile():
    profile = get_profile("smoke")
    config = config_from_profile(profile)
    assert config.epochs == profile.epochs and config.data.img_size == profile.img_size
    assert config.options.model.backbone == profile.backbone
    assert config.eval.trials == profile.trials
    assert config.options.loss.triplet_start_epoch == profile.epochs / 4


def test_schedule_warms_up_then_decays():
    optim = config_from_dict({"optim": {"warmup_epochs": 2.0, "min_lr_ratio": 0.0}}).optim
    assert lr_factor(0.0, 10, optim) == pytest.approx(0.01)
    assert lr_factor(1.0, 10, optim) == pytest.approx(0.505)
    assert lr_factor(2.0, 10, optim) == pytest.approx(1.0)
    assert lr_factor(6.0, 10, optim) == pytest.approx(0.5)  # halfway down the cosine
    assert lr_factor(10.0, 10, optim) == pytest.approx(0.0, abs=1e-12)
    step = config_from_dict(
        {"optim": {"schedule": "step", "warmup_epochs": 0.0, "step_epochs": 4, "gamma": 0.1}}
    ).optim
    assert [lr_factor(e, 12, step) for e in (0, 3.9, 4, 8.5)] == pytest.approx([1, 1, 0.1, 0.01])


def test_triplet_loss_starts_at_its_epoch():
    from reidkit.methods.baseline import BaselineObjective

    loss = config_from_dict(
        {"baseline": {"loss": {"triplet_weight": 0.5, "triplet_start_epoch": 2.0}}}
    ).options.loss
    objective = BaselineObjective(loss)
    assert [objective.triplet_weight(p) for p in (0.0, 1.99, 2.0, 5.0)] == [0.0, 0.0, 0.5, 0.5]
    assert BaselineObjective(config_from_dict({}).options.loss).triplet_weight(0.0) == 1.0


def test_round_trip_and_overrides():
    config = config_from_dict({"epochs": 3, "baseline": {"loss": {"triplet": "none"}}})
    again = config_from_dict(json.loads(config.to_json()))
    assert again == config and again.to_dict()["baseline"]["loss"]["triplet"] == "none"
    changed = with_overrides(
        config, {"optim.lr": 3e-4, "baseline": {"model": {"backbone": "vit_nano"}}}
    )
    assert changed.optim.lr == 3e-4 and changed.options.model.backbone == "vit_nano"
    assert changed.options.loss.triplet == "none"  # a nested override merges, not replaces
    assert config.optim.lr == 1e-3  # the original is untouched
    with pytest.raises(ValueError, match=r"optim\.lrr: unknown key"):
        with_overrides(config, {"optim.lrr": 1.0})
    with pytest.raises(ValueError, match=r"regdb: a section for method 'regdb'|unknown key"):
        with_overrides(config, {"regdb": {}})


def test_a_section_for_another_method_is_an_error():
    from reidkit.methods import METHODS, Method, register_method
    from reidkit.methods.baseline import BaselineOptions

    name = "config_test_method"
    register_method(
        Method(name, "visible-infrared", BaselineOptions, lambda c, n: None, lambda c: None)
    )
    try:
        with pytest.raises(ValueError, match=rf"{name}: a section for method '{name}'"):
            config_from_dict({"method": "baseline", name: {}})
    finally:
        del METHODS[name]


@dataclass
class Example(Checked):
    names: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    kind: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1,)
    ratio: float | None = bounded(None, gt=0, le=1)


def test_the_converter_reads_lists_mappings_and_literals():
    example = build(
        Example,
        {"names": ["x", "y"], "weights": {"ce": 1, "tri": 0.5}, "kind": "b", "sizes": [2, 3, 4]},
    )
    assert example.names == ["x", "y"] and example.weights == {"ce": 1.0, "tri": 0.5}
    assert example.kind == "b" and example.sizes == (2, 3, 4) and example.ratio is None
    for values, message in [
        ({"names": "x"}, r"names: expected a list"),
        ({"names": [1]}, r"names\[0\]: expected str"),
        ({"weights": {"ce": "high"}}, r"weights\.ce: expected float"),
        ({"kind": "c"}, r"kind: 'c' is not one of \['a', 'b'\]"),
        ({"ratio": 0}, r"ratio: must be > 0, got 0"),
        ({"ratio": 2.0}, r"ratio: must be <= 1"),
    ]:
        with pytest.raises((TypeError, ValueError), match=message):
            build(Example, values)


def test_merge_reaches_into_nested_mappings():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge(base, {"a.b": 5}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert merge(base, {"a": {"c": 7}, "e": 1}) == {"a": {"b": 1, "c": 7}, "d": 3, "e": 1}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def test_data_workers_never_exceed_the_cpus():
    from reidkit.profiles import data_workers

    assert data_workers(4, cpus=2) == 1  # Colab: two vCPUs, one for the training process
    assert data_workers(4, cpus=16) == 4
    assert data_workers(0, cpus=16) == 0
    assert data_workers(4, cpus=1) == 0
    full = config_from_profile(get_profile("full"))
    assert full.data.num_workers == data_workers(get_profile("full").num_workers)
