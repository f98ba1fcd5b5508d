"""A method defined in this file alone (model + objective + options + registration) trains,
resumes exactly and evaluates through ``reidkit train`` / ``reidkit eval``: adding a method
never edits the engine."""

import json
from dataclasses import dataclass

import pytest
import torch.nn.functional as F
from conftest import tiny_run_yaml
from torch import nn

from reidkit.cli import main
from reidkit.methods import METHODS, Method, get_method, register_method
from reidkit.typed import Checked, bounded


@dataclass
class ToyOptions(Checked):
    width: int = bounded(8, ge=1)
    norm_weight: float = bounded(0.1, ge=0)


class ToyNet(nn.Module):
    """A strided conv, global pooling and a classifier: the smallest re-id model."""

    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(3, width, kernel_size=4, stride=4)
        self.classifier = nn.Linear(width, num_classes)

    def forward_embedding(self, batch):
        return F.relu(self.conv(batch.images)).mean(dim=(2, 3))  # (B, width)

    def forward(self, batch):
        f = self.forward_embedding(batch)
        return {"features": f, "logits": self.classifier(f)}


CRASH = {"at_step": None, "steps": 0}


class ToyObjective:
    """CE plus an extra named term: the mean squared feature, weighted."""

    def __init__(self, options: ToyOptions) -> None:
        self.weight = options.norm_weight

    def __call__(self, outputs, batch, progress):
        CRASH["steps"] += 1
        if CRASH["at_step"] is not None and CRASH["steps"] >= CRASH["at_step"]:
            raise KeyboardInterrupt  # a crash in the middle of training
        ce = F.cross_entropy(outputs["logits"], batch.labels)
        norm = outputs["features"].pow(2).mean()
        return {"loss": ce + self.weight * norm, "ce": ce, "feature_norm": norm}


@pytest.fixture()
def toy_method():
    register_method(
        Method(
            name="toy",
            task="visible-infrared",
            options=ToyOptions,
            build_model=lambda config, n: ToyNet(config.options.width, n),
            build_objective=lambda config: ToyObjective(config.options),
            sampler="cross_modal",
        )
    )
    yield get_method("toy")
    del METHODS["toy"]
    CRASH.update(at_step=None, steps=0)


TOY = tiny_run_yaml({"method": "toy", "seed": 2, "toy": {"width": 6, "norm_weight": 0.5}})


def read_log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_toy_method_trains_resumes_and_evaluates(tmp_path, monkeypatch, toy_method, capsys):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "toy.yaml"
    config.write_text(TOY)
    straight = tmp_path / "straight"
    assert main(["train", str(config), "--out", str(straight), "--no-progress"]) == 0
    log = read_log(straight)
    train = [r for r in log if r["kind"] == "train"]
    assert train and all(
        r["loss"] == pytest.approx(r["ce"] + 0.5 * r["feature_norm"]) for r in train
    )
    epochs = [r for r in log if r["kind"] == "epoch"]
    assert all("feature_norm" in r for r in epochs)  # every term is summarised per epoch
    assert [r["epoch"] for r in log if r["kind"] == "eval"] == [1, 2]

    steps = len(train)
    CRASH.update(at_step=steps // 2 + 2, steps=0)  # into the second epoch
    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        main(["train", str(config), "--out", str(interrupted), "--no-progress"])
    CRASH.update(at_step=None)
    assert main(["train", str(config), "--out", str(interrupted), "--resume", "--no-progress"]) == 0
    resumed = read_log(interrupted)
    keys = ("epoch", "step", "loss", "ce", "feature_norm", "lr")
    assert [tuple(r[k] for k in keys) for r in resumed if r["kind"] == "train"] == [
        tuple(r[k] for k in keys) for r in train
    ]
    evals = [r for r in resumed if r["kind"] == "eval"]
    assert evals == [r for r in log if r["kind"] == "eval"]

    capsys.readouterr()
    assert main(["eval", str(interrupted), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == pytest.approx({k: evals[-1][k] for k in metrics}, abs=1e-9)
    assert set(metrics) >= {"R1", "mAP", "mINP"}


def test_unknown_method_and_option_are_named(tmp_path, toy_method, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("method: toys\n")
    assert main(["train", str(config)]) == 2
    registered = str(sorted(METHODS))  # the built-in methods and 'toy'
    assert "'toy'" in registered and "'baseline'" in registered
    assert f"unknown method 'toys'; registered: {registered}" in capsys.readouterr().err
    config.write_text("method: toy\ntoy:\n  depth: 3\n")
    assert main(["train", str(config)]) == 2
    assert "toy.depth: unknown key; expected one of ['norm_weight', 'width']" in (
        capsys.readouterr().err
    )
    config.write_text("method: toy\ntoy:\n  width: 0\n")
    assert main(["train", str(config)]) == 2
    assert "toy.width: must be >= 1, got 0" in capsys.readouterr().err


def test_registering_twice_needs_replace(toy_method):
    with pytest.raises(ValueError, match="already registered"):
        register_method(toy_method)
    assert register_method(toy_method, replace=True) is toy_method
    with pytest.raises(ValueError, match="task 'audio'"):
        Method("x", "audio", ToyOptions, lambda c, n: None, lambda c: None)


def test_a_method_for_another_task_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    register_method(
        Method("texty", "text-image", ToyOptions, lambda c, n: None, lambda c: None),
    )
    try:
        config = tmp_path / "t.yaml"
        config.write_text(TOY.replace("method: toy", "method: texty").replace("toy:", "texty:"))
        assert main(["train", str(config), "--no-progress"]) == 2
        assert "method 'texty' is for text-image data" in capsys.readouterr().err
    finally:
        del METHODS["texty"]
