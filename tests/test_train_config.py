"""Typed training configurations: YAML round trip, defaults, and errors that name the key."""

from pathlib import Path

import pytest

from reidkit.profiles import get_profile
from reidkit.train import config_from_dict, config_from_profile, load_config
from reidkit.train.schedule import lr_factor

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_load(path):
    config = load_config(path)
    assert config.epochs > 0 and len(config.data.img_size) == 2


def test_values_are_typed_and_defaults_kept():
    config = config_from_dict({"epochs": 3, "data": {"img_size": [64, 32]}, "optim": {"lr": 1}})
    assert config.data.img_size == (64, 32)
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.loss.label_smoothing == 0.1
    assert config_from_dict({"optim": {"grad_clip": None}}).optim.grad_clip is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epoch": 3}, r"epoch: unknown key; expected one of \[.*'epochs'"),
        ({"data": {"batch": 3}}, r"data\.batch: unknown key"),
        ({"epochs": "ten"}, r"epochs: expected int, got 'ten'"),
        ({"epochs": 2.5}, r"epochs: expected int"),
        ({"data": {"img_size": [64]}}, r"data\.img_size: expected a list of 2 values"),
        ({"model": {"modality_patch_embed": "yes"}}, r"model\.modality_patch_embed: expected bool"),
        ({"optim": {"lr": "fast"}}, r"optim\.lr: expected float"),
        ({"optim": "adamw"}, r"optim: expected a mapping of OptimConfig fields"),
        ({"loss": {"triplet": "hardest"}}, r"loss\.triplet: 'hardest' is not one of"),
    ],
)
def test_bad_values_name_the_key_and_the_type(values, message):
    with pytest.raises((TypeError, ValueError), match=message):
        config_from_dict(values)


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 2\nmodel:\n  vit: vit_nano\n  depth: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: model\.depth: unknown key"):
        load_config(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_profile_config_follows_the_profile():
    profile = get_profile("smoke")
    config = config_from_profile(profile)
    assert config.epochs == profile.epochs and config.data.img_size == profile.img_size
    assert config.model.vit == profile.backbone and config.eval.trials == profile.trials


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
    from reidkit.train.engine import triplet_weight

    loss = config_from_dict({"loss": {"triplet_weight": 0.5, "triplet_start_epoch": 2.0}}).loss
    assert [triplet_weight(loss, p) for p in (0.0, 1.99, 2.0, 5.0)] == [0.0, 0.0, 0.5, 0.5]
    assert triplet_weight(config_from_dict({}).loss, 0.0) == 1.0
