"""Visible-X-ray package re-identification in our own layout (no public dataset exists).

Layout (written by ``reidkit synth --layout xray``, and the shape a real dataset should take)::

    <root>/visible/<pid:04d>/*.jpg|png|bmp   photographs of package pid (camera 1)
    <root>/xray/<pid:04d>/*.jpg|png|bmp      X-ray scans of package pid (camera 2)
    <root>/splits/train_ids.txt              ONE line of comma-separated integer ids
    <root>/splits/val_ids.txt                optional
    <root>/splits/test_ids.txt

Protocol (our choice, stated once here): settings are the directions ``"v2x"`` (a visible query,
e.g. at check-in, searched among X-ray scans) and ``"x2v"``. Queries are every test image of
the query modality. The gallery is single-shot: one image per test identity of the other
modality, drawn for trial ``t`` with ``random.Random(seed + t)`` (the seeded random-choice
convention of :func:`reidkit.data.splits.sample_gallery`); 10 trials, metrics averaged. Ranking
uses the ``"regdb"`` rules of ``reidkit.eval``: nothing is removed (query and gallery come from
different sensors) and CMC is not de-duplicated (the gallery holds one image per identity, so
de-duplication would change nothing). Training identities are relabelled 0..C-1; the
validation ids are trained on unless ``train_on_val=False``, which makes them the ``"val"``
evaluation split.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import (
    Benchmark,
    list_images,
    read_id_list,
    relabel,
    require_dir,
    require_file,
    sample_gallery,
)

SPLIT_FILES = {"train": "train_ids.txt", "val": "val_ids.txt", "test": "test_ids.txt"}
SENSORS = {"visible": ("visible", 1), "xray": ("xray", 2)}  # folder -> (modality, camera)
XRAY_DIRECTIONS = {"v2x": ("visible", "xray"), "x2v": ("xray", "visible")}


class XrayPackages(Benchmark):
    """Training records (relabelled) and the query and gallery of both directions."""

    task = "visible-xray"
    protocol = "regdb"
    settings = tuple(XRAY_DIRECTIONS)
    default_setting = "v2x"
    default_trials = 10
    splits = ("test", "val")

    def __init__(self, root: str | Path, train_on_val: bool = True) -> None:
        self.root = require_dir(Path(root), "visible-X-ray root")
        for folder in SENSORS:
            require_dir(self.root / folder, f"visible-X-ray {folder} images")
        folder = require_dir(self.root / "splits", "visible-X-ray split folder")
        self.train_ids = read_id_list(require_file(folder / SPLIT_FILES["train"], "train ids"))
        self.test_ids = read_id_list(require_file(folder / SPLIT_FILES["test"], "test ids"))
        val = folder / SPLIT_FILES["val"]
        self.val_ids = read_id_list(val) if val.is_file() else []
        self._check_disjoint()
        self.train_on_val = train_on_val
        train_ids = self.train_ids + (self.val_ids if train_on_val else [])
        self.train, self.pid_to_label = relabel(self._records(train_ids, "train"))
        self._evaluation = {"test": self._records(self.test_ids, "test")}
        if self.val_ids and not train_on_val:
            self._evaluation["val"] = self._records(self.val_ids, "val")

    def _check_disjoint(self) -> None:
        named = {"train": self.train_ids, "val": self.val_ids, "test": self.test_ids}
        for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = sorted(set(named[first]) & set(named[second]))
            if shared:
                raise ValueError(
                    f"{self.root / 'splits'}: ids {shared[:10]} are in both "
                    f"{SPLIT_FILES[first]} and {SPLIT_FILES[second]}"
                )

    def _records(self, ids: list[int], split: str) -> list[Record]:
        """Every image of ``ids``; an id without an image in either modality is an error."""
        records = []
        for pid in sorted(set(ids)):
            for folder, (modality, camid) in SENSORS.items():
                found = list_images(self.root / folder / f"{pid:04d}")
                if not found:
                    raise FileNotFoundError(
                        f"id {pid} is listed in {self.root / 'splits' / SPLIT_FILES[split]} but "
                        f"has no image in {self.root / folder / f'{pid:04d}'}/ (every id needs "
                        "visible and X-ray images)"
                    )
                records.extend(Record(str(path), pid, camid, modality) for path in found)
        return records

    def _split_records(self, split: str) -> list[Record]:
        self.check_split(split)
        if split not in self._evaluation:
            reason = (
                "it is trained on (train_on_val=True; pass train_on_val=False)"
                if self.val_ids
                else f"{self.root / 'splits' / SPLIT_FILES['val']} does not exist"
            )
            raise ValueError(f"visible-X-ray split 'val' is not available: {reason}")
        return self._evaluation[split]

    def _modalities(self, setting: str | None) -> tuple[str, str]:
        return XRAY_DIRECTIONS[self.check_setting(setting)]

    def query(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every image of the split in the query modality (visible for ``v2x``)."""
        wanted = self._modalities(setting)[0]
        return [r for r in self._split_records(split) if r.modality == wanted]

    def gallery_candidates(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every image of the split in the gallery modality (the gallery draws from these)."""
        wanted = self._modalities(setting)[1]
        return [r for r in self._split_records(split) if r.modality == wanted]

    def gallery(
        self, setting: str | None = None, trial: int = 0, seed: int = 0, split: str = "test"
    ) -> list[Record]:
        """One image per identity of the other modality, drawn with seed ``seed + trial``."""
        return sample_gallery(self.gallery_candidates(setting, split), "single", trial, seed)

    def __repr__(self) -> str:
        return (
            f"XrayPackages({str(self.root)!r}: {len(self.train)} training images of "
            f"{len(self.pid_to_label)} ids, {len(self.test_ids)} test ids"
            + ("" if self.train_on_val else f", {len(self.val_ids)} val ids")
            + ")"
        )
