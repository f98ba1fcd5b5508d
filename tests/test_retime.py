"""``reidkit ablate --retime``: finished runs are timed again and their lines rewritten."""

from __future__ import annotations

import datetime
import json

import pytest
import torch

from reidkit.cli import main
from reidkit.profiles import get_profile
from reidkit.train.ablate import read_results, spec_summary
from reidkit.train.ablation_spec import RESULTS, SPEC_COPY, AblationError, parse_spec, plan_runs
from reidkit.train.config import config_from_profile
from reidkit.train.measure import device_name
from reidkit.train.retime import retime_runs
from reidkit.viz.ablation import ablation_markdown

OLD_MS = {"1": 999.0, "2": 999.0}


def grid_values() -> dict:
    """Two rows x two seeds of the smoke profile, timed at batches 1 and 2."""
    return {
        "base": config_from_profile(get_profile("smoke"), epochs=1).to_dict(),
        "rows": {"baseline": {}, "no triplet": {"baseline.loss.triplet": "none"}},
        "seeds": [0, 1],
        "timing": {"batch_sizes": [1, 2], "warmup": 0, "repeats": 1},
    }


@pytest.fixture()
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield parse_spec(grid_values(), out=str(tmp_path / "grid"))
    torch.set_num_threads(threads)


def finished_line(run, **changes) -> dict:
    """A results line as the runner writes it, measured on some other, busy machine."""
    line = {
        "row": run.row.name,
        "seed": run.seed,
        "config_hash": run.config_hash,
        "metrics": {"R1": 0.5, "mAP": 0.4},
        "params": 2_000_000,
        "params_inference": 1_000_000,
        "ms_per_image": dict(OLD_MS),
        "train_seconds": 10.0,
        "device": "cpu (Some CPU, 1 thread)",
        "run_dir": f"{run.row.slug}/seed-{run.seed}",
    }
    return {**line, **changes}


def write_lines(spec, lines) -> None:
    """The folder of a part-finished grid: its spec copy and these lines."""
    spec.out.mkdir(parents=True, exist_ok=True)
    (spec.out / SPEC_COPY).write_text(json.dumps(spec_summary(spec, plan_runs(spec))))
    (spec.out / RESULTS).write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_finished_runs_are_timed_again_and_the_rest_named(spec):
    runs = plan_runs(spec)  # baseline 0, baseline 1, no triplet 0, no triplet 1
    write_lines(spec, [finished_line(runs[0]), finished_line(runs[2])])
    log: list[str] = []
    new = retime_runs(spec, log=log.append)
    assert log[1] == "[2/4] baseline, seed 1: not finished, not timed"
    assert log[3] == "[4/4] no triplet, seed 1: not finished, not timed"
    here = device_name(torch.device("cpu"))
    assert log[0].startswith("[1/4] baseline, seed 0: ") and log[0].endswith(f"on {here}")
    lines = read_results(spec.out / RESULTS)
    assert [(x["row"], x["seed"]) for x in lines] == [("baseline", 0), ("no triplet", 0)]
    assert new == lines
    for line in lines:
        assert set(line["ms_per_image"]) == {"1", "2"}
        assert all(0 < v < OLD_MS[b] for b, v in line["ms_per_image"].items())
        assert line["ms_per_image_after_training"] == OLD_MS
        assert line["device"] == here
        assert line["retimed"] == datetime.date.today().isoformat()
        assert line["metrics"] == {"R1": 0.5, "mAP": 0.4}  # nothing else changes
    table = (spec.out / "table.md").read_text()
    assert "ms/img of every run: timed again after training, one run at a time" in table
    assert f"Measured on {here}." in table

    retime_runs(spec, rows=["baseline"], seeds=[0], log=lambda _: None)
    again = read_results(spec.out / RESULTS)
    assert again[0]["ms_per_image_after_training"] == OLD_MS  # the first time is kept
    assert again[1] == lines[1]  # not selected, not touched


def test_the_table_says_how_many_runs_were_timed_again(spec):
    runs = plan_runs(spec)
    lines = [finished_line(runs[0], retimed="2026-12-03"), finished_line(runs[1])]
    assert "ms/img of 1 of 2 runs: timed again" in ablation_markdown(lines)
    assert "timed again" not in ablation_markdown([finished_line(runs[1])])


def test_a_run_of_another_configuration_is_not_timed(spec):
    write_lines(spec, [finished_line(plan_runs(spec)[0], config_hash="older")])
    with pytest.raises(AblationError, match=r"'baseline' seed 0 ran with another configuration"):
        retime_runs(spec, log=lambda _: None)
    assert read_results(spec.out / RESULTS)[0]["ms_per_image"] == OLD_MS


def test_nothing_finished_is_an_error_naming_the_folder(spec):
    with pytest.raises(AblationError, match=r"grid: no results.jsonl; nothing has finished"):
        retime_runs(spec, log=lambda _: None)


def test_cli_retime(spec, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({**grid_values(), "out": str(spec.out)}))  # JSON is YAML
    write_lines(spec, [finished_line(run) for run in plan_runs(spec)])
    with pytest.raises(SystemExit, match="--retime trains nothing"):
        main(["ablate", str(path), "--retime", "--dry-run"])
    assert main(["ablate", str(path), "--retime", "--rows", "no triplet"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] no triplet, seed 0:" in out and "ms/img of 2 of 4 runs: timed again" in out
