"""Ablation chapters run their spec in smoke and show committed results elsewhere."""

import pytest

from reidkit.train.ablation_spec import load_spec
from reidkit.train.chapter_ablation import chapter_ablation, committed_results, save_results
from reidkit.viz.ablation import ablation_markdown


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


def test_saving_before_running_names_the_folder(tmp_path):
    spec = load_spec("configs/ablations/smoke.yaml", out=str(tmp_path / "never-ran"))
    with pytest.raises(FileNotFoundError, match="never-ran: no results.jsonl"):
        save_results(spec, "quick", tmp_path)
