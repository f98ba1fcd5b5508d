"""Reading the split files of the released datasets, with errors that say where and what,
and the evaluation protocol every loader follows.

Shared by the SYSU-MM01, RegDB, LLCM and text-to-image loaders: id lists, ``path label``
index files, JSON annotations, image folders, relabelling of training identities, seeded
gallery sampling, and :class:`Benchmark`, the one interface ``reidkit.eval`` evaluates.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from reidkit.data.records import Record

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a FileNotFoundError that says what was expected."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: folder not found: {path}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file not found: {path}")
    return path


def read_id_list(path: Path) -> list[int]:
    """A file holding ONE line of comma-separated integer ids (SYSU-MM01, LLCM)."""
    require_file(path, "id list")
    lines = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if len(lines) != 1:
        where = f"{path}:{lines[1][0]}" if len(lines) > 1 else str(path)
        raise ValueError(
            f"{where}: expected exactly one line of comma-separated ids, found {len(lines)} "
            "non-empty lines"
        )
    number, line = lines[0]
    ids = []
    for field in line.split(","):
        try:
            ids.append(int(field.strip()))
        except ValueError:
            raise ValueError(
                f"{path}:{number}: {field.strip()!r} is not an integer id (expected a line like "
                "'1,2,4,5')"
            ) from None
    return ids


def read_index_file(path: Path) -> list[tuple[str, int, int]]:
    """Lines ``relative/path label`` (RegDB ``idx/*.txt``, LLCM ``idx/train_*.txt``).

    Returns ``(relative_path, label, line_number)``; blank lines are skipped.
    """
    require_file(path, "index file")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(
                f"{path}:{number}: expected 'relative/path label', got {line.strip()!r}"
            )
        try:
            label = int(fields[1])
        except ValueError:
            raise ValueError(
                f"{path}:{number}: label {fields[1]!r} is not an integer "
                f"(expected 'relative/path label')"
            ) from None
        entries.append((fields[0], label, number))
    return entries


def read_json(path: Path):
    require_file(path, "annotation file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (empty when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def relabel(records: Iterable[Record]) -> tuple[list[Record], dict[int, int]]:
    """Training ids -> 0..C-1 in increasing order of the original id; returns the mapping too."""
    records = list(records)
    mapping = {pid: label for label, pid in enumerate(sorted({r.pid for r in records}))}
    return [replace(r, pid=mapping[r.pid]) for r in records], mapping


def sample_gallery(records: Iterable[Record], shot: str, trial: int, seed: int = 0) -> list[Record]:
    """One (single-shot) or up to ten (multi-shot) records per (id, camera) group of ``records``.

    The "seeded random choice" convention: trial ``t`` draws with ``random.Random(seed + t)``
    (Python's Mersenne Twister), visiting groups in increasing (id, camera) order with
    ``rng.choice`` (single) or ``rng.sample(k=min(10, n))`` (multi, kept in file order).
    It is not the MATLAB release's fixed permutations, so numbers can differ from those.
    """
    if shot not in ("single", "multi"):
        raise ValueError(f"shot must be 'single' or 'multi', got {shot!r}")
    if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:
        raise ValueError(f"trial must be a non-negative integer, got {trial!r}")
    groups: dict[tuple[int, int], list[Record]] = {}
    for record in records:  # each group keeps file order
        groups.setdefault((record.pid, record.camid), []).append(record)
    rng = random.Random(seed + trial)
    gallery = []
    for key in sorted(groups):
        items = groups[key]
        if shot == "single":
            gallery.append(rng.choice(items))
        else:
            chosen = sorted(rng.sample(range(len(items)), k=min(10, len(items))))
            gallery.extend(items[i] for i in chosen)
    return gallery


def check_choice(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return value


TASKS = ("visible-infrared", "text-image", "visible-xray")  # the families of protocols


class Benchmark:
    """The evaluation protocol of a loader: what ``reidkit.eval.evaluate_protocol`` relies on.

    Every loader subclasses it, sets the class attributes below and defines the two methods:

    * ``task``: one of ``TASKS``; ``protocol``: the ``reidkit.eval.rank_metrics`` protocol
      (``"sysu"``, ``"regdb"``, ``"llcm"``, ``"text"``: its removal and CMC rules);
    * ``settings`` and ``default_setting``: the search settings (SYSU-MM01's ``"all"`` and
      ``"indoor"``, a direction ``"v2i"`` / ``"i2v"``, text's ``"t2i"``);
    * ``default_trials``: how many gallery draws a result averages (1 when the gallery is
      fixed); ``splits``: the evaluation splits (``"test"``, and ``"val"`` where one exists);
    * ``query(setting=None, split="test")`` and ``gallery(setting=None, trial=0, seed=0,
      split="test")`` return records; trial ``t`` of a sampled gallery draws with seed
      ``seed + t``. ``None`` means ``default_setting``.
    """

    task: str
    protocol: str
    settings: tuple[str, ...]
    default_setting: str
    default_trials: int
    splits: tuple[str, ...] = ("test",)

    def check_setting(self, setting: str | None) -> str:
        """``setting`` (``default_setting`` for None), or a ValueError naming the allowed ones."""
        if setting is None:
            return self.default_setting
        return check_choice(setting, self.settings, f"{type(self).__name__} setting")

    def check_split(self, split: str) -> str:
        return check_choice(split, self.splits, f"{type(self).__name__} evaluation split")

    def check_fixed_trial(self, trial: int) -> None:
        """For galleries that are not sampled: only trial 0 exists."""
        if trial != 0:
            raise ValueError(
                f"{type(self).__name__} has one fixed gallery (default_trials=1): trial must be "
                f"0, got {trial!r}"
            )


# setting -> (query modality, gallery modality) of the two-direction visible-infrared datasets
DIRECTIONS = {"v2i": ("visible", "infrared"), "i2v": ("infrared", "visible")}


class DirectionalBenchmark(Benchmark):
    """A visible-infrared dataset searched in both directions (RegDB, LLCM): the query is every
    test image of one modality, the gallery is drawn from the other (``self._test`` holds the
    test records of each modality)."""

    task = "visible-infrared"
    settings = tuple(DIRECTIONS)
    default_setting = "v2i"
    _test: dict[str, list[Record]]

    def query(self, setting: str | None = None, split: str = "test") -> list[Record]:
        """Every test image of the query modality (visible for ``v2i``)."""
        return list(self._test[self._modalities(setting, split)[0]])

    def _gallery_side(self, setting: str | None, split: str) -> list[Record]:
        """Every test image of the gallery modality (infrared for ``v2i``)."""
        return list(self._test[self._modalities(setting, split)[1]])

    def _modalities(self, setting: str | None, split: str) -> tuple[str, str]:
        setting = self.check_setting(setting)
        self.check_split(split)
        return DIRECTIONS[setting]
