"""Reading the split files of the released datasets, with errors that say where and what.

Shared by the SYSU-MM01, RegDB, LLCM and text-to-image loaders: id lists, ``path label``
index files, JSON annotations, image folders, and relabelling of training identities.
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


def sample_gallery(
    groups: dict[tuple[int, int], list[Record]], shot: str, trial: int, seed: int = 0
) -> list[Record]:
    """One (single-shot) or up to ten (multi-shot) records per (id, camera) group.

    The "seeded random choice" convention: trial ``t`` draws with ``random.Random(seed + t)``
    (Python's Mersenne Twister), visiting groups in increasing (id, camera) order with
    ``rng.choice`` (single) or ``rng.sample(k=min(10, n))`` (multi, kept in file order).
    It is not the MATLAB release's fixed permutations, so numbers can differ from those.
    """
    if shot not in ("single", "multi"):
        raise ValueError(f"shot must be 'single' or 'multi', got {shot!r}")
    if trial < 0:
        raise ValueError(f"trial must be non-negative, got {trial}")
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
