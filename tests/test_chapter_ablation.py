"""Ablation chapters run their spec in smoke and show committed results elsewhere."""

import pytest

from reidkit.train.ablate import AblationError, run_ablation
from reidkit.train.ablation_spec import load_spec
from reidkit.train.chapter_ablation import chapter_ablation, committed_results, save_results
from reidkit.viz.ablation import ablation_figure, ablation_markdown, missing_runs


def test_smoke_runs_other_profiles_show_what_was_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    spec = load_spec("configs/ablations/smoke.yaml", out=str(tmp_path / "out"))
    root, lines = tmp_path / "results", []

    assert chapter_ablation(spec, "quick", root=root, log=lines.append) is None
    assert "no quick-profile results" in lines[-1] and "--save-results" in lines[-1]

    shown = chapter_ablation(spec, "smoke", root=root)  # runs: 2 rows x 2 seeds
    assert shown == spec.out and committed_results(spec, "smoke", root) is None
    saved = save_results(spec, "quick", root)
    assert saved.name == "smoke-ablation-triplet-loss-quick"
    assert chapter_ablation(spec, "quick", root=root, log=lines.append) == saved
    assert ablation_markdown(saved) == ablation_markdown(spec.out)  # the same table


def test_smoke_reruns_runs_an_older_spec_made(tmp_path, monkeypatch):
    """A learner's smoke runs from an earlier version are rerun, not an error; elsewhere the
    changed runs are named and nothing is deleted."""
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    text = open("configs/ablations/smoke.yaml", encoding="utf-8").read()
    (tmp_path / "old.yaml").write_text(text.replace("seeds: [0, 1]", "seeds: [0]"))
    (tmp_path / "new.yaml").write_text(
        text.replace("seeds: [0, 1]", "seeds: [0]").replace(
            "baseline.loss.triplet: none", "baseline.loss.label_smoothing: 0.0"
        )
    )
    old = load_spec(tmp_path / "old.yaml", out=str(tmp_path / "out"))
    new = load_spec(tmp_path / "new.yaml", out=str(tmp_path / "out"))
    run_ablation(old, progress=False, log=lambda line: None)
    with pytest.raises(AblationError, match="'no triplet' seed 0"):
        chapter_ablation(new, "quick", run=True)
    assert chapter_ablation(new, "smoke") == new.out
    assert missing_runs(new.out) == []
    rows = [line for line in (new.out / "results.jsonl").read_text().splitlines() if line]
    assert len(rows) == 2 and all('"config_hash"' in line for line in rows)


def test_saving_before_running_names_the_folder(tmp_path):
    spec = load_spec("configs/ablations/smoke.yaml", out=str(tmp_path / "never-ran"))
    with pytest.raises(FileNotFoundError, match="never-ran: no results.jsonl"):
        save_results(spec, "quick", tmp_path)


def test_a_part_finished_grid_is_saved_marked_and_finished_elsewhere(tmp_path, monkeypatch):
    """A sitting commits the runs it finished; another machine (another out folder) reuses
    them and trains only the rest."""
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    root, lines = tmp_path / "results", []
    first = load_spec("configs/ablations/smoke.yaml", out=str(tmp_path / "first"))
    run_ablation(first, seeds=[0], progress=False, log=lambda line: None)
    saved = save_results(first, "quick", root)

    assert chapter_ablation(first, "quick", root=root, log=lines.append) == saved
    assert lines[-1].endswith("2 of 4 runs so far")
    assert missing_runs(saved) == [("baseline", 1), ("no triplet", 1)]
    note = (
        "**Incomplete:** 2 of 4 runs finished; not yet run: baseline (seed 1); no triplet (seed 1)."
    )
    assert note in ablation_markdown(saved)
    assert "(incomplete: 2 of 4 runs)" in ablation_figure(saved).layout.title.text

    second = load_spec("configs/ablations/smoke.yaml", out=str(tmp_path / "second"))
    log: list[str] = []
    records = run_ablation(second, progress=False, log=log.append, reuse=[saved])
    assert sum("reused from" in line for line in log) == 2
    assert not (second.out / "baseline" / "seed-0").exists()  # not trained again
    assert (second.out / "baseline" / "seed-1").is_dir()
    assert len(records) == 4 and missing_runs(save_results(second, "quick", root)) == []
    assert "Incomplete" not in ablation_markdown(saved)
    assert chapter_ablation(second, "quick", root=root, log=lines.append) == saved
    assert "runs so far" not in lines[-1]
