"""The ``xray`` layout: synthetic packages seen by a visible camera and an X-ray scanner.

Our own layout (no public dataset of this task exists), read by :class:`reidkit.data.XrayPackages`
and meant to hold a real dataset of the same shape too::

    <root>/visible/<pid:04d>/<k:04d>.jpg    visible photographs (JPEG quality 95)
    <root>/xray/<pid:04d>/<k:04d>.png       X-ray scans (PNG: flat white and sharp colours)
    <root>/splits/train_ids.txt             ONE line of comma-separated ids (1-based)
    <root>/splits/val_ids.txt               (optional for a real dataset)
    <root>/splits/test_ids.txt

Every identity has ``images_per_camera`` images in each modality. The test split is the last
``test_ids`` identities (by default 30% of them), the validation split the 15% before it (at
least one each), the rest train. Test galleries are not stored: the loader draws them per trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reidkit.data.synth.packages import PackageSettings
from reidkit.data.synth.photo import photo_array
from reidkit.data.synth.xray import xray_array
from reidkit.data.xray import SPLIT_FILES
from reidkit.profiles import get_profile


@dataclass(frozen=True)
class PackageExport:
    """What an ``xray`` export renders: the generator's settings and images per modality."""

    settings: PackageSettings
    images_per_camera: int


def package_export(
    seed: int,
    profile: str | None,
    img_size: tuple[int, int] | None,
    images_per_camera: int | None,
    knobs: dict[str, float],
) -> PackageExport:
    """The export's settings, with the profile's defaults (square images of its height)."""
    allowed = sorted(set(PackageSettings.__dataclass_fields__) - {"seed", "height", "width"})
    unknown = sorted(set(knobs) - set(allowed))
    if unknown:
        raise ValueError(f"xray layout: unknown knobs {unknown}; expected some of {allowed}")
    prof = get_profile(profile)
    height, width = img_size or (prof.img_size[0], prof.img_size[0])
    per_camera = prof.images_per_camera if images_per_camera is None else images_per_camera
    if not isinstance(per_camera, int) or isinstance(per_camera, bool) or per_camera < 1:
        raise ValueError(f"images_per_camera must be a positive integer, got {per_camera!r}")
    settings = PackageSettings(seed=seed, height=height, width=width, **knobs)
    return PackageExport(settings, per_camera)


def split_sizes(ids: int, test_ids: int | None = None) -> tuple[int, int, int]:
    """(train, val, test) identity counts, each at least 1."""
    test = max(1, round(0.3 * ids)) if test_ids is None else test_ids
    if ids < 3 or not 1 <= test <= ids - 2:
        raise ValueError(f"{ids} ids cannot hold {test} test ids, a val id and a training id")
    val = max(1, min(round(0.15 * ids), ids - test - 1))
    return ids - test - val, val, test


def write_xray_files(
    settings: PackageSettings,
    ids: int,
    folder: Path,
    images_per_camera: int,
    test_ids: int | None,
    save,
) -> dict[str, int]:
    """Render and save every image and the split files into ``folder``; returns a summary.
    ``save(array, path)`` writes one image (JPEG or PNG by the path's suffix)."""
    train, val, test = split_sizes(ids, test_ids)
    for pid in range(ids):
        for k in range(images_per_camera):
            name = f"{pid + 1:04d}/{k + 1:04d}"
            save(photo_array(settings, pid, k), folder / "visible" / f"{name}.jpg")
            save(xray_array(settings, pid, k), folder / "xray" / f"{name}.png")
    order = list(range(1, ids + 1))
    parts = {"train": order[:train], "val": order[train : train + val], "test": order[-test:]}
    (folder / "splits").mkdir()
    for split, members in parts.items():
        text = ",".join(str(i) for i in members) + "\n"
        (folder / "splits" / SPLIT_FILES[split]).write_text(text, encoding="utf-8")
    summary = {"images": 2 * ids * images_per_camera}
    return summary | {f"{split}_ids": len(members) for split, members in parts.items()}
