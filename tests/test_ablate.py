"""The ablation runner: spec errors, mean ± std tables, resume, and a kill in the middle."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import plotly.io as pio
import pytest
import torch
from torch import nn

from reidkit.cli import main
from reidkit.profiles import get_profile
from reidkit.train.ablate import final_metrics, read_results, run_ablation, run_lock
from reidkit.train.ablation_spec import (
    RESULTS,
    AblationError,
    load_spec,
    parse_spec,
    plan_runs,
    slugify,
    values_hash,
)
from reidkit.train.config import config_from_profile
from reidkit.train.measure import (
    count_parameters,
    cpu_model,
    device_name,
    embedding_parameters,
    image_modalities,
    inference_ms,
)
from reidkit.viz.ablation import (
    ablation_figure,
    ablation_markdown,
    ablation_table,
    format_mean_std,
    mean_std,
    summarize,
)

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "ablations" / "smoke.yaml"
ROWS = """
rows:
  - name: baseline
  - name: no triplet
    overrides: {baseline.loss.triplet: none}
"""


@pytest.fixture()
def one_thread():
    """Smoke models are tiny: one thread trains them fastest, and a second one only spins
    against other processes on a busy 2-core machine (measured: 4 s instead of 60 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: {}\nseeds: [0]\nseedz: [1]\n" + ROWS, "seedz: unknown key; expected one of"),
        ("base: {}\n" + ROWS, "seeds: missing"),
        ("base: {}\nseeds: [0]\nrows: []\n", "rows: expected a non-empty list"),
        ("base: {}\nseeds: []\n" + ROWS, "seeds: expected distinct seeds"),
        ("base: {}\nseeds: [0, 0]\n" + ROWS, "seeds: expected distinct seeds"),
        ("base: {}\nseeds: [0]\nrows: [{name: a}, {name: a}]\n", "rows[1] 'a': same name"),
        ("base: {}\nseeds: [0]\nrows: {a: {}, a: {}}\n", "key 'a' given twice"),
        (
            "base: {}\nseeds: [0]\nrows: {a: {}, bad: {data.augmentt: trivial}}\n",
            "rows[1] 'bad': data.augmentt: unknown key",
        ),
        (
            "base: {}\nseeds: [0]\nrows: {x: {baseline.loss.triplet: nonee}}\n",
            "rows[0] 'x': baseline.loss.triplet: 'nonee' is not one of",
        ),
        ("base: {}\nseeds: [0]\nrows: {x: {seed: 3}}\n", "rows[0] 'x': seed is set by the runner"),
        ("base: {epochs: 0}\nseeds: [0]\n" + ROWS, "base.epochs: must be >= 1"),
        ("base: missing.yaml\nseeds: [0]\n" + ROWS, "config file not found"),
        ("base: profile:huge\nseeds: [0]\n" + ROWS, "base: unknown profile 'huge'"),
        (
            "base: {}\nseeds: [0]\npaper: {source: T1, rows: {ghost: {R1: 1}}}\n" + ROWS,
            "paper.rows.ghost: not a row of this spec",
        ),
        ("base: {}\nseeds: [0]\nmetrics: [R1, R1]\n" + ROWS, "metrics: expected distinct"),
        ("base: {}\nseeds: [0]\noverrides: {epochz: 2}\n" + ROWS, "overrides: epochz: unknown"),
    ],
)
def test_spec_errors_name_the_key(tmp_path, text, message):
    path = write_spec(tmp_path, text)
    with pytest.raises(AblationError) as error:
        load_spec(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_cli_reports_a_bad_spec(tmp_path, capsys):
    path = write_spec(tmp_path, "base: {}\nseeds: [0]\nrows: {x: {optim.lr: -1}}\n")
    assert main(["ablate", str(path)]) == 2
    assert "rows[0] 'x': optim.lr: must be > 0" in capsys.readouterr().err


def test_both_row_forms_and_folders(tmp_path):
    listed = parse_spec({"base": {}, "seeds": [0], **_rows_list()}, out=str(tmp_path))
    mapped = parse_spec(
        {"base": {}, "seeds": [0], "rows": {"baseline": None, "no triplet": _no_triplet()}},
        out=str(tmp_path),
    )
    assert [(r.name, r.slug, r.overrides) for r in listed.rows] == [
        (r.name, r.slug, r.overrides) for r in mapped.rows
    ]
    assert [r.slug for r in listed.rows] == ["baseline", "no-triplet"]
    assert listed.rows[1].config.options.loss.triplet == "none"
    assert slugify("+TA") == "plus-ta"


def _no_triplet() -> dict:
    return {"baseline.loss.triplet": "none"}


def _rows_list() -> dict:
    return {"rows": [{"name": "baseline"}, {"name": "no triplet", "overrides": _no_triplet()}]}


def test_spec_overrides_reach_every_row_and_a_rows_method_gets_its_profile_sizes(tmp_path):
    values = {
        "base": "profile:smoke",
        "method": "text_baseline",
        "overrides": {"epochs": 3, "optim.lr": 5e-4},
        "seeds": [0],
        "rows": {
            "global": {},
            "acsa": {"method": "acsa"},
            "big": {"method": "acsa", "acsa.model.local_dim": 64},
        },
    }
    spec = parse_spec(values, out=str(tmp_path))
    smoke = get_profile("smoke")
    for row in spec.rows:
        assert row.config.epochs == 3 and row.config.optim.lr == 5e-4
        assert row.config.data.dataset == "synthetic-pedes"  # the text task's data
    acsa = config_from_profile(smoke, method="acsa").options
    assert spec.rows[1].config.options == acsa  # the smoke sizes, not the dataclass defaults
    assert spec.rows[1].config.options.model.backbone == smoke.backbone
    assert spec.rows[2].config.options.model.local_dim == 64


def test_smoke_spec_is_the_smoke_profile():
    spec = load_spec(SMOKE)
    profile = config_from_profile(get_profile("smoke"))
    assert values_hash(spec.base.to_dict()) == values_hash(profile.to_dict())
    assert [r.name for r in spec.rows] == ["baseline", "no triplet"] and spec.seeds == [0, 1]


def test_mean_std_on_hand_values():
    mean, std = mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and std == pytest.approx(math.sqrt(5 / 3))
    assert mean_std([5.0])[0] == 5.0 and math.isnan(mean_std([5.0])[1])
    assert format_mean_std({"mean": 64.876, "std": 1.2}) == "64.88 ± 1.20"
    assert format_mean_std({"mean": 64.876, "std": None}) == "64.88"


def record(row: str, seed: int, r1: float, m_ap: float) -> dict:
    return {
        "row": row,
        "seed": seed,
        "config_hash": "x",
        "metrics": {"R1": r1, "mAP": m_ap},
        "params": 1_500_000,
        "params_inference": 1_000_000,
        "ms_per_image": {"1": 2.0 + seed, "64": 0.5},
        "train_seconds": 10.0,
    }


RECORDS = [record("base", 0, 0.60, 0.50), record("base", 1, 0.70, 0.54), record("+TA", 0, 0.8, 0.6)]
PAPER = {"source": "Seed 002, Table 3", "rows": {"base": {"R1": 64.88, "mAP": 64.46}}}


def test_summary_and_table_against_the_paper():
    base, ta = summarize(RECORDS, ["base", "+TA"], ["R1", "mAP"])
    assert base["n"] == 2 and base["seeds"] == [0, 1]
    assert base["metrics"]["R1"]["mean"] == pytest.approx(65.0)
    assert base["metrics"]["R1"]["std"] == pytest.approx(math.sqrt(50.0))  # (5² + 5²) / (2 - 1)
    assert ta["n"] == 1 and ta["metrics"]["mAP"]["std"] is None
    frame = ablation_table(RECORDS, paper=PAPER)
    assert list(frame.columns) == [
        "row", "n", "R1 (ours)", "R1 (paper)", "mAP (ours)", "mAP (paper)",
        "params (M)", "ms/img b1", "ms/img b64",
    ]  # fmt: skip
    assert frame["R1 (ours)"].tolist() == ["65.00 ± 7.07", "80.00"]
    assert frame["R1 (paper)"].tolist() == ["64.88", "—"]
    assert frame["params (M)"].tolist() == ["1.00", "1.00"]
    assert frame["ms/img b1"].tolist() == ["2.50 ± 0.71", "2.00"]
    text = ablation_markdown(RECORDS, paper=PAPER)
    assert "| base | 2 | 65.00 ± 7.07 | 64.88 |" in text
    assert "(paper): typed in from Seed 002, Table 3." in text


def test_the_table_names_the_devices_that_measured_it():
    one = [{**r, "device": "cpu (AMD EPYC, 1 thread)"} for r in RECORDS]
    assert "Measured on cpu (AMD EPYC, 1 thread)." in ablation_markdown(one)
    two = [{**one[0], "device": "cuda (NVIDIA T4)"}, *one[1:]]
    assert (
        "Measured on several devices: cuda (NVIDIA T4) (1 run), cpu (AMD EPYC, 1 thread) (2 runs)"
        in ablation_markdown(two)
    )


def test_device_name_names_the_cpu_and_threads(one_thread):
    name = device_name(torch.device("cpu"))
    assert name == f"cpu ({cpu_model()}, 1 thread)" and cpu_model()


def test_figure_has_error_bars_and_the_paper():
    figure = ablation_figure(RECORDS, paper=PAPER, metrics=["R1"])
    bars, seeds, paper = figure.data
    assert list(bars.x) == ["base", "+TA"] and list(bars.y) == pytest.approx([65.0, 80.0])
    assert list(bars.error_y.array) == pytest.approx([math.sqrt(50.0), 0.0])
    assert sorted(seeds.y) == pytest.approx([60.0, 70.0, 80.0])
    assert paper.name == "paper: Seed 002, Table 3" and list(paper.y) == [64.88]


def test_final_metrics_prefer_the_selected_models_test():
    history = [
        {"kind": "eval", "epoch": 1, "R1": 0.1},
        {"kind": "eval", "epoch": 2, "R1": 0.2},
        {"kind": "test", "epoch": 1, "selected_by": "mAP on validation", "R1": 0.3},
    ]
    assert final_metrics(history, 2, Path("run")) == ({"R1": 0.3}, "test at epoch 1")
    assert final_metrics(history[:2], 2, Path("run")) == ({"R1": 0.2}, "eval at epoch 2")
    with pytest.raises(AblationError, match="run: no evaluation after the last epoch"):
        final_metrics(history[:1], 2, Path("run"))


class Toy(nn.Module):
    """An embedding layer and a classifier that only training uses."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.classifier = nn.Linear(3 * 4 * 2, 5), nn.Linear(5, 7)

    def forward_embedding(self, batch) -> torch.Tensor:
        return self.embed(batch.images.flatten(1))  # (B, 3 * H * W) -> (B, 5)


def test_parameter_counts_and_timing():
    model = Toy().train()
    model.classifier.requires_grad_(False)
    assert count_parameters(model) == 24 * 5 + 5 + 5 * 7 + 7
    assert embedding_parameters(model, (4, 2), torch.device("cpu")) == 24 * 5 + 5
    assert model.training and not model.classifier.weight.requires_grad  # left as it was
    assert all(p.grad is None for p in model.parameters())
    assert inference_ms(model, (4, 2), 3, torch.device("cpu"), warmup=1, repeats=2) > 0
    assert model.training


class XrayBranch(Toy):
    """A shift that only X-ray images get (as CAST's X-ray branch)."""

    def __init__(self) -> None:
        super().__init__()
        self.xray_shift = nn.Parameter(torch.zeros(5))

    def forward_embedding(self, batch) -> torch.Tensor:
        xray = (batch.modalities == 2).nonzero().flatten()  # reidkit.data.MODALITIES
        out = super().forward_embedding(batch)  # (B, 5)
        if not len(xray):
            return out
        return out.index_add(0, xray, self.xray_shift.expand(len(xray), 5))


def test_embedding_parameters_count_the_branches_of_the_given_modalities():
    from reidkit.data.records import Record

    records = [Record(p, 0, 1, m) for p, m in (("a", "visible"), ("b", "xray"), ("c", "text"))]
    assert image_modalities(records + records[:1]) == ("visible", "xray")
    model, cpu = XrayBranch(), torch.device("cpu")
    assert embedding_parameters(model, (4, 2), cpu) == 24 * 5 + 5  # visible + infrared
    assert embedding_parameters(model, (4, 2), cpu, ("visible", "xray")) == 24 * 5 + 5 + 5


class Interrupt(Exception):
    pass


def stop_at_epoch(epoch: int):
    def callback(entry: dict) -> None:
        if entry.get("kind") == "eval" and entry["epoch"] == epoch:
            raise Interrupt  # before this epoch's checkpoint is written

    return callback


def test_resume_and_changed_spec(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    base = config_from_profile(get_profile("smoke"), epochs=2).to_dict()  # the inline form
    values = {"base": base, "timing": {"batch_sizes": [1, 4], "warmup": 0, "repeats": 1}}
    spec = parse_spec({**values, "rows": {"baseline": {}}, "seeds": [3]}, out=str(tmp_path / "a"))
    with pytest.raises(Interrupt):
        run_ablation(spec, progress=False, log=lambda _: None, callbacks=[stop_at_epoch(2)])
    folder = tmp_path / "a" / "baseline" / "seed-3"
    first = folder / "checkpoints" / "epoch-0001.safetensors"
    stamp = first.stat().st_mtime_ns
    lines: list[str] = []
    (done,) = run_ablation(spec, progress=False, log=lines.append)
    assert "resuming after epoch 1" in lines[0]
    assert first.stat().st_mtime_ns == stamp  # epoch 1 was not trained again
    log = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == [1, 2]
    assert (done["metrics"], done["metrics_from"]) == final_metrics(log, 2, folder)
    assert done["resumed_after_epoch"] == 1
    changed = parse_spec(
        {**values, "rows": {"baseline": _no_triplet()}, "seeds": [3]}, out=str(tmp_path / "a")
    )
    with pytest.raises(AblationError, match="changed the configuration of 'baseline' seed 3"):
        run_ablation(changed, progress=False, log=lambda _: None)
    (redone,) = run_ablation(changed, progress=False, rerun_changed=True, log=lambda _: None)
    assert redone["config_hash"] != done["config_hash"]
    assert len(read_results(tmp_path / "a" / RESULTS)) == 1


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_kill_mid_grid_then_finish(tmp_path):
    """SIGKILL the command once a run has finished; the second start skips it, resumes or
    redoes the interrupted one and finishes the 2 x 2 grid with exactly four lines."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "reidkit", "ablate", str(SMOKE), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "REIDKIT_CACHE": str(tmp_path / "cache")}
    env["OMP_NUM_THREADS"] = "1"  # as the one_thread fixture
    first = subprocess.Popen([*command, "--no-progress"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while line_count(out / RESULTS) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL  # killed, not finished
    kept = read_results(out / RESULTS)
    assert 1 <= len(kept) < 4
    weights = [out / r["run_dir"] / "checkpoints" / "epoch-0001.safetensors" for r in kept]
    stamps = [w.stat().st_mtime_ns for w in weights]
    second = subprocess.run(
        [*command, "--no-progress"], env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr
    for r in kept:
        assert f"{r['row']}, seed {r['seed']}: skip (finished)" in second.stdout
    records = read_results(out / RESULTS)
    assert len(records) == 4 and records[: len(kept)] == kept
    assert {(r["row"], r["seed"]) for r in records} == {
        (row, seed) for row in ("baseline", "no triplet") for seed in (0, 1)
    }
    assert [w.stat().st_mtime_ns for w in weights] == stamps  # finished runs were not redone
    table = json.loads((out / "table.json").read_text())
    assert [(r["row"], r["n"]) for r in table["rows"]] == [("baseline", 2), ("no triplet", 2)]
    assert "| no triplet | 2 |" in (out / "table.md").read_text()
    figure = pio.from_json((out / "figure.json").read_text())
    assert [len(t.x) for t in figure.data if t.type == "bar"] == [2, 2]


def test_a_run_that_another_runner_holds_is_skipped_then_taken(tmp_path, monkeypatch, one_thread):
    """The run lock: while another process trains a run this runner skips it and does the
    rest; once free, a second start trains only that run. A stale run another runner holds
    is not deleted."""
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    base = config_from_profile(get_profile("smoke"), epochs=1).to_dict()
    values = {"base": base, "timing": {"batch_sizes": [1], "warmup": 0, "repeats": 1}}
    spec = parse_spec({**values, **_rows_list(), "seeds": [0]}, out=str(tmp_path / "out"))
    held, other = plan_runs(spec)
    lines: list[str] = []
    with run_lock(spec.out, held) as mine:  # as another runner would hold it
        assert mine
        with run_lock(spec.out, held) as second:
            assert not second  # a second holder is refused at once, not blocked
        records = run_ablation(spec, progress=False, log=lines.append)
    assert lines[0] == "[1/2] baseline, seed 0: skip (another runner is training it)"
    assert [(r["row"], r["seed"]) for r in records] == [("no triplet", 0)]
    assert not held.folder.exists()
    table = json.loads((spec.out / "table.json").read_text())
    assert [(r["row"], r["n"]) for r in table["rows"]] == [("baseline", 0), ("no triplet", 1)]
    lines.clear()
    records = run_ablation(spec, progress=False, log=lines.append)
    assert lines[1] == "[2/2] no triplet, seed 0: skip (finished)"
    assert sorted((r["row"], r["seed"]) for r in records) == [("baseline", 0), ("no triplet", 0)]
    assert len(read_results(spec.out / RESULTS)) == 2
    rows = {"rows": {"baseline": {}, "no triplet": {}}}  # "no triplet" changed: stale
    changed = parse_spec({**values, **rows, "seeds": [0]}, out=str(tmp_path / "out"))
    with run_lock(spec.out, other), pytest.raises(AblationError, match="another runner"):
        run_ablation(changed, progress=False, rerun_changed=True, log=lambda _: None)
    assert other.folder.is_dir() and len(read_results(spec.out / RESULTS)) == 2


def test_two_runners_share_one_folder(tmp_path):
    """Two `reidkit ablate` processes on one output folder, the second started once the first
    has finished a run (so the data are written): each trains runs the other is not training,
    the 2 x 2 grid is trained once (four lines), and the last table counts every run. Runs of
    12 epochs (about 10 s) leave the second process time to start before the grid is done."""
    out = tmp_path / "out"
    spec = SMOKE.read_text().replace("seeds: [0, 1]", "seeds: [0, 1]\noverrides: {epochs: 12}")
    command = [sys.executable, "-m", "reidkit", "ablate", str(write_spec(tmp_path, spec))]
    command += ["--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "REIDKIT_CACHE": str(tmp_path / "cache")}
    env["OMP_NUM_THREADS"] = "1"
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while line_count(out / RESULTS) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    first_out, _ = first.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr

    def trained(output: str) -> list[str]:  # result lines: the runs this runner trained
        lines = [x for x in output.splitlines() if x.startswith("[") and "ms/img" in x]
        return [x.split("] ")[1].split(":")[0] for x in lines]

    assert trained(first_out) and trained(second.stdout)
    assert sorted(trained(first_out) + trained(second.stdout)) == [
        f"{row}, seed {seed}" for row in ("baseline", "no triplet") for seed in (0, 1)
    ]
    records = read_results(out / RESULTS)
    assert sorted((r["row"], r["seed"]) for r in records) == [
        (row, seed) for row in ("baseline", "no triplet") for seed in (0, 1)
    ]
    table = json.loads((out / "table.json").read_text())
    assert [(r["row"], r["n"]) for r in table["rows"]] == [("baseline", 2), ("no triplet", 2)]


def test_runs_of_the_same_configuration_are_reused_from_another_folder(
    tmp_path, monkeypatch, one_thread
):
    """--reuse: a run another ablation trained with the same configuration and seed is copied
    (under this spec's row name, naming where it came from), a different one is trained."""
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    base = config_from_profile(get_profile("smoke"), epochs=1).to_dict()
    values = {"base": base, "timing": {"batch_sizes": [1], "warmup": 0, "repeats": 1}}
    first = parse_spec({**values, **_rows_list(), "seeds": [0]}, out=str(tmp_path / "a"))
    (trained, _) = run_ablation(first, progress=False, log=lambda _: None)
    rows = {"rows": {"same as baseline": {}, "wider margin": {"baseline.loss.margin": 0.5}}}
    second = parse_spec({**values, **rows, "seeds": [0]}, out=str(tmp_path / "b"))
    lines: list[str] = []
    run_ablation(second, progress=False, reuse=[first.out], dry_run=True, log=lines.append)
    source = str(first.out / "baseline" / "seed-0")
    assert lines == [
        f"[1/2] same as baseline, seed 0: to reuse from {source}",
        f"[2/2] wider margin, seed 0: to run in {second.out / 'wider-margin' / 'seed-0'}",
    ]
    lines.clear()
    reused, new = run_ablation(second, progress=False, reuse=[first.out], log=lines.append)
    assert lines[0].startswith(f"[1/2] same as baseline, seed 0: reused from {source}")
    assert reused["row"] == "same as baseline" and reused["reused_from"] == source
    same = ("config_hash", "metrics", "params", "ms_per_image", "train_seconds")
    assert {k: reused[k] for k in same} == {k: trained[k] for k in same}
    assert not (second.out / "same-as-baseline").exists()  # nothing trained for it
    assert new["config_hash"] != trained["config_hash"] and "reused_from" not in new
    assert (second.out / "wider-margin" / "seed-0" / "checkpoints").is_dir()
    table = json.loads((second.out / "table.json").read_text())
    assert [(r["row"], r["n"]) for r in table["rows"]] == [
        ("same as baseline", 1),
        ("wider margin", 1),
    ]
    with pytest.raises(AblationError, match=r"nowhere: no results.jsonl to reuse"):
        run_ablation(second, progress=False, reuse=[tmp_path / "nowhere"], log=lambda _: None)
