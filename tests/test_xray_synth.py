"""Synthetic packages: identities, visible photographs and X-ray scans (physics and paint)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reidkit.data.synth import (
    PackageSettings,
    make_package,
    photo_array,
    photo_view,
    xray_array,
    xray_view,
)
from reidkit.data.synth.items import ITEM_KINDS, Item
from reidkit.data.synth.packages import KINDS, MATERIALS, VISIBLE_FIELDS, material_class
from reidkit.data.synth.projection import Part
from reidkit.data.synth.xray import HUES, XRAY_VIEWS, attenuation, pseudo_colour

SMALL = PackageSettings(seed=3, height=48, width=48)
QUIET = dataclasses.replace(SMALL, xray_noise=0.0)  # noiseless X-rays for exact physics


def first_index(view_of, settings, pid: int, view: str) -> int:
    """The first image index of ``pid`` whose view is ``view``."""
    return next(k for k in range(50) if view_of(settings, pid, k) == view)


def log_intensity(image: np.ndarray) -> np.ndarray:
    """Log of the geometric mean of R, G and B on the 0..1 scale: the transmitted -A."""
    return np.log(np.maximum(image.astype(np.float64), 0.5) / 255.0).mean(axis=2)


def test_same_settings_same_bytes_other_seed_other_images() -> None:
    for render in (photo_array, xray_array):
        for pid, index in ((0, 0), (5, 3)):
            first = render(SMALL, pid, index)
            assert first.shape == (48, 48, 3) and first.dtype == np.uint8
            assert render(SMALL, pid, index).tobytes() == first.tobytes()
            make_package.cache_clear()  # rebuilt from (seed, pid) alone
            assert render(SMALL, pid, index).tobytes() == first.tobytes()
            other = dataclasses.replace(SMALL, seed=4)
            assert render(other, pid, index).tobytes() != first.tobytes()
            assert render(SMALL, pid, index + 1).tobytes() != first.tobytes()
    wide = PackageSettings(seed=3, height=32, width=64)
    assert photo_array(wide, 0, 0).shape == xray_array(wide, 0, 0).shape == (32, 64, 3)


def test_identities_cover_the_vocabulary_and_contents_fit_inside() -> None:
    packages = [make_package(0, pid) for pid in range(150)]
    assert {p.kind for p in packages} == set(KINDS)
    items = [item for p in packages for item in p.contents]
    assert {item.kind for item in items} == set(ITEM_KINDS)
    assert {material_class(item.material) for item in items} == {"organic", "mixed", "metal"}
    for package in packages:
        assert 2 <= len(package.contents) <= 6 and package.shell.role == "shell"
        assert all(part.material in MATERIALS for part in package.parts())
        half = np.array(package.shell.half)
        for item in package.contents:  # inside the shell, up to a few cm for round shells
            low, high = item.extent()
            assert np.all(low >= -half - 1.0) and np.all(high <= half + 1.0), (package, item)
    assert make_package(0, 7) == make_package(0, 7) and make_package(1, 7) != make_package(0, 7)


def test_bad_settings_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="image height must be an integer >= 16"):
        PackageSettings(height=8)
    with pytest.raises(ValueError, match=r"clutter must be \[0, 1\], got 2.0"):
        PackageSettings(clutter=2)
    with pytest.raises(ValueError, match="xray_noise must be a number, got 'loud'"):
        PackageSettings(xray_noise="loud")
    with pytest.raises(ValueError, match="pid must be a non-negative integer"):
        make_package(0, -1)
    with pytest.raises(ValueError, match="unknown material 'unobtainium'"):
        material_class("unobtainium")
    with pytest.raises(ValueError, match="image index must be a non-negative integer, got -1"):
        xray_array(SMALL, 0, -1)


def plate(material: str, thickness: float, z: float = 0.0) -> Item:
    return Item("tool", (Part("box", (0.0, 0.0, z), (30.0, 20.0, thickness / 2), material),))


def scan_of(items, pid: int = 0, settings: PackageSettings = QUIET, view: str = "top"):
    """The X-ray of ``items`` alone (no shell), in the first image of ``pid`` with ``view``."""
    package = dataclasses.replace(make_package(settings.seed, pid), exterior=(), contents=items)
    index = first_index(xray_view, settings, pid, view)
    return xray_array(settings, pid, index, package=package)


def test_metal_is_blue_and_darker_when_thicker_organic_orange_mixed_green() -> None:
    centre = (slice(20, 28), slice(20, 28))
    colours = {}
    for material, thickness in (("steel", 0.3), ("steel", 0.8), ("water", 4.0), ("glass", 1.5)):
        image = scan_of((plate(material, thickness),))
        assert np.all(image[0, 0] == 255)  # nothing attenuates at the corner: white
        rgb = image[centre].reshape(-1, 3).astype(float).mean(axis=0)
        colours[material, thickness] = rgb
        mu = MATERIALS[material][1]  # the geometric mean of R, G, B is 255 exp(-mu t)
        expected = -mu * thickness
        assert log_intensity(image[centre]).mean() == pytest.approx(expected, abs=0.03)
    thin, thick = colours["steel", 0.3], colours["steel", 0.8]
    assert thin[2] > thin[1] > thin[0] and thick[2] > thick[1] > thick[0]  # blue
    assert np.all(thick < thin)  # darker in every channel
    water, glass = colours["water", 4.0], colours["glass", 1.5]
    assert water[0] > water[1] > water[2]  # orange
    assert glass[1] > glass[0] and glass[1] > glass[2]  # green
    assert HUES.mean(axis=1) == pytest.approx([1.0, 1.0, 1.0])


def test_overlap_adds_up_in_log_space_with_the_shell_and_detector_noise() -> None:
    """log I(both) - log I(empty) = (log I(a) - log I(empty)) + (log I(b) - log I(empty))."""
    settings = dataclasses.replace(SMALL, xray_noise=0.02)  # same seed: the same noise
    package = make_package(settings.seed, 1)
    clothes = Item("clothes", (Part("box", (0.0, 0.0, -1.0), (12.0, 8.0, 2.0), "textile"),))
    wrench = Item("tool", (Part("box", (0.0, 0.0, 2.0), (15.0, 1.5, 0.25), "steel"),))
    for view in XRAY_VIEWS:
        index = first_index(xray_view, settings, 1, view)
        logs = {}
        for name, contents in (("none", ()), ("a", (clothes,)), ("b", (wrench,))):
            logs[name] = log_intensity(
                xray_array(settings, 1, index, dataclasses.replace(package, contents=contents))
            )
        both = xray_array(
            settings, 1, index, dataclasses.replace(package, contents=(clothes, wrench))
        )
        overlap = (logs["a"] < logs["none"] - 0.1) & (logs["b"] < logs["none"] - 0.1)
        overlap &= (both.min(axis=2) >= 12) & (both.max(axis=2) <= 250)  # unclipped, not tiny
        assert overlap.sum() >= 10, view
        predicted = logs["a"] + logs["b"] - logs["none"]
        error = np.abs(log_intensity(both) - predicted)[overlap]
        assert error.mean() < 0.015 and error.max() < 0.1, (view, error.max())
    parts = package.parts()  # the attenuation maps themselves add exactly
    camera_maps = [attenuation(p, _camera(settings)) for p in (parts[:3], parts[3:], parts)]
    np.testing.assert_allclose(camera_maps[0] + camera_maps[1], camera_maps[2], atol=1e-9)


def _camera(settings: PackageSettings):
    from reidkit.data.synth.projection import ALONG_Z, Camera

    return Camera(ALONG_Z, settings.height, settings.width, scale=0.5, angle=0.3)


def test_recolouring_the_outside_leaves_every_xray_pixel_unchanged() -> None:
    rng = np.random.default_rng(0)
    for pid in range(6):
        package = make_package(SMALL.seed, pid)
        repainted = package.recoloured(rng)
        assert any(getattr(repainted, f) != getattr(package, f) for f in VISIBLE_FIELDS)
        for index in range(3):
            scan = xray_array(SMALL, pid, index, package=repainted)
            assert scan.tobytes() == xray_array(SMALL, pid, index).tobytes()
        photos = [photo_array(SMALL, pid, k, package=repainted) for k in range(3)]
        assert any(
            p.tobytes() != photo_array(SMALL, pid, k).tobytes() for k, p in enumerate(photos)
        )


def test_photographs_never_show_the_contents() -> None:
    for pid in range(6):
        package = make_package(SMALL.seed, pid)
        emptied = dataclasses.replace(package, contents=())
        swapped = dataclasses.replace(package, contents=make_package(SMALL.seed, pid + 50).contents)
        for index in range(3):
            photo = photo_array(SMALL, pid, index).tobytes()
            assert photo_array(SMALL, pid, index, package=emptied).tobytes() == photo
            assert photo_array(SMALL, pid, index, package=swapped).tobytes() == photo
        scans = [xray_array(SMALL, pid, k, package=emptied) for k in range(3)]
        assert any(s.tobytes() != xray_array(SMALL, pid, k).tobytes() for k, s in enumerate(scans))


def test_views_are_drawn_per_image() -> None:
    photo_views = {photo_view(SMALL, pid, k) for pid in range(10) for k in range(4)}
    scan_views = {xray_view(SMALL, pid, k) for pid in range(10) for k in range(4)}
    assert photo_views == {"front", "top", "side"} and scan_views == {"top", "side"}
    image = xray_array(QUIET, 2, first_index(xray_view, QUIET, 2, "top"))
    assert (image.min(axis=2) == 255).mean() > 0.3  # a white scanner background around it
    assert (image.min(axis=2) < 200).mean() > 0.05  # and the package in the middle
    assert pseudo_colour(np.zeros((3, 2, 2))).min() == 255
