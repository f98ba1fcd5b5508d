"""SYSU-MM01 as released: ``cam1..cam6/<pid:04d>/<img:04d>.jpg`` and ``exp/*_id.txt``.

Cameras 1, 2 (indoor), 4, 5 (outdoor) are visible; 3 (indoor) and 6 (outdoor) infrared. These
camera tuples are the one definition in reidkit (the synthetic generator imports them).
Queries are every cam3 and cam6 image of the evaluation ids; the gallery is re-sampled per
trial (see :func:`reidkit.data.splits.sample_gallery` for the seeded random-choice convention).
The ``val`` split (``exp/val_id.txt``) is evaluated the same way when it is not trained on.

>>> ds = SYSUMM01("data/SYSU-MM01")                            # doctest: +SKIP
>>> ds.train[0], len(ds.pid_to_label)                          # doctest: +SKIP
>>> ds.gallery("indoor", trial=3, shot="single")               # doctest: +SKIP
>>> SYSUMM01("data/SYSU-MM01", train_on_val=False).query(split="val")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import (
    Benchmark,
    check_choice,
    list_images,
    read_id_list,
    relabel,
    require_dir,
    sample_gallery,
)

CAMERAS = (1, 2, 3, 4, 5, 6)
VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
INDOOR_CAMERAS = (1, 2, 3)
GALLERY_CAMERAS = {
    "all": VISIBLE_CAMERAS,
    "indoor": tuple(c for c in VISIBLE_CAMERAS if c in INDOOR_CAMERAS),
}
SHOTS = ("single", "multi")


def camera_modality(cam: int) -> str:
    """``"infrared"`` for cameras 3 and 6, ``"visible"`` for 1, 2, 4 and 5."""
    if cam not in CAMERAS:
        raise ValueError(f"SYSU-MM01 camera must be one of {CAMERAS}, got {cam!r}")
    return "infrared" if cam in INFRARED_CAMERAS else "visible"


class SYSUMM01(Benchmark):
    """Training records (relabelled) and the query and gallery of every protocol variant.

    ``train_on_val``: train on train + val ids (395, common practice) rather than train (296);
    with ``train_on_val=False`` the val ids form the ``"val"`` evaluation split.
    """

    task = "visible-infrared"
    protocol = "sysu"
    settings = tuple(GALLERY_CAMERAS)
    default_setting = "all"
    default_trials = 10
    splits = ("test", "val")

    def __init__(self, root: str | Path, train_on_val: bool = True) -> None:
        self.root = require_dir(Path(root), "SYSU-MM01 root")
        for cam in CAMERAS:
            require_dir(self.root / f"cam{cam}", "SYSU-MM01 camera folder")
        exp = require_dir(self.root / "exp", "SYSU-MM01 split folder")
        self.train_ids = read_id_list(exp / "train_id.txt")
        self.val_ids = read_id_list(exp / "val_id.txt")
        self.test_ids = read_id_list(exp / "test_id.txt")
        self.train_on_val = train_on_val

        train_ids = self.train_ids + (self.val_ids if train_on_val else [])
        source = "train_id.txt" + (" + val_id.txt" if train_on_val else "")
        self.train, self.pid_to_label = relabel(self._records(train_ids, source))
        self._evaluation = {"test": self._records(self.test_ids, "test_id.txt")}
        if not train_on_val:
            self._evaluation["val"] = self._records(self.val_ids, "val_id.txt")

    def _records(self, ids: list[int], source: str) -> list[Record]:
        records = []
        for pid in sorted(set(ids)):
            found = []
            for cam in CAMERAS:
                for path in list_images(self.root / f"cam{cam}" / f"{pid:04d}"):
                    found.append(Record(str(path), pid, cam, camera_modality(cam)))
            if not found:
                raise FileNotFoundError(
                    f"id {pid} is listed in {self.root / 'exp'} ({source}) but no image was found "
                    f"in any {self.root}/cam1..cam6/{pid:04d}/ folder"
                )
            records.extend(found)
        return records

    def _split_records(self, split: str) -> list[Record]:
        self.check_split(split)
        if split not in self._evaluation:  # only "val" when train_on_val
            raise ValueError(
                f"SYSU-MM01 split 'val' is not available: its ids (exp/val_id.txt) are in the "
                f"training set because train_on_val=True; use SYSUMM01({str(self.root)!r}, "
                "train_on_val=False) to evaluate on them"
            )
        return self._evaluation[split]

    def query(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every cam3 and cam6 image of the split's ids.

        The setting is checked but does not change the queries: SYSU-MM01's protocol queries
        with all infrared images in both all-search and indoor-search; only the gallery differs
        (and cam3 queries skip cam2, a rule of ``reidkit.eval``'s ``"sysu"`` protocol).
        """
        self.check_setting(setting)
        return [r for r in self._split_records(split) if r.camid in INFRARED_CAMERAS]

    def gallery_candidates(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """All images of the split the gallery of ``setting`` may draw from."""
        cameras = GALLERY_CAMERAS[self.check_setting(setting)]
        return [r for r in self._split_records(split) if r.camid in cameras]

    def gallery(
        self,
        setting: str | None = None,
        trial: int = 0,
        seed: int = 0,
        split: str = "test",
        *,
        shot: str = "single",
    ) -> list[Record]:
        """One (single-shot) or ten (multi-shot) images per (id, visible camera of setting),
        drawn for ``trial`` with seed ``seed + trial``."""
        check_choice(shot, SHOTS, "shot")
        return sample_gallery(self.gallery_candidates(setting, split), shot, trial, seed)

    def __repr__(self) -> str:
        return (
            f"SYSUMM01({str(self.root)!r}: {len(self.train)} training images of "
            f"{len(self.pid_to_label)} ids, {len(self.test_ids)} test ids"
            + ("" if self.train_on_val else f", {len(self.val_ids)} val ids")
            + ")"
        )
