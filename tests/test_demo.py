"""The demo end to end in the smoke profile (seconds), and ``reidkit eval`` on its run."""

import json

import pytest

from reidkit.cli import main
from reidkit.train.report import METRIC_KEYS, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import os

    cache = tmp_path_factory.mktemp("cache")
    before = os.environ.get("REIDKIT_CACHE")
    os.environ["REIDKIT_CACHE"] = str(cache)
    try:
        yield run_demo("smoke", tmp_path_factory.mktemp("demo") / "report", progress=False)
    finally:
        if before is None:
            os.environ.pop("REIDKIT_CACHE")
        else:
            os.environ["REIDKIT_CACHE"] = before


def test_demo_writes_the_report(demo):
    for name in ("metrics.md", "metrics.json", "report.html", "metrics.jsonl"):
        assert (demo.out_dir / name).is_file(), name
    summary = json.loads((demo.out_dir / "metrics.json").read_text())
    assert summary["profile"] == "smoke"
    assert summary["protocol"]["direction"] == "IR->visible"
    for row in (summary["baseline"], summary["raw_pixels"]):
        assert set(METRIC_KEYS) <= set(row)
        assert all(0.0 <= row[k] <= 1.0 for k in METRIC_KEYS)
        assert row["R1"] <= row["R5"] <= row["R10"]
    html = (demo.out_dir / "report.html").read_text()
    assert html.count("<script") >= 2 and "Plotly" in html
    assert "| raw pixels (chapter 1) |" in (demo.out_dir / "metrics.md").read_text()


def test_eval_command_reproduces_the_demo_metrics(demo, capsys):
    trials = json.loads((demo.out_dir / "metrics.json").read_text())["protocol"]["trials"]
    assert main(["eval", str(demo.out_dir), "--trials", str(trials), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {k: metrics[k] for k in demo.metrics} == pytest.approx(demo.metrics, abs=1e-9)


def test_eval_command_errors_are_clear(demo, tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing.safetensors")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["eval", str(demo.out_dir), "--protocol", "v2i"]) == 2
    assert "does not apply to synthetic" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_named(demo, tmp_path, capsys):
    damaged = tmp_path / "epoch-0001.safetensors"
    damaged.write_bytes(b"\x00" * 12 + b"not a safetensors file")
    assert main(["eval", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert str(damaged) in err and "not a readable safetensors checkpoint" in err
    weights = next((demo.out_dir / "checkpoints").glob("*.safetensors"))
    truncated = tmp_path / weights.name
    truncated.write_bytes(weights.read_bytes()[:-100])
    assert main(["eval", str(truncated)]) == 2
    assert str(truncated) in capsys.readouterr().err


def test_eval_uses_the_epoch_selected_on_validation(demo, capsys):
    """``reidkit eval RUN`` takes the selected weights; ``--split val`` gives that epoch's
    validation metrics as training logged them."""
    log = [json.loads(line) for line in (demo.out_dir / "metrics.jsonl").read_text().splitlines()]
    test = next(r for r in log if r["kind"] == "test")
    validation = next(r for r in log if r["kind"] == "eval" and r["epoch"] == test["epoch"])
    assert main(["eval", str(demo.out_dir), "--split", "val", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == pytest.approx({k: validation[k] for k in metrics}, abs=1e-9)
