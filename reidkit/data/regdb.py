"""RegDB as released: ``Visible/<pid>/*.bmp``, ``Thermal/<pid>/*.bmp`` and
``idx/{train,test}_{visible,thermal}_{1..10}.txt`` (one ``relative/path label`` per line).

Each of the 10 trials has its own 206/206 train/test split and its own model; metrics are
averaged over the trials. Directions: ``"v2i"`` (visible queries, thermal gallery) and
``"i2v"``. Visible images get camera 1, thermal camera 2. No gallery sampling.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import check_choice, read_index_file, relabel, require_dir

DIRECTIONS = ("v2i", "i2v")
TRIALS = tuple(range(1, 11))
_SPECTRA = {"visible": ("visible", 1), "thermal": ("infrared", 2)}


class RegDB:
    """The training records (relabelled) and test images of one trial (1..10)."""

    def __init__(self, root: str | Path, trial: int = 1) -> None:
        if trial not in TRIALS:
            raise ValueError(f"RegDB trial must be one of 1..10, got {trial!r}")
        self.root = require_dir(Path(root), "RegDB root")
        require_dir(self.root / "Visible", "RegDB visible images")
        require_dir(self.root / "Thermal", "RegDB thermal images")
        idx = require_dir(self.root / "idx", "RegDB split folder")
        self.trial = trial
        parts = {}
        for split in ("train", "test"):
            for spectrum in ("visible", "thermal"):
                parts[split, spectrum] = self._read(
                    idx / f"{split}_{spectrum}_{trial}.txt", spectrum
                )
        self.train, self.pid_to_label = relabel(
            parts["train", "visible"] + parts["train", "thermal"]
        )
        self._test = {"visible": parts["test", "visible"], "infrared": parts["test", "thermal"]}

    def _read(self, path: Path, spectrum: str) -> list[Record]:
        modality, camid = _SPECTRA[spectrum]
        records = []
        for relative, label, number in read_index_file(path):
            image = self.root / relative
            if not image.is_file():
                raise FileNotFoundError(
                    f"{path}:{number}: image {relative!r} is listed but not found at {image}"
                )
            records.append(Record(str(image), label, camid, modality))
        return records

    def query(self, direction: str = "v2i") -> list[Record]:
        """All test images of the query modality (visible for ``v2i``)."""
        check_choice(direction, DIRECTIONS, "direction")
        return self._test["visible" if direction == "v2i" else "infrared"]

    def gallery(self, direction: str = "v2i") -> list[Record]:
        """All test images of the other modality."""
        check_choice(direction, DIRECTIONS, "direction")
        return self._test["infrared" if direction == "v2i" else "visible"]

    def __repr__(self) -> str:
        return (
            f"RegDB({str(self.root)!r}, trial={self.trial}: {len(self.train)} training images "
            f"of {len(self.pid_to_label)} ids)"
        )
