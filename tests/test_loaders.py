"""Dataset loaders on tiny trees built here in the released layouts, and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from reidkit.data import (
    CUHKPEDES,
    ICFGPEDES,
    LLCM,
    MODALITIES,
    SYSUMM01,
    TASKS,
    RegDB,
    RSTPReid,
    modality_index,
    read_image,
    register_reader,
)
from reidkit.data.batch import RecordDataset
from reidkit.eval import PROTOCOLS


def image(path: Path, shade: int = 100, suffix_format: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 8), (shade, 50, 200 - shade)).save(path, format=suffix_format)
    return path


def sysu_tree(root: Path, splits=None, cams=range(1, 7), per_cam: int = 3) -> Path:
    splits = splits or {"train": [1, 2], "val": [3], "test": [4, 5]}
    for cam in range(1, 7):
        (root / f"cam{cam}").mkdir(parents=True, exist_ok=True)
    for pid in sorted(i for ids in splits.values() for i in ids):
        for cam in cams:
            for k in range(per_cam):
                image(root / f"cam{cam}" / f"{pid:04d}" / f"{k + 1:04d}.jpg", pid * 10 + cam)
    (root / "exp").mkdir(exist_ok=True)
    for name, ids in splits.items():
        (root / "exp" / f"{name}_id.txt").write_text(",".join(map(str, ids)) + "\n")
    return root


def test_sysu_records_and_protocol_sets(tmp_path: Path) -> None:
    ds = SYSUMM01(sysu_tree(tmp_path))
    assert ds.pid_to_label == {1: 0, 2: 1, 3: 2}
    assert {r.pid for r in ds.train} == {0, 1, 2} and len(ds.train) == 3 * 6 * 3
    assert {r.modality for r in ds.train if r.camid in (3, 6)} == {"infrared"}
    assert len(SYSUMM01(tmp_path, train_on_val=False).pid_to_label) == 2

    query = ds.query("all")
    assert query == ds.query("indoor") == ds.query() and len(query) == 2 * 2 * 3
    assert {(r.pid, r.camid, r.modality) for r in query} == {
        (p, c, "infrared") for p in (4, 5) for c in (3, 6)
    }
    gallery = ds.gallery("all", trial=0)
    assert sorted((r.pid, r.camid) for r in gallery) == [
        (p, c) for p in (4, 5) for c in (1, 2, 4, 5)
    ]
    assert gallery == ds.gallery(shot="single") == ds.gallery(None, 0, 0, "test")
    assert {r.camid for r in ds.gallery("indoor", trial=0)} == {1, 2}
    assert len(ds.gallery("all", trial=0, shot="multi")) == 2 * 4 * 3  # fewer than 10: all
    assert ds.gallery(trial=3) == ds.gallery(trial=3) == ds.gallery(trial=1, seed=2)
    assert len({tuple(r.path for r in ds.gallery(trial=t)) for t in range(6)}) > 1


def test_sysu_multi_shot_takes_ten(tmp_path: Path) -> None:
    ds = SYSUMM01(sysu_tree(tmp_path, per_cam=12))
    gallery = ds.gallery("indoor", trial=1, shot="multi")
    assert len(gallery) == 2 * 2 * 10 and len(set(gallery)) == len(gallery)


def test_sysu_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SYSU-MM01 root: folder not found"):
        SYSUMM01(tmp_path / "nowhere")
    root = sysu_tree(tmp_path / "a")
    (root / "exp" / "val_id.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"id list: file not found: .*val_id\.txt"):
        SYSUMM01(root)
    root = sysu_tree(tmp_path / "b")
    (root / "exp" / "test_id.txt").write_text("4,5,x\n")
    with pytest.raises(ValueError, match=r"test_id\.txt:1: 'x' is not an integer id"):
        SYSUMM01(root)
    (root / "exp" / "test_id.txt").write_text("4,5\n6\n")
    with pytest.raises(ValueError, match=r"test_id\.txt:2: expected exactly one line"):
        SYSUMM01(root)
    (root / "exp" / "test_id.txt").write_text("4,5,9\n")
    with pytest.raises(
        FileNotFoundError, match=r"id 9 is listed .*test_id\.txt.*cam1\.\.cam6/0009"
    ):
        SYSUMM01(root)
    root = sysu_tree(tmp_path / "c")
    (root / "cam4").rename(root / "cam4_moved")
    with pytest.raises(FileNotFoundError, match=r"camera folder: folder not found: .*cam4"):
        SYSUMM01(root)
    ds = SYSUMM01(sysu_tree(tmp_path / "d"))
    with pytest.raises(ValueError, match=r"SYSUMM01 setting must be one of \('all', 'indoor'\)"):
        ds.gallery("outdoor")
    with pytest.raises(ValueError, match=r"evaluation split must be one of \('test', 'val'\)"):
        ds.query(split="train")
    with pytest.raises(ValueError, match="trial must be a non-negative integer, got 'single'"):
        ds.gallery("all", "single")  # the old positional (mode, shot, trial) order
    with pytest.raises(ValueError, match="shot must be one of"):
        ds.gallery(shot="double")


def test_sysu_validation_split(tmp_path: Path) -> None:
    root = sysu_tree(tmp_path, splits={"train": [1, 2], "val": [3, 6], "test": [4, 5]})
    ds = SYSUMM01(root, train_on_val=False)
    assert ds.pid_to_label == {1: 0, 2: 1}
    query, gallery = ds.query(split="val"), ds.gallery("indoor", trial=2, split="val")
    assert {(r.pid, r.camid) for r in query} == {(p, c) for p in (3, 6) for c in (3, 6)}
    assert sorted((r.pid, r.camid) for r in gallery) == [(p, c) for p in (3, 6) for c in (1, 2)]
    assert {r.pid for r in ds.query()} == {4, 5}  # the test split is unchanged
    with pytest.raises(ValueError, match=r"split 'val' is not available.*train_on_val=True"):
        SYSUMM01(root).query(split="val")
    with pytest.raises(ValueError, match="train_on_val=True"):
        SYSUMM01(root).gallery(split="val")


def regdb_tree(root: Path, ids: int = 4, per_id: int = 2) -> Path:
    lines: dict[tuple[str, str], list[str]] = {}
    for pid in range(1, ids + 1):
        split = "train" if pid <= ids // 2 else "test"
        for spectrum, top in (("visible", "Visible"), ("thermal", "Thermal")):
            for k in range(per_id):
                rel = f"{top}/{pid}/{spectrum[0]}_{pid}_{k}.bmp"
                image(root / rel, pid * 20, "BMP")
                lines.setdefault((split, spectrum), []).append(f"{rel} {pid - 1}")
    (root / "idx").mkdir()
    for trial in range(1, 11):
        for (split, spectrum), text in lines.items():
            (root / "idx" / f"{split}_{spectrum}_{trial}.txt").write_text("\n".join(text) + "\n")
    return root


def test_regdb_records_and_directions(tmp_path: Path) -> None:
    ds = RegDB(regdb_tree(tmp_path), trial=3)
    assert ds.pid_to_label == {0: 0, 1: 1} and len(ds.train) == 2 * 2 * 2
    assert {(r.modality, r.camid) for r in ds.query("v2i")} == {("visible", 1)}
    assert {(r.modality, r.camid) for r in ds.gallery("v2i")} == {("infrared", 2)}
    assert ds.query("i2v") == ds.gallery("v2i") and {r.pid for r in ds.query()} == {2, 3}
    assert ds.gallery("i2v", trial=0, seed=5) == ds.gallery("i2v")  # one fixed gallery
    with pytest.raises(ValueError, match="one fixed gallery .*trial must be 0, got 1"):
        ds.gallery(trial=1)
    with pytest.raises(ValueError, match=r"RegDB setting must be one of \('v2i', 'i2v'\)"):
        ds.query("t2i")
    with pytest.raises(ValueError, match=r"RegDB evaluation split must be one of \('test',\)"):
        ds.query(split="val")
    with pytest.raises(ValueError, match="trial must be one of 1..10"):
        RegDB(tmp_path, trial=0)


def test_regdb_bad_input(tmp_path: Path) -> None:
    root = regdb_tree(tmp_path)
    path = root / "idx" / "train_thermal_2.txt"
    path.write_text("Thermal/1/t_1_0.bmp 0\nThermal/1/t_1_1.bmp\n")
    with pytest.raises(ValueError, match=r"train_thermal_2\.txt:2: expected 'relative/path label'"):
        RegDB(root, trial=2)
    path.write_text("Thermal/1/t_1_0.bmp zero\n")
    with pytest.raises(ValueError, match=r"train_thermal_2\.txt:1: label 'zero' is not an integer"):
        RegDB(root, trial=2)
    path.write_text("Thermal/1/t_1_0.bmp 0\n\nThermal/9/missing.bmp 8\n")
    with pytest.raises(FileNotFoundError, match=r"train_thermal_2\.txt:3: image 'Thermal/9/m"):
        RegDB(root, trial=2)
    (root / "idx" / "test_visible_5.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"index file: file not found: .*test_visible_5"):
        RegDB(root, trial=5)


def llcm_tree(root: Path) -> Path:
    (root / "idx").mkdir(parents=True)
    for name, folder in (("train_vis", "train_vis"), ("train_nir", "train_nir")):
        lines = []
        for pid in (1, 2):
            rel = f"{folder}/cam{pid + 1}/{pid:04d}/{pid:04d}_a.jpg"
            image(root / rel, pid)
            lines.append(f"{rel} {pid}")
        (root / "idx" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    (root / "idx" / "test_id.txt").write_text("7,8\n")
    for folder, cams in (("test_vis", (1, 2, 3)), ("test_nir", (1, 2))):
        for pid in (7, 8):
            for cam in cams:
                for k in range(2):
                    image(root / folder / f"cam{cam}" / f"{pid:04d}" / f"{k}.jpg", pid + cam)
    return root


def test_llcm_records_and_directions(tmp_path: Path) -> None:
    ds = LLCM(llcm_tree(tmp_path))
    assert ds.pid_to_label == {1: 0, 2: 1}
    assert sorted((r.camid, r.modality) for r in ds.train) == [
        (2, "infrared"),
        (2, "visible"),
        (3, "infrared"),
        (3, "visible"),
    ]
    assert len(ds.query("v2i")) == 2 * 3 * 2 and len(ds.query("i2v")) == 2 * 2 * 2
    gallery = ds.gallery("v2i", trial=4)
    assert sorted((r.pid, r.camid) for r in gallery) == [(p, c) for p in (7, 8) for c in (1, 2)]
    assert {r.modality for r in ds.gallery("i2v")} == {"visible"}
    assert ds.gallery(trial=4) == gallery and ds.gallery(trial=1, seed=3) == gallery
    assert set(gallery) <= set(ds.gallery_candidates("v2i"))
    with pytest.raises(ValueError, match=r"LLCM setting must be one of \('v2i', 'i2v'\)"):
        ds.gallery("all")


def test_llcm_bad_input(tmp_path: Path) -> None:
    root = llcm_tree(tmp_path)
    (root / "idx" / "train_nir.txt").write_text("train_nir/0001/x.jpg 1\n")
    with pytest.raises(ValueError, match=r"train_nir\.txt:1: expected one 'cam<N>' folder"):
        LLCM(root)
    root = llcm_tree(tmp_path / "b")
    (root / "idx" / "test_id.txt").write_text("7,8,12\n")
    with pytest.raises(FileNotFoundError, match=r"ids \[12\] are listed in .*test_id\.txt"):
        LLCM(root)


def pedes_tree(
    root: Path, annotation: str, key: str = "file_path", splits=("train", "val", "test")
):
    items = []
    for pid in range(1, 7):
        split = splits[min(len(splits) - 1, (pid - 1) // 2)]
        for k in range(2):
            rel = f"{split}/{pid:04d}_{k}.jpg"
            image(root / "imgs" / rel, pid * 30)
            captions = [f"person {pid} view {k} a", f"person {pid} view {k} b"]
            items.append(
                {
                    "split": split,
                    "captions": captions,
                    key: rel,
                    "id": pid,
                    "processed_tokens": [c.split() for c in captions],
                }
            )
    (root / annotation).write_text(json.dumps(items))
    return root


@pytest.mark.parametrize(
    ("cls", "annotation", "key", "splits"),
    [
        (CUHKPEDES, "reid_raw.json", "file_path", ("train", "val", "test")),
        (CUHKPEDES, "caption_all.json", "file_path", ("train", "val", "test")),
        (ICFGPEDES, "ICFG-PEDES.json", "file_path", ("train", "test")),
        (RSTPReid, "data_captions.json", "img_path", ("train", "val", "test")),
    ],
)
def test_text_datasets(tmp_path: Path, cls, annotation, key, splits) -> None:
    ds = cls(pedes_tree(tmp_path, annotation, key, splits))
    assert ds.pid_to_label == {1: 0, 2: 1} and len(ds.train) == 2 * 2 * 2
    assert all(r.caption and r.modality == "visible" for r in ds.train)
    test_ids = {5, 6} if "val" in splits else {3, 4, 5, 6}
    queries, gallery = ds.query("t2i", "test"), ds.gallery(split="test")
    assert queries == ds.query() and gallery == ds.gallery("t2i", trial=0, seed=4)
    assert {r.pid for r in gallery} == test_ids and len(gallery) == 2 * len(test_ids)
    assert len(queries) == 2 * len(gallery) and {r.modality for r in queries} == {"text"}
    assert all(Path(r.path).is_file() for r in queries + gallery)
    if "val" in splits:
        assert ds.splits == ("test", "val")
        assert {r.pid for r in ds.query(split="val")} == {r.pid for r in ds.gallery(split="val")}
        assert {r.pid for r in ds.gallery(split="val")} == {3, 4}
    else:
        assert ds.splits == ("test",)
        with pytest.raises(ValueError, match=r"evaluation split must be one of \('test',\)"):
            ds.query(split="val")
    with pytest.raises(ValueError, match=r"setting must be one of \('t2i',\), got 'test'"):
        ds.gallery("test")  # the old gallery(split) call
    with pytest.raises(ValueError, match="one fixed gallery"):
        ds.gallery(trial=2)


def test_text_bad_input(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    with pytest.raises(FileNotFoundError, match=r"expected .*reid_raw\.json or .*caption_all"):
        CUHKPEDES(tmp_path)
    root = pedes_tree(tmp_path / "a", "reid_raw.json")
    items = json.loads((root / "reid_raw.json").read_text())
    del items[3]["captions"]
    (root / "reid_raw.json").write_text(json.dumps(items))
    with pytest.raises(
        ValueError, match=r"reid_raw\.json: item 3: missing key\(s\) \['captions'\]"
    ):
        CUHKPEDES(root)
    items[3]["captions"] = ["x"]
    items[4]["file_path"] = "test/absent.jpg"
    (root / "reid_raw.json").write_text(json.dumps(items))
    with pytest.raises(FileNotFoundError, match=r"item 4: image 'test/absent\.jpg' not found"):
        CUHKPEDES(root)
    (root / "reid_raw.json").write_text("[{")
    with pytest.raises(ValueError, match=r"reid_raw\.json: not valid JSON"):
        CUHKPEDES(root)


def test_unreadable_image_names_the_path(tmp_path: Path) -> None:
    root = sysu_tree(tmp_path)
    broken = root / "cam1" / "0004" / "0001.jpg"
    broken.write_bytes(b"not a jpeg")
    ds = SYSUMM01(root)
    record = next(r for r in ds.gallery_candidates() if r.path == str(broken))
    with pytest.raises(ValueError, match=rf"cannot read image {broken}"):
        read_image(record.path)
    with pytest.raises(ValueError, match="cannot read image"):
        RecordDataset([record])[0]


@pytest.fixture(scope="module")
def synth():
    return pytest.importorskip("reidkit.data.synth")


def test_synthetic_sysu_layout_end_to_end(tmp_path: Path, synth) -> None:
    root = synth.write_layout("sysu", tmp_path / "sysu", ids=8, seed=0, profile="smoke")
    summary = json.loads((root / synth.layouts.MARKER).read_text())["summary"]
    ds = SYSUMM01(root)
    assert len(ds.pid_to_label) == summary["train_ids"] + summary["val_ids"]
    assert len(ds.test_ids) == summary["test_ids"]
    assert ds.query() and {r.camid for r in ds.gallery()} <= {1, 2, 4, 5}
    assert read_image(ds.train[0].path).size == (32, 64)


def test_synthetic_sysu_layout_has_a_real_validation_split(tmp_path: Path, synth) -> None:
    root = synth.write_layout("sysu", tmp_path / "sysu", ids=12, seed=0, profile="smoke")
    ds = SYSUMM01(root, train_on_val=False)
    val, train, test = set(ds.val_ids), set(ds.train_ids), set(ds.test_ids)
    assert val and not val & train and not val & test and val | train | test == set(range(1, 13))
    query, gallery = ds.query(split="val"), ds.gallery(split="val")
    assert query and gallery
    assert {r.pid for r in query} == {r.pid for r in gallery} == val  # every val id is seen
    assert {r.modality for r in query} == {"infrared"} and {r.modality for r in gallery} == {
        "visible"
    }
    assert len(ds.pid_to_label) == len(train)


def test_synthetic_regdb_layout_end_to_end(tmp_path: Path, synth) -> None:
    root = synth.write_layout("regdb", tmp_path / "regdb", ids=4, seed=0, profile="smoke")
    for trial in (1, 10):
        ds = RegDB(root, trial=trial)
        assert len(ds.pid_to_label) == 2 and len(ds.train) == 2 * 2 * 10
        assert len(ds.query("v2i")) == len(ds.gallery("v2i")) == 2 * 10


def test_synthetic_pedes_layout_end_to_end(tmp_path: Path, synth) -> None:
    root = synth.write_layout("pedes", tmp_path / "pedes", ids=6, seed=0, profile="smoke")
    ds = CUHKPEDES(root)
    queries, gallery = ds.query(split="test"), ds.gallery(split="test")
    assert ds.train and gallery and len(queries) == 2 * len(gallery)
    assert {r.pid for r in queries} == {r.pid for r in gallery}


def test_random_greyscale_changes_visible_images_only() -> None:
    import numpy as np
    import torch

    from reidkit.data.transforms import MEAN, STD, train_transform

    rng = np.random.default_rng(0)
    colour = Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8))
    grey = Image.fromarray(np.repeat(rng.integers(0, 256, (32, 16, 1), dtype=np.uint8), 3, 2))
    always = train_transform((32, 16), flip=0.0, pad=0, erasing=0.0, grayscale=1.0)
    never = train_transform((32, 16), flip=0.0, pad=0, erasing=0.0)
    out = always(colour)
    assert torch.allclose(out[0] * STD[0] + MEAN[0], out[2] * STD[2] + MEAN[2], atol=1e-6)
    assert not torch.allclose(out, never(colour))
    assert torch.equal(always(grey), never(grey))  # an infrared image is unchanged


def test_every_loader_declares_its_protocol(tmp_path: Path) -> None:
    loaders = {
        "sysu": SYSUMM01(sysu_tree(tmp_path / "sysu")),
        "regdb": RegDB(regdb_tree(tmp_path / "regdb")),
        "llcm": LLCM(llcm_tree(tmp_path / "llcm")),
        "cuhk": CUHKPEDES(pedes_tree(tmp_path / "cuhk", "reid_raw.json")),
    }
    expected = {
        "sysu": ("visible-infrared", "sysu", ("all", "indoor"), "all", 10, ("test", "val")),
        "regdb": ("visible-infrared", "regdb", ("v2i", "i2v"), "v2i", 1, ("test",)),
        "llcm": ("visible-infrared", "llcm", ("v2i", "i2v"), "v2i", 10, ("test",)),
        "cuhk": ("text-image", "text", ("t2i",), "t2i", 1, ("test", "val")),
    }
    for name, ds in loaders.items():
        got = (
            ds.task,
            ds.protocol,
            ds.settings,
            ds.default_setting,
            ds.default_trials,
            ds.splits,
        )
        assert got == expected[name], name
        assert ds.task in TASKS and ds.protocol in PROTOCOLS
        assert ds.query() == ds.query(ds.default_setting, "test")
        assert ds.gallery() == ds.gallery(ds.default_setting, 0, 0, "test")
        for setting in ds.settings:
            assert ds.query(setting) and ds.gallery(setting)


def test_read_image_dispatches_on_the_address_scheme(tmp_path: Path, monkeypatch) -> None:
    import ast

    import reidkit.data.records as records

    monkeypatch.setattr(records, "_READERS", dict(records._READERS))  # restored afterwards
    register_reader("test-solid", lambda address: Image.new("RGB", (2, 3), (9, 9, 9)))
    assert read_image("test-solid://anything").size == (2, 3)
    with pytest.raises(ValueError, match=r"no reader is registered for 'nope://'.*'synth'"):
        read_image("nope://x/y.jpg")
    with pytest.raises(ValueError, match="is not a URI scheme"):
        register_reader("Bad Scheme", read_image)
    assert read_image(image(tmp_path / "plain.png")).size == (4, 8)  # no scheme: a file
    # records.py no longer imports the synthetic generator (the import circle is gone)
    tree = ast.parse(Path(records.__file__).read_text())
    imported = [
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert not [m for m in imported if m.startswith("reidkit.data.synth")]


def test_modality_index() -> None:
    assert [modality_index(m) for m in MODALITIES] == list(range(len(MODALITIES)))
    with pytest.raises(ValueError, match=r"modality 'thermal' is not one of \('visible'"):
        modality_index("thermal")
