"""``reidkit train CONFIG`` then ``reidkit eval RUN`` on a tiny synthetic configuration."""

import json

import pytest
from conftest import tiny_run_yaml

from reidkit.cli import main

TINY = tiny_run_yaml(
    {
        "name": "tiny",
        "baseline": {"model": {"backbone": "vit_nano"}, "loss": {"triplet_start_epoch": 1.0}},
    }
)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))


def test_train_then_eval(tmp_path, cache, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2]
    first_epoch = [r for r in log if r["kind"] == "train" and r["epoch"] == 1]
    assert all(r["loss"] == r["ce"] for r in first_epoch)  # the triplet starts at epoch 1.0
    capsys.readouterr()
    assert main(["eval", str(run), "--trials", "2", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == pytest.approx({k: evals[-1][k] for k in metrics}, abs=1e-9)


def test_train_reports_bad_configs(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("epochs: 2\ndata:\n  img_size: 64\n")
    assert main(["train", str(config)]) == 2
    assert "data.img_size: expected a list of 2 values" in capsys.readouterr().err
    real = tmp_path / "real.yaml"
    real.write_text("data:\n  dataset: sysu\n  root: $REIDKIT_TEST_UNSET_VARIABLE/SYSU-MM01\n")
    assert main(["train", str(real)]) == 2
    assert "environment variable in it is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: 0\n", "epochs: must be >= 1, got 0"),
        ("epochs: -3\n", "epochs: must be >= 1, got -3"),
        ("optim:\n  lr: -1\n", "optim.lr: must be > 0"),
        ("data:\n  dataset: imagenet\n", "data.dataset: unknown 'imagenet'"),
    ],
)
def test_train_refuses_out_of_range_values(tmp_path, capsys, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err


def test_command_line_overrides_are_checked(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    assert main(["train", str(config), "--set", "optim.lrr=1"]) == 2
    assert "optim.lrr: unknown key" in capsys.readouterr().err
    assert main(["train", str(config), "--set", "epochs"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main(["train", str(config), "--epochs", "0"]) == 2
    assert "epochs: must be >= 1, got 0" in capsys.readouterr().err
