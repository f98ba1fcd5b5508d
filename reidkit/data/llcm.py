"""LLCM as released: ``idx/train_vis.txt``, ``idx/train_nir.txt`` (``relative/path label``),
``idx/test_id.txt`` (one line of comma-separated ids), ``test_vis/cam1..9/<pid:04d>/`` and
``test_nir/cam*/<pid:04d>/`` (there is no NIR camera 3).

The camera of an image is the number in its ``cam<N>`` path component. Settings are the
directions ``"v2i"`` (visible queries) and ``"i2v"``. Queries are every test image of the query
modality; the gallery takes one image per (test id, camera) of the other modality, re-sampled
per trial (10 by default) with the seeded random-choice convention of
:func:`reidkit.data.splits.sample_gallery`. LLCM has no validation split.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import (
    DirectionalBenchmark,
    list_images,
    read_id_list,
    read_index_file,
    relabel,
    require_dir,
    sample_gallery,
)

_CAMERA = re.compile(r"^cam(\d+)$")


class LLCM(DirectionalBenchmark):
    """Training records (relabelled) and the test query and gallery of both directions."""

    protocol = "llcm"
    default_trials = 10
    splits = ("test",)

    def __init__(self, root: str | Path) -> None:
        self.root = require_dir(Path(root), "LLCM root")
        idx = require_dir(self.root / "idx", "LLCM split folder")
        train = self._read(idx / "train_vis.txt", "visible") + self._read(
            idx / "train_nir.txt", "infrared"
        )
        self.train, self.pid_to_label = relabel(train)
        self.test_ids = read_id_list(idx / "test_id.txt")
        self._test = {
            "visible": self._scan("test_vis", "visible"),
            "infrared": self._scan("test_nir", "infrared"),
        }
        found = {r.pid for records in self._test.values() for r in records}
        missing = sorted(set(self.test_ids) - found)
        if missing:
            raise FileNotFoundError(
                f"ids {missing[:10]} are listed in {idx / 'test_id.txt'} but have no image in "
                f"{self.root}/test_vis/cam*/<pid:04d>/ or {self.root}/test_nir/cam*/<pid:04d>/"
            )

    def _read(self, path: Path, modality: str) -> list[Record]:
        records = []
        for relative, label, number in read_index_file(path):
            cameras = [m.group(1) for part in Path(relative).parts if (m := _CAMERA.match(part))]
            if len(cameras) != 1:
                raise ValueError(
                    f"{path}:{number}: expected one 'cam<N>' folder in {relative!r} to give "
                    "the camera"
                )
            image = self.root / relative
            if not image.is_file():
                raise FileNotFoundError(
                    f"{path}:{number}: image {relative!r} is listed but not found at {image}"
                )
            records.append(Record(str(image), label, int(cameras[0]), modality))
        return records

    def _scan(self, folder: str, modality: str) -> list[Record]:
        base = require_dir(self.root / folder, f"LLCM {modality} test images")
        cameras = sorted(
            (int(m.group(1)), path) for path in base.iterdir() if (m := _CAMERA.match(path.name))
        )
        records = []
        for pid in sorted(set(self.test_ids)):
            for camid, path in cameras:
                records.extend(
                    Record(str(p), pid, camid, modality) for p in list_images(path / f"{pid:04d}")
                )
        return records

    def gallery_candidates(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every test image of the other modality (the gallery draws from these)."""
        return self._gallery_side(setting, split)

    def gallery(
        self, setting: str | None = None, trial: int = 0, seed: int = 0, split: str = "test"
    ) -> list[Record]:
        """One image per (test id, camera) of the other modality, drawn with seed
        ``seed + trial``."""
        return sample_gallery(self.gallery_candidates(setting, split), "single", trial, seed)

    def __repr__(self) -> str:
        return (
            f"LLCM({str(self.root)!r}: {len(self.train)} training images of "
            f"{len(self.pid_to_label)} ids, {len(self.test_ids)} test ids)"
        )
