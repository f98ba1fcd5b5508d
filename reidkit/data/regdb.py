"""RegDB as released: ``Visible/<pid>/*.bmp``, ``Thermal/<pid>/*.bmp`` and
``idx/{train,test}_{visible,thermal}_{1..10}.txt`` (one ``relative/path label`` per line).

Each of the 10 trials has its own 206/206 train/test split and its own model; metrics are
averaged over the trials (one ``RegDB(root, trial=k)`` per trial). Settings are the directions
``"v2i"`` (visible queries, thermal gallery) and ``"i2v"``. Visible images get camera 1, thermal
camera 2. No gallery sampling: the gallery is every test image of the other modality, so there
is one gallery (``default_trials`` 1) and no validation split.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import DirectionalBenchmark, read_index_file, relabel, require_dir

TRIALS = tuple(range(1, 11))
_SPECTRA = {"visible": ("visible", 1), "thermal": ("infrared", 2)}


class RegDB(DirectionalBenchmark):
    """The training records (relabelled) and test images of one trial (1..10)."""

    protocol = "regdb"
    default_trials = 1
    splits = ("test",)

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

    def gallery(
        self, setting: str | None = None, trial: int = 0, seed: int = 0, split: str = "test"
    ) -> list[Record]:
        """All test images of the other modality (the same for every seed; only trial 0)."""
        self.check_fixed_trial(trial)
        return self._gallery_side(setting, split)

    def __repr__(self) -> str:
        return (
            f"RegDB({str(self.root)!r}, trial={self.trial}: {len(self.train)} training images "
            f"of {len(self.pid_to_label)} ids)"
        )
