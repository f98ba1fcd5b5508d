"""The skeleton: imports, profiles, seeding, the command line and the notebook set-up."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import reidkit
from reidkit import profiles
from reidkit.cli import main
from reidkit.notebook import setup, source_of
from reidkit.utils import cache_dir, environment_report, runs_dir, seed_everything


def test_torch_torchvision_timm_transformers_import_and_work_together():
    import timm
    import torchvision
    import transformers
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20, 20, 30, 30]])
    kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert kept.tolist() == [0, 2]  # the compiled torchvision operator loads against torch
    assert timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    assert transformers.BertConfig(hidden_size=32).hidden_size == 32
    assert torchvision.__version__


@pytest.mark.parametrize("name", ["smoke", "quick", "full"])
def test_profile_by_name_and_environment(name, monkeypatch):
    assert profiles.get_profile(name).name == name
    monkeypatch.setenv(profiles.PROFILE_ENV, name.upper())
    assert profiles.get_profile().name == name


def test_default_profile_follows_ci_then_cuda(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setenv("CI", "true")
    assert profiles.get_profile().name == "smoke"
    monkeypatch.delenv("CI")
    monkeypatch.setattr(profiles, "_cuda_available", lambda: True)
    assert profiles.get_profile().name == "full"
    monkeypatch.setattr(profiles, "_cuda_available", lambda: False)
    assert profiles.get_profile().name == "quick"


def test_unknown_profile_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(profiles.PROFILE_ENV, "huge")
    with pytest.raises(ValueError, match=r"'huge'.*REIDKIT_PROFILE.*\['full', 'quick', 'smoke'\]"):
        profiles.get_profile()


def test_profiles_grow_from_smoke_to_full():
    smoke, quick, full = (profiles.PROFILES[n] for n in ("smoke", "quick", "full"))
    assert smoke.train_ids < quick.train_ids < full.train_ids
    assert smoke.epochs < quick.epochs  # full fine-tunes fewer, larger epochs (a T4's budget)

    def images_seen(p: profiles.Profile) -> int:  # training images drawn over the run
        return p.epochs * p.train_ids * p.images_per_camera

    assert images_seen(smoke) < images_seen(quick) < images_seen(full)
    assert smoke.img_size[0] < quick.img_size[0] < full.img_size[0]
    assert smoke.replace(epochs=3).epochs == 3 and smoke.epochs == 1


def test_seed_everything_repeats_draws_and_rejects_bad_seeds():
    seed_everything(7)
    first = torch.rand(3)
    seed_everything(7)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_cache_dir_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_runs_dir_is_the_checkout_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("REIDKIT_RUNS", raising=False)
    assert runs_dir() == Path(__file__).resolve().parents[1] / "runs"  # not the notebook's cwd
    monkeypatch.setenv("REIDKIT_RUNS", str(tmp_path / "r"))
    assert runs_dir() == tmp_path / "r"


def test_cli_version_and_info(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"reidkit {reidkit.__version__}"
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"].startswith("smoke")
    assert report["torch"] == torch.__version__
    assert set(report) == set(environment_report())


def test_console_script_is_installed():
    exe = shutil.which("reidkit") or str(
        __import__("pathlib").Path(sys.executable).with_name("reidkit")
    )
    result = subprocess.run([exe, "info"], capture_output=True, text=True, check=True)
    assert "profile" in result.stdout and "smoke" in result.stdout


def test_notebook_setup_prints_seed_device_profile(capsys):
    ctx = setup(seed=3, profile="quick")
    out = capsys.readouterr().out
    assert "seed    3" in out and "profile quick" in out and f"device  {ctx.device}" in out
    assert ctx.profile.name == "quick"


def test_source_of_returns_the_library_code():
    assert source_of(seed_everything).startswith("def seed_everything(seed: int)")
    with pytest.raises(ValueError, match="no source"):
        source_of(len)
