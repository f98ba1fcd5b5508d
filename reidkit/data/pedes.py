"""Text-to-image person retrieval: CUHK-PEDES, ICFG-PEDES and RSTPReid as released.

Each is an ``imgs/`` folder and one JSON list of ``{split, captions[], <path key>, id, ...}``:

* CUHK-PEDES: ``reid_raw.json`` (some downloads: ``caption_all.json``), key ``file_path``,
  splits train / val / test;
* ICFG-PEDES: ``ICFG-PEDES.json``, key ``file_path`` (``imgs/{train,test}/...``), no val;
* RSTPReid: ``data_captions.json``, key ``img_path``, splits train / val / test.

Image paths are relative to ``imgs/``. Training records are one per (image, caption), modality
``visible`` with the caption attached, ids relabelled to 0..C-1. At evaluation time (setting
``"t2i"``, split ``"test"`` or, where the dataset has one, ``"val"``) every caption is a query
(modality ``text``; its ``path`` is the image it describes) over all images of the split, once:
one fixed gallery. Text-to-image data has no cameras: every record has ``camid`` 0.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import Record
from reidkit.data.splits import Benchmark, read_json, relabel, require_dir

PATH_KEYS = ("file_path", "img_path")


class TextReIDDataset(Benchmark):
    """Shared reader; subclasses name the annotation files they accept and their splits.

    ``annotation_splits``: the ``split`` values the annotation file may hold; ``splits``: the
    evaluation splits among them (all but ``train``).
    """

    name = "text re-id"
    annotation_files: tuple[str, ...] = ()
    annotation_splits: tuple[str, ...] = ("train", "val", "test")
    task = "text-image"
    protocol = "text"
    settings = ("t2i",)
    default_setting = "t2i"
    default_trials = 1
    splits = ("test", "val")

    def __init__(self, root: str | Path) -> None:
        self.root = require_dir(Path(root), f"{self.name} root")
        self.images = require_dir(self.root / "imgs", f"{self.name} image folder")
        candidates = [self.root / name for name in self.annotation_files]
        found = [path for path in candidates if path.is_file()]
        if not found:
            names = " or ".join(str(path) for path in candidates)
            raise FileNotFoundError(f"{self.name} annotation file not found: expected {names}")
        self.annotation_file = found[0]
        items = read_json(self.annotation_file)
        if not isinstance(items, list):
            raise ValueError(
                f"{self.annotation_file}: expected a JSON list of annotations, got "
                f"{type(items).__name__}"
            )
        self._by_split: dict[str, list[tuple[str, int, list[str]]]] = {
            s: [] for s in self.annotation_splits
        }
        for index, item in enumerate(items):
            self._add(index, item)
        self.train, self.pid_to_label = relabel(
            Record(path, pid, 0, "visible", caption)
            for path, pid, captions in self._by_split["train"]
            for caption in captions
        )

    def _add(self, index: int, item: object) -> None:
        where = f"{self.annotation_file}: item {index}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object, got {type(item).__name__}")
        keys = [key for key in PATH_KEYS if key in item]
        missing = [key for key in ("split", "captions", "id") if key not in item]
        if missing or not keys:
            missing += [] if keys else [" or ".join(PATH_KEYS)]
            raise ValueError(f"{where}: missing key(s) {missing}; it has {sorted(item)}")
        split = item["split"]
        if split not in self._by_split:
            raise ValueError(f"{where}: split {split!r} is not one of {self.annotation_splits}")
        captions = item["captions"]
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise ValueError(f"{where}: 'captions' must be a list of strings")
        try:
            pid = int(item["id"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: id {item['id']!r} is not an integer") from None
        image = self.images / item[keys[0]]
        if not image.is_file():
            raise FileNotFoundError(f"{where}: image {item[keys[0]]!r} not found at {image}")
        self._by_split[split].append((str(image), pid, captions))

    def query(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every caption of the split, as a ``text`` record (its path: the image it describes)."""
        self.check_setting(setting)
        images = self._by_split[self.check_split(split)]
        return [
            Record(path, pid, 0, "text", caption)
            for path, pid, captions in images
            for caption in captions
        ]

    def gallery(
        self, setting: str | None = None, trial: int = 0, seed: int = 0, split: str = "test"
    ) -> list[Record]:
        """Every image of the split, once (the same for every seed; only trial 0)."""
        self.check_setting(setting)
        self.check_fixed_trial(trial)
        images = self._by_split[self.check_split(split)]
        return [Record(path, pid, 0, "visible") for path, pid, _ in images]

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(v)} {k} images" for k, v in self._by_split.items())
        return f"{type(self).__name__}({str(self.root)!r}: {counts})"


class CUHKPEDES(TextReIDDataset):
    name = "CUHK-PEDES"
    annotation_files = ("reid_raw.json", "caption_all.json")


class ICFGPEDES(TextReIDDataset):
    name = "ICFG-PEDES"
    annotation_files = ("ICFG-PEDES.json",)
    annotation_splits = ("train", "test")
    splits = ("test",)


class RSTPReid(TextReIDDataset):
    name = "RSTPReid"
    annotation_files = ("data_captions.json",)
