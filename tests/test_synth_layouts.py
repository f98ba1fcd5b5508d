"""On-disk layouts of the synthetic people (SYSU-MM01, RegDB, CUHK-PEDES) and ``reidkit synth``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from reidkit.cli import main
from reidkit.data.synth import SyntheticPeople, tokens, write_layout
from reidkit.data.synth import layouts as layouts_module
from reidkit.data.synth.layouts import MARKER

SMALL = {"img_size": (32, 16), "images_per_camera": 1}


def read_ids(path: Path) -> list[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, f"{path} must hold one line"
    return [int(x) for x in lines[0].split(",")]


def test_sysu_layout(tmp_path):
    out = write_layout("sysu", tmp_path / "SYSU-MM01", 10, seed=3, **SMALL)
    people = SyntheticPeople(3, "smoke", train_ids=10, img_size=(32, 16), images_per_camera=1)
    train, val, test = (read_ids(out / "exp" / f"{n}_id.txt") for n in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    assert sorted(train + val + test) == list(range(1, 11))
    for pid in range(10):
        for cam in range(1, 7):
            folder = out / f"cam{cam}" / f"{pid + 1:04d}"
            assert folder.is_dir() == (cam in people.identity(pid).cameras)
            if folder.is_dir():
                assert [p.name for p in folder.iterdir()] == ["0001.jpg"]
                with Image.open(folder / "0001.jpg") as image:
                    assert image.size == (16, 32) and image.format == "JPEG"
    assert json.loads((out / MARKER).read_text())["summary"]["test_ids"] == 2


def test_sysu_layout_with_a_fixed_test_split(tmp_path):
    out = write_layout("sysu", tmp_path / "SYSU-MM01", 12, seed=3, test_ids=5, **SMALL)
    train, val, test = (read_ids(out / "exp" / f"{n}_id.txt") for n in ("train", "val", "test"))
    assert test == [8, 9, 10, 11, 12] and len(train) + len(val) == 7 and len(val) == 2
    with pytest.raises(ValueError, match="sysu and xray layouts only"):
        write_layout("regdb", tmp_path / "RegDB", 4, test_ids=2, **SMALL)
    with pytest.raises(ValueError, match="1..ids-2"):
        write_layout("sysu", tmp_path / "other", 4, test_ids=3, **SMALL)


def test_regdb_layout(tmp_path):
    out = write_layout("regdb", tmp_path / "RegDB", 4, seed=0, img_size=(32, 16))
    for top in ("Visible", "Thermal"):
        for pid in range(1, 5):
            files = sorted((out / top / str(pid)).glob("*.bmp"))
            assert len(files) == 10
    idx = sorted(p.name for p in (out / "idx").iterdir())
    assert len(idx) == 40 and "test_thermal_10.txt" in idx
    for trial in (1, 7):
        labels = {}
        for split in ("train", "test"):
            for modality in ("visible", "thermal"):
                lines = (out / "idx" / f"{split}_{modality}_{trial}.txt").read_text().splitlines()
                assert len(lines) == 20  # 2 ids x 10 images
                for line in lines:
                    rel, label = line.split(" ")
                    assert (out / rel).is_file() and int(label) == int(rel.split("/")[1]) - 1
                labels.setdefault(split, set()).update(int(x.split(" ")[1]) for x in lines)
        assert len(labels["train"]) == 2 and not labels["train"] & labels["test"]
    marker = json.loads((out / MARKER).read_text())
    assert marker["settings"]["near_infrared"] == 0.0  # RegDB's infrared camera is thermal


def test_pedes_layout(tmp_path):
    out = write_layout("pedes", tmp_path / "CUHK-PEDES", 6, seed=1, **SMALL)
    entries = json.loads((out / "reid_raw.json").read_text(encoding="utf-8"))
    assert {e["split"] for e in entries} == {"train", "val", "test"}
    for entry in entries:
        assert set(entry) == {"split", "captions", "file_path", "processed_tokens", "id"}
        assert (out / "imgs" / entry["file_path"]).is_file()
        assert len(entry["captions"]) == 2
        assert entry["processed_tokens"] == [tokens(c) for c in entry["captions"]]
        assert isinstance(entry["id"], int) and 1 <= entry["id"] <= 6
    ids_by_split = {}
    for entry in entries:
        ids_by_split.setdefault(entry["split"], set()).add(entry["id"])
    assert sum(len(v) for v in ids_by_split.values()) == 6


def test_layout_files_are_repeatable(tmp_path):
    a = write_layout("sysu", tmp_path / "a", 3, seed=0, **SMALL)
    b = write_layout("sysu", tmp_path / "b", 3, seed=0, **SMALL)
    files = sorted(p.relative_to(a) for p in a.rglob("*.jpg"))
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_existing_folders(tmp_path):
    out = write_layout("sysu", tmp_path / "s", 3, **SMALL)
    stamp = (out / MARKER).stat().st_mtime_ns
    assert write_layout("sysu", out, 3, **SMALL) == out  # same export: nothing rewritten
    assert (out / MARKER).stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="different synthetic export"):
        write_layout("sysu", out, 4, **SMALL)
    write_layout("sysu", out, 4, overwrite=True, **SMALL)
    marker = json.loads((out / MARKER).read_text())
    marker["generator"] = -1  # an export by an older generator is replaced without asking
    (out / MARKER).write_text(json.dumps(marker))
    write_layout("sysu", out, 4, **SMALL)
    assert json.loads((out / MARKER).read_text())["generator"] != -1
    assert len(read_ids(out / "exp" / "train_id.txt")) == 2
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and is not a reidkit synthetic export"):
        write_layout("regdb", foreign, 4, overwrite=True, **SMALL)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(NotADirectoryError):
        write_layout("sysu", foreign / "notes.txt", 3, **SMALL)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_layout("pedes", empty, 3, **SMALL) / "reid_raw.json").is_file()


@pytest.mark.parametrize(
    "layout, ids, message",
    [("sysu-mm02", 5, "unknown layout"), ("sysu", 0, "needs ids >= 3"), ("regdb", 1, ">= 2")],
)
def test_bad_layout_arguments(tmp_path, layout, ids, message):
    with pytest.raises(ValueError, match=message):
        write_layout(layout, tmp_path / "x", ids, **SMALL)
    assert not (tmp_path / "x").exists()


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = layouts_module.render_array
    monkeypatch.setattr(layouts_module, "render_array", failing)
    with pytest.raises(KeyboardInterrupt):
        write_layout("sysu", tmp_path / "SYSU", 5, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_layout_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "regdb"
    code = main(
        [
            "synth",
            "--layout",
            "regdb",
            "--out",
            str(out),
            "--ids",
            "2",
            "--height",
            "32",
            "--width",
            "16",
        ]
    )
    assert code == 0 and (out / "idx" / "train_visible_1.txt").is_file()
    assert "wrote regdb layout with 2 ids" in capsys.readouterr().out
    assert main(["synth", "--layout", "sysu", "--out", str(tmp_path / "y"), "--ids", "0"]) == 2
    assert "reidkit synth: error: layout 'sysu' needs ids >= 3" in capsys.readouterr().err
    bad_size = [
        "synth",
        "--layout",
        "sysu",
        "--out",
        str(tmp_path / "z"),
        "--ids",
        "3",
        "--height",
        "-5",
    ]
    assert main(bad_size) == 2
    assert "height must be an integer >= 16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--layout", "llcm", "--out", str(tmp_path / "w"), "--ids", "3"])
    base = ["synth", "--layout", "sysu", "--ids", "3", "--height", "32", "--width", "16"]
    knobbed = tmp_path / "knobbed"
    assert main([*base, "--out", str(knobbed), "--knob", "noise=0", "--knob", "occlusion=1"]) == 0
    settings = json.loads((knobbed / MARKER).read_text())["settings"]
    assert settings["noise"] == 0.0 and settings["occlusion"] == 1.0
    assert main([*base, "--out", str(tmp_path / "k2"), "--knob", "colour=red"]) == 2
    assert "--knob 'colour=red': expected NAME=VALUE" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "k3"), "--knob", "noise=lots"]) == 2
    assert "'lots' is not a number" in capsys.readouterr().err
