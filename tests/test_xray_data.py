"""The ``xray`` layout, its loader and protocol (against the per-query reference), the
synthetic-xray datasets, ``reidkit synth --layout xray`` and the raw-pixel modality gap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_eval_protocols import CountingExtractor, assert_matches_reference

from reidkit.cli import main
from reidkit.data import TASKS, XrayPackages, read_image
from reidkit.data.synth import layouts as layouts_module
from reidkit.data.synth import write_layout
from reidkit.data.synth import xray_layout as xray_layout_module
from reidkit.data.synth.layouts import MARKER, PACKAGE_GENERATOR_VERSION
from reidkit.eval import PROTOCOLS, evaluate_protocol, raw_pixel_extractor, two_modality_gap
from reidkit.train.config import DataConfig
from reidkit.train.datasets import open_dataset

SMALL = {"img_size": (32, 32), "images_per_camera": 2}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_layout("xray", tmp_path_factory.mktemp("xray") / "packages", 10, seed=2, **SMALL)


def ids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().strip().split(",")]


def test_layout_files_splits_and_marker(root: Path) -> None:
    for folder, suffix, image_format in (("visible", ".jpg", "JPEG"), ("xray", ".png", "PNG")):
        for pid in range(1, 11):
            files = sorted((root / folder / f"{pid:04d}").iterdir())
            assert [f.name for f in files] == [f"0001{suffix}", f"0002{suffix}"]
            with Image.open(files[0]) as image:
                assert image.size == (32, 32) and image.format == image_format
    train, val, test = (ids(root / "splits" / f"{n}_ids.txt") for n in ("train", "val", "test"))
    assert (train, val, test) == ([1, 2, 3, 4, 5], [6, 7], [8, 9, 10])
    marker = json.loads((root / MARKER).read_text())
    assert marker["generator"] == PACKAGE_GENERATOR_VERSION and marker["layout"] == "xray"
    assert marker["summary"] == {"images": 40, "train_ids": 5, "val_ids": 2, "test_ids": 3}
    assert set(marker["settings"]) == {"seed", "height", "width", "noise", "xray_noise"} | {
        "jitter",
        "blur",
        "clutter",
    }


def test_layout_bytes_repeat_and_depend_on_the_seed(root: Path, tmp_path: Path) -> None:
    again = write_layout("xray", tmp_path / "again", 10, seed=2, **SMALL)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert len(files) == 40 + 3 + 1
    assert all((root / f).read_bytes() == (again / f).read_bytes() for f in files)
    other = write_layout("xray", tmp_path / "other", 10, seed=3, **SMALL)
    assert (other / "xray/0001/0001.png").read_bytes() != (root / "xray/0001/0001.png").read_bytes()
    fixed = write_layout("xray", tmp_path / "fixed", 10, test_ids=4, noise=0.0, **SMALL)
    assert ids(fixed / "splits/test_ids.txt") == [7, 8, 9, 10]
    assert json.loads((fixed / MARKER).read_text())["settings"]["noise"] == 0.0
    with pytest.raises(ValueError, match=r"unknown knobs \['near_infrared'\]"):
        write_layout("xray", tmp_path / "bad", 10, near_infrared=0.0, **SMALL)
    with pytest.raises(ValueError, match="needs ids >= 3"):
        write_layout("xray", tmp_path / "bad", 2, **SMALL)
    assert not (tmp_path / "bad").exists()


def test_interrupted_xray_export_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    calls = []
    original = xray_layout_module.xray_array

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(xray_layout_module, "xray_array", failing)
    with pytest.raises(KeyboardInterrupt):
        write_layout("xray", tmp_path / "packages", 5, **SMALL)
    assert list(tmp_path.iterdir()) == []
    assert layouts_module.generator_version("xray") == PACKAGE_GENERATOR_VERSION


def test_loader_records_and_protocol_sets(root: Path) -> None:
    ds = XrayPackages(root)
    assert (ds.task, ds.protocol, ds.settings, ds.default_setting, ds.default_trials) == (
        "visible-xray",
        "regdb",
        ("v2x", "x2v"),
        "v2x",
        10,
    )
    assert ds.task in TASKS and ds.protocol in PROTOCOLS
    assert ds.pid_to_label == {pid: pid - 1 for pid in range(1, 8)}  # train + val, relabelled
    assert len(ds.train) == 7 * 2 * 2
    assert {(r.modality, r.camid) for r in ds.train} == {("visible", 1), ("xray", 2)}
    query = ds.query()
    assert len(query) == 3 * 2 and {r.modality for r in query} == {"visible"}
    assert {r.modality for r in ds.query("x2v")} == {"xray"}
    for setting, modality in (("v2x", "xray"), ("x2v", "visible")):
        gallery = ds.gallery(setting, trial=4)
        assert sorted(r.pid for r in gallery) == [8, 9, 10]  # single shot: one per identity
        assert {r.modality for r in gallery} == {modality}
        assert gallery == ds.gallery(setting, trial=0, seed=4)  # trial t draws with seed + t
    draws = {tuple(r.path for r in ds.gallery(trial=t)) for t in range(10)}
    assert len(draws) > 1  # the trials re-sample the gallery
    assert read_image(query[0].path).size == (32, 32)
    with pytest.raises(ValueError, match="split 'val' is not available: it is trained on"):
        ds.query(split="val")
    held_out = XrayPackages(root, train_on_val=False)
    assert len(held_out.pid_to_label) == 5
    assert {r.pid for r in held_out.query(split="val")} == {6, 7}
    with pytest.raises(ValueError, match="XrayPackages setting must be one of"):
        ds.query("v2i")


def test_protocol_matches_the_per_query_reference_both_ways(root: Path) -> None:
    ds = XrayPackages(root)
    for direction in ("v2x", "x2v"):
        perfect = evaluate_protocol(CountingExtractor(), ds, direction, trials=2)
        assert perfect["R1"] == 1.0 and perfect["mAP"] == 1.0
        extract = CountingExtractor(noise=2.0)
        result = evaluate_protocol(extract, ds, direction)
        assert result["trials"] == 10 and result["setting"] == direction
        assert_matches_reference(result, extract, ds, direction)
        other_seed = evaluate_protocol(extract, ds, direction, trials=3, seed=5)
        assert_matches_reference(other_seed, extract, ds, direction, seed=5)
    held_out = XrayPackages(root, train_on_val=False)
    extract = CountingExtractor(noise=2.0)
    result = evaluate_protocol(extract, held_out, "x2v", split="val", trials=2)
    assert_matches_reference(result, extract, held_out, "x2v", split="val")


def real_tree(base: Path, splits: dict[str, str]) -> Path:
    """A dataset someone collected, in this layout, with its own file names."""
    for folder in ("visible", "xray"):
        for pid in (3, 5, 8, 9):
            for name in ("cam_a.jpg", "scan-17.png")[: 1 + pid % 2]:
                path = base / folder / f"{pid:04d}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (6, 6), (pid * 20, 10, 10)).save(path)
    (base / "splits").mkdir()
    for name, text in splits.items():
        (base / "splits" / name).write_text(text)
    return base


def test_a_real_dataset_in_the_layout_and_bad_input(tmp_path: Path) -> None:
    root = real_tree(tmp_path / "ok", {"train_ids.txt": "3,5\n", "test_ids.txt": "8,9\n"})
    ds = XrayPackages(root)
    assert len(ds.train) == 2 * 2 * 2 and ds.val_ids == []
    assert len(ds.query()) == 1 + 2 and len(ds.gallery("x2v")) == 2
    with pytest.raises(ValueError, match="val_ids.txt does not exist"):
        XrayPackages(root, train_on_val=False).query(split="val")
    with pytest.raises(FileNotFoundError, match="visible-X-ray root: folder not found"):
        XrayPackages(tmp_path / "nowhere")
    bad = real_tree(tmp_path / "overlap", {"train_ids.txt": "3,5,8\n", "test_ids.txt": "8,9\n"})
    with pytest.raises(ValueError, match=r"ids \[8\] are in both train_ids.txt and test_ids.txt"):
        XrayPackages(bad)
    missing = real_tree(tmp_path / "missing", {"train_ids.txt": "3\n", "test_ids.txt": "8,11\n"})
    with pytest.raises(FileNotFoundError, match=r"id 11 is listed in .*test_ids.txt but has no"):
        XrayPackages(missing)
    no_test = real_tree(tmp_path / "no-test", {"train_ids.txt": "3\n"})
    with pytest.raises(FileNotFoundError, match=r"test ids: file not found: .*test_ids.txt"):
        XrayPackages(no_test)
    garbled = real_tree(tmp_path / "garbled", {"train_ids.txt": "3;5\n", "test_ids.txt": "8\n"})
    with pytest.raises(ValueError, match=r"train_ids.txt:1: '3;5' is not an integer id"):
        XrayPackages(garbled)
    for folder in ("xray", "splits"):
        broken = real_tree(tmp_path / f"no-{folder}", {"train_ids.txt": "3\n"})
        for path in sorted((broken / folder).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (broken / folder).rmdir()
        with pytest.raises(FileNotFoundError, match=f"folder not found: {broken / folder}"):
            XrayPackages(broken)


def test_datasets_registry_and_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    sizes = {"img_size": (32, 32), "train_ids": 5, "test_ids": 3, "images_per_camera": 1}
    ds = open_dataset(DataConfig(dataset="synthetic-xray", **sizes))
    assert isinstance(ds, XrayPackages) and ds.test_ids == [6, 7, 8]
    real = open_dataset(DataConfig(dataset="xray-packages", root=str(ds.root)))
    assert real.query() == ds.query()
    with pytest.raises(ValueError, match=r"data.root must name .*XrayPackages"):
        open_dataset(DataConfig(dataset="xray-packages"))
    out = tmp_path / "cli"
    args = ["synth", "--layout", "xray", "--out", str(out), "--ids", "3", "--height", "24"]
    assert main([*args, "--images-per-camera", "1", "--knob", "xray_noise=0.1"]) == 0
    assert "wrote xray layout with 3 ids (24x24)" in capsys.readouterr().out
    assert json.loads((out / MARKER).read_text())["settings"]["xray_noise"] == 0.1
    assert main([*args, "--knob", "near_infrared=1"]) == 2
    assert "--knob 'near_infrared=1': expected NAME=VALUE with NAME in" in capsys.readouterr().err


def test_raw_pixel_modality_gap(tmp_path: Path) -> None:
    """Chapter 1's raw-pixel measurement on packages: within a modality raw pixels find the
    same package far more often than across visible and X-ray."""
    root = write_layout(
        "xray", tmp_path / "gap", 40, seed=0, img_size=(64, 64), images_per_camera=3
    )
    records = XrayPackages(root).train
    gap = two_modality_gap(raw_pixel_extractor((64, 64), size=(16, 16)), records)
    assert set(gap) == {"V->V", "X->X", "V->X", "X->V"}
    print({name: round(100 * values["R1"], 1) for name, values in gap.items()})
    print({name: round(100 * values["chance_R1"], 1) for name, values in gap.items()})
    assert gap["V->V"]["queries"] == gap["X->X"]["queries"] == 28  # train + val ids
    assert gap["V->X"]["queries"] == gap["X->V"]["gallery"] == 28 * 3
    within = min(gap["V->V"]["R1"], gap["X->X"]["R1"])
    across = max(gap["V->X"]["R1"], gap["X->V"]["R1"])
    assert across < within and within > 2 * max(v["chance_R1"] for v in gap.values())
    assert two_modality_gap(raw_pixel_extractor((64, 64), size=(16, 16)), records) == gap
    assert np.isfinite([v["mAP"] for v in gap.values()]).all()
