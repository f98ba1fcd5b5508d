"""Write the synthetic people in the exact on-disk layouts of SYSU-MM01, RegDB and CUHK-PEDES.

The real loaders (``reidkit.data.sysu``, ``regdb``, ``pedes``) then run end to end on data
anyone can generate. Layouts follow the protocols of ``book/methods.md``:

* ``sysu``: ``cam1..cam6/<pid:04d>/<img:04d>.jpg`` and ``exp/{train,val,test}_id.txt``, each
  ONE line of comma-separated ids (1-based), split roughly 296 / 99 / 96 as SYSU-MM01.
* ``regdb``: ``Visible/<pid>/*.bmp`` and ``Thermal/<pid>/*.bmp`` (10 + 10 per id, cameras 4
  and 6) and ``idx/{train,test}_{visible,thermal}_{1..10}.txt`` with ``relative/path label``
  lines (label = pid - 1); each trial splits the ids in half with its own seed. Its infrared
  images are thermal (``near_infrared=0`` unless the caller sets it), as RegDB's are. RegDB
  was filmed by a visible and a thermal camera mounted together and triggered at once, so its
  k-th visible and k-th thermal image of a person show the same pose: here both cameras sit
  on one rig (``render_array(..., rig=REGDB_RIG)``), sharing pose, position and occluder and
  differing in sensor, light, blur and noise.
* ``pedes``: ``imgs/synth/<pid:05d>_c<cam>_<k:02d>.jpg`` and ``reid_raw.json``: a list of
  ``{split, captions, file_path, processed_tokens, id}``, splits train / val / test.
* ``xray``: synthetic *packages*, not people: ``visible/<pid:04d>/<k:04d>.jpg``,
  ``xray/<pid:04d>/<k:04d>.png`` and ``splits/{train,val,test}_ids.txt``, our own layout for
  visible-X-ray re-identification (``reidkit.data.synth.xray_layout``). Images are square by
  default (the profile's height on both sides); knobs are those of ``PackageSettings``.

An export is written into a hidden sibling folder and renamed into place only when complete,
with a marker file ``.reidkit-synth.json`` written last: an interrupted export never leaves a
folder that looks complete. The marker records the settings and the generator version: the
same export is not written twice, and one made by an older generator is replaced. JPEGs use
quality 95 without optimisation, so files are repeatable.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from reidkit.data.synth.captions import tokens
from reidkit.data.synth.people import SyntheticPeople, image_captions
from reidkit.data.synth.render import render_array
from reidkit.data.synth.xray_layout import PackageExport, package_export, write_xray_files
from reidkit.data.sysu import CAMERAS, INFRARED_CAMERAS

LAYOUTS = ("sysu", "regdb", "pedes", "xray")
MARKER = ".reidkit-synth.json"
JPEG_QUALITY = 95
MIN_IDS = {"sysu": 3, "regdb": 2, "pedes": 3, "xray": 3}
REGDB_RIG = 1  # the rig id of the RegDB layout's two cameras

# Bump when rendering changes: an export made by another version is stale and is replaced.
GENERATOR_VERSION = 4  # the people (sysu, regdb, pedes layouts)
PACKAGE_GENERATOR_VERSION = 1  # the packages (xray layout)


def generator_version(layout: str) -> int:
    """The version of the generator that renders ``layout``."""
    return PACKAGE_GENERATOR_VERSION if layout == "xray" else GENERATOR_VERSION


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    if path.suffix == ".jpg":
        image.save(path, quality=JPEG_QUALITY, subsampling=0, optimize=False)
    else:
        image.save(path)


def _split(ids: int, fractions: tuple[float, float]) -> tuple[int, int, int]:
    """(train, val, test) counts, each >= 1, val and test taking ``fractions`` of ``ids``."""
    val = max(1, round(ids * fractions[0]))
    test = max(1, round(ids * fractions[1]))
    return ids - val - test, val, test


def _write_sysu(
    people: SyntheticPeople, ids: int, folder: Path, test_ids: int | None = None
) -> dict[str, int]:
    s = people.settings
    for cam in CAMERAS:
        (folder / f"cam{cam}").mkdir(parents=True)
    images = 0
    for pid in range(ids):
        for cam in people.identity(pid).cameras:
            for k in range(people.images_per_camera):
                path = folder / f"cam{cam}" / f"{pid + 1:04d}" / f"{k + 1:04d}.jpg"
                _save(render_array(s, pid, cam, k), path)
                images += 1
    if test_ids is None:  # SYSU-MM01's proportions
        n_train, n_val, _ = _split(ids, (99 / 491, 96 / 491))
    else:  # the last test_ids identities; the rest split train / val as SYSU-MM01's 296 / 99
        n_val = round((ids - test_ids) * 99 / 395)
        n_train = ids - test_ids - n_val
    order = list(range(1, ids + 1))
    parts = {"train": order[:n_train], "val": order[n_train : n_train + n_val]}
    parts["test"] = order[n_train + n_val :]
    (folder / "exp").mkdir()
    for name, members in parts.items():
        text = ",".join(str(i) for i in members) + "\n"
        (folder / "exp" / f"{name}_id.txt").write_text(text, encoding="utf-8")
    return {"images": images, **{f"{k}_ids": len(v) for k, v in parts.items()}}


def _write_regdb(people: SyntheticPeople, ids: int, folder: Path, per_id: int = 10) -> dict:
    s = people.settings
    files: dict[str, list[tuple[str, int]]] = {"visible": [], "thermal": []}
    for pid in range(ids):
        for modality, cam, letter, top in (
            ("visible", 4, "v", "Visible"),
            ("thermal", 6, "t", "Thermal"),
        ):
            names = []
            for k in range(per_id):
                rel = f"{top}/{pid + 1}/{letter}_{pid + 1:04d}_{k + 1:02d}.bmp"
                # one rig: the k-th visible and thermal images are taken at the same moment
                _save(render_array(s, pid, cam, k, rig=REGDB_RIG), folder / rel)
                names.append((rel, pid))
            files[modality].append(names)
    (folder / "idx").mkdir()
    for trial in range(1, 11):
        perm = np.random.default_rng([s.seed, trial, 0x4E]).permutation(ids)
        halves = {"train": sorted(perm[: ids // 2]), "test": sorted(perm[ids // 2 :])}
        for split, members in halves.items():
            for modality in ("visible", "thermal"):
                lines = [f"{rel} {label}" for pid in members for rel, label in files[modality][pid]]
                path = folder / "idx" / f"{split}_{modality}_{trial}.txt"
                path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"images": 2 * per_id * ids, "trials": 10}


def _write_pedes(people: SyntheticPeople, ids: int, folder: Path) -> dict[str, int]:
    s = people.settings
    n_train, n_val, _ = _split(ids, (1000 / 13003, 1000 / 13003))
    entries = []
    for pid in range(ids):
        split = "train" if pid < n_train else "val" if pid < n_train + n_val else "test"
        for cam in people.identity(pid).cameras:
            if cam in INFRARED_CAMERAS:
                continue  # CUHK-PEDES images are colour photographs
            for k in range(people.images_per_camera):
                rel = f"synth/{pid + 1:05d}_c{cam}_{k + 1:02d}.jpg"
                _save(render_array(s, pid, cam, k), folder / "imgs" / rel)
                captions = image_captions(s, pid, cam, k)
                entries.append(
                    {
                        "split": split,
                        "captions": captions,
                        "file_path": rel,
                        "processed_tokens": [tokens(c) for c in captions],
                        "id": pid + 1,
                    }
                )
    text = json.dumps(entries)
    (folder / "reid_raw.json").write_text(text + "\n", encoding="utf-8")
    return {
        "images": len(entries),
        "train_ids": n_train,
        "val_ids": n_val,
        "test_ids": ids - n_train - n_val,
    }


def _write_xray(packages: PackageExport, ids: int, folder: Path, test_ids: int | None) -> dict:
    return write_xray_files(
        packages.settings, ids, folder, packages.images_per_camera, test_ids, _save
    )


def _same_export(out: Path, description: dict) -> bool:
    """Whether ``out`` holds a complete export made with exactly these settings."""
    try:
        previous = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    previous.pop("summary", None)
    return previous == description


def write_layout(
    layout: str,
    out: str | Path,
    ids: int,
    seed: int = 0,
    *,
    img_size: tuple[int, int] | None = None,
    images_per_camera: int | None = None,
    profile: str | None = None,
    overwrite: bool = False,
    test_ids: int | None = None,
    **knobs: float,
) -> Path:
    """Write ``ids`` synthetic identities to ``out`` in a real dataset's layout; return ``out``.

    ``layout`` is one of ``LAYOUTS``. Image size and images per camera default to the profile's
    (``xray``: a square of the profile's height). If ``out`` already holds the same export,
    nothing is written. A non-empty folder that is not a reidkit export is refused; another
    reidkit export is replaced only with ``overwrite=True``. ``test_ids`` (``sysu`` and
    ``xray``) fixes the size of the test split instead of the default proportions.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if not isinstance(ids, int) or isinstance(ids, bool) or ids < MIN_IDS[layout]:
        raise ValueError(
            f"layout {layout!r} needs ids >= {MIN_IDS[layout]} (one per split), got {ids!r}"
        )
    if test_ids is not None and (layout not in ("sysu", "xray") or not 1 <= test_ids <= ids - 2):
        raise ValueError(
            "test_ids applies to the sysu and xray layouts only and must lie in 1..ids-2, got "
            f"{test_ids!r}"
        )
    if layout == "regdb":  # RegDB's second camera is thermal; SYSU-MM01's are near-infrared
        knobs.setdefault("near_infrared", 0.0)
    if layout == "xray":
        source = package_export(seed, profile, img_size, images_per_camera, knobs)
    else:
        source = SyntheticPeople(
            seed,
            profile,
            train_ids=ids,
            test_ids=1,
            img_size=img_size,
            images_per_camera=images_per_camera,
            **knobs,
        )
    description = {
        "generator": generator_version(layout),
        "layout": layout,
        "ids": ids,
        "images_per_camera": source.images_per_camera,
        "test_ids": test_ids,
        "settings": dataclasses.asdict(source.settings),
    }
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"output path {out} exists and is not a folder")
        marker = out / MARKER
        if _same_export(out, description):
            return out
        if marker.is_file():
            previous = json.loads(marker.read_text(encoding="utf-8"))
            stale = previous.get("generator") != generator_version(str(previous.get("layout")))
            if not (overwrite or stale):
                raise ValueError(
                    f"{out} holds a different synthetic export ({previous.get('layout')},"
                    f" {previous.get('ids')} ids); pass overwrite=True (--overwrite)"
                )
        elif any(out.iterdir()):
            raise ValueError(
                f"output folder {out} is not empty and is not a reidkit synthetic "
                "export; choose a new or empty folder"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        writer = {
            "sysu": functools.partial(_write_sysu, test_ids=test_ids),
            "regdb": _write_regdb,
            "pedes": _write_pedes,
            "xray": functools.partial(_write_xray, test_ids=test_ids),
        }[layout]
        summary = writer(source, ids, partial)
        text = json.dumps({**description, "summary": summary}, indent=2)
        (partial / MARKER).write_text(text + "\n", encoding="utf-8")  # written last
        if _same_export(out, description):
            return out  # another process finished the same export meanwhile
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            shutil.rmtree(old)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out
