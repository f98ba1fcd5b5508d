"""SYSU-MM01 as released: ``cam1..cam6/<pid:04d>/<img:04d>.jpg`` and ``exp/*_id.txt``.

Cameras 1, 2 (indoor), 4, 5 (outdoor) are visible; 3 (indoor) and 6 (outdoor) infrared.
Queries are every cam3 and cam6 image of the 96 test ids; the gallery is re-sampled per trial
(see :func:`reidkit.data.splits.sample_gallery` for the seeded random-choice convention).

>>> ds = SYSUMM01("data/SYSU-MM01")                        # doctest: +SKIP
>>> ds.train[0], len(ds.pid_to_label)                      # doctest: +SKIP
>>> ds.gallery(mode="indoor", shot="single", trial=3)      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import (
    check_choice,
    list_images,
    read_id_list,
    relabel,
    require_dir,
    sample_gallery,
)

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
MODES = tuple(GALLERY_CAMERAS)
SHOTS = ("single", "multi")


class SYSUMM01:
    """Training records (relabelled) and the test query and gallery of every protocol variant.

    ``train_on_val``: train on train + val ids (395, common practice) rather than train (296).
    """

    def __init__(self, root: str | Path, train_on_val: bool = True) -> None:
        self.root = require_dir(Path(root), "SYSU-MM01 root")
        for cam in range(1, 7):
            require_dir(self.root / f"cam{cam}", "SYSU-MM01 camera folder")
        exp = require_dir(self.root / "exp", "SYSU-MM01 split folder")
        self.train_ids = read_id_list(exp / "train_id.txt")
        self.val_ids = read_id_list(exp / "val_id.txt")
        self.test_ids = read_id_list(exp / "test_id.txt")

        train_ids = self.train_ids + (self.val_ids if train_on_val else [])
        source = "train_id.txt" + (" + val_id.txt" if train_on_val else "")
        self.train, self.pid_to_label = relabel(self._records(train_ids, range(1, 7), source))
        self._test = self._records(self.test_ids, range(1, 7), "test_id.txt")

    def _records(self, ids: list[int], cameras, source: str) -> list[Record]:
        records = []
        for pid in sorted(set(ids)):
            found = []
            for cam in cameras:
                modality = "infrared" if cam in INFRARED_CAMERAS else "visible"
                for path in list_images(self.root / f"cam{cam}" / f"{pid:04d}"):
                    found.append(Record(str(path), pid, cam, modality))
            if not found:
                raise FileNotFoundError(
                    f"id {pid} is listed in {self.root / 'exp'} ({source}) but no image was found "
                    f"in any {self.root}/cam1..cam6/{pid:04d}/ folder"
                )
            records.extend(found)
        return records

    def query(self, mode: str = "all") -> list[Record]:
        """Every cam3 and cam6 image of the test ids (the same for both modes)."""
        check_choice(mode, MODES, "mode")
        return [r for r in self._test if r.camid in INFRARED_CAMERAS]

    def gallery_candidates(self, mode: str = "all") -> list[Record]:
        """All test images the gallery of ``mode`` may draw from."""
        cameras = GALLERY_CAMERAS[check_choice(mode, MODES, "mode")]
        return [r for r in self._test if r.camid in cameras]

    def gallery(
        self, mode: str = "all", shot: str = "single", trial: int = 0, seed: int = 0
    ) -> list[Record]:
        """One (single-shot) or ten (multi-shot) images per (test id, visible camera of mode)."""
        check_choice(shot, SHOTS, "shot")
        groups: dict[tuple[int, int], list[Record]] = {}
        for record in self.gallery_candidates(mode):
            groups.setdefault((record.pid, record.camid), []).append(record)
        return sample_gallery(groups, shot, trial, seed)

    def __repr__(self) -> str:
        return (
            f"SYSUMM01({str(self.root)!r}: {len(self.train)} training images of "
            f"{len(self.pid_to_label)} ids, {len(self.test_ids)} test ids)"
        )
