"""X-ray images of the synthetic packages: dual-energy pseudo-colour by material and thickness.

A scanner sends X-rays through the package; a pixel's transmitted intensity is
``exp(-sum_k mu_k t_k)`` over every part the ray crosses (attenuation ``mu`` of its material,
chord ``t``), shell, straps and contents alike, so overlapping objects add up in log space.
Dual-energy scanners also estimate the *effective atomic number* of what attenuates, and show it
as a hue: organic orange (Z about 7), mixed green (about 12), inorganic and metal blue (above
18). Here each material belongs to one class with a representative Z (``CLASS_Z``); a pixel's
Z is the attenuation-weighted mean of the classes it crosses. Each channel of the image is
``exp(-A k_c(Z))`` with hue factors ``k_c`` that average 1 over the three channels, so the
geometric mean of R, G and B is exactly the transmitted intensity ``exp(-A)``: thin things are
pale, thick ones dark, empty space white.

Views (drawn per image): ``top`` (through the package from above, x by y) and ``side``
(through its width, x by z, the conveyor belt a band underneath). The package sits at the
scanner's fixed scale with a small shift, a rotation on the belt (top view) and either way
round. The detector blurs the attenuation slightly and adds noise to the log-intensity.
"""

from __future__ import annotations

import numpy as np

from reidkit.data.synth.packages import MATERIAL_CLASSES, MATERIALS, Package, PackageSettings
from reidkit.data.synth.projection import ALONG_Y, ALONG_Z, Camera, Part, chord, draw_camera

XRAY_CAM = 2  # the camera number of X-ray images (visible ones are 1)
XRAY_VIEWS = {"top": ALONG_Z, "side": ALONG_Y}
VIEW_CHANCE = (0.6, 0.4)
CLASS_Z = np.array([7.0, 12.0, 26.0])  # organic, mixed, metal
# Attenuation factor of each channel (R, G, B) for each class's hue; each row averages 1.
HUES = np.array([[0.3, 0.9, 1.8], [1.3, 0.55, 1.15], [1.55, 1.0, 0.45]])
TURN = {"top": 15.0, "side": 2.0}  # largest rotation on the belt, degrees


def xray_view(settings: PackageSettings, pid: int, index: int) -> str:
    """The scanner view of one X-ray image: the first number its RNG draws."""
    return _draw_view(settings.image_rng(pid, XRAY_CAM, index))


def _draw_view(rng: np.random.Generator) -> str:
    return tuple(XRAY_VIEWS)[int(rng.choice(len(XRAY_VIEWS), p=VIEW_CHANCE))]


def attenuation(parts: tuple[Part, ...], camera: Camera) -> np.ndarray:
    """(3, H, W) float64 line integrals ``sum mu t`` of the parts, one map per material class."""
    maps = np.zeros((len(MATERIAL_CLASSES), camera.height, camera.width))
    for part in parts:
        found = chord(part, camera)
        if found is None:
            continue
        length, (r0, r1, c0, c1) = found
        kind, mu = MATERIALS[part.material]
        maps[MATERIAL_CLASSES.index(kind), r0:r1, c0:c1] += mu * length
    return maps


def belt(package: Package) -> Part:
    """The scanner's rubber conveyor belt under the package: seen edge-on in the side view,
    a thin dark line; the top view looks through it and scanners calibrate it away."""
    bottom = min(p.centre[2] - p.half[2] for p in package.parts())
    return Part("box", (0.0, 0.0, bottom - 0.2), (400.0, 25.0, 0.2), "rubber")


def _blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of each map (edges repeated): linear, so sums stay sums."""
    radius = max(1, int(np.ceil(2.5 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (1, 2):
        padded = np.pad(maps, [(radius, radius) if a == axis else (0, 0) for a in range(3)], "edge")
        size = maps.shape[axis]
        maps = sum(
            w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(taps)
        )
    return maps


def pseudo_colour(maps: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """(3, H, W) class attenuations -> (H, W, 3) uint8 dual-energy pseudo-colour.

    ``noise`` (3, H, W) is added to each channel's log-intensity. Without noise the geometric
    mean of the three channels is ``255 exp(-A)`` up to rounding, ``A`` the total attenuation.
    """
    total = maps.sum(axis=0)  # (H, W)
    z = np.tensordot(CLASS_Z, maps, axes=1) / np.maximum(total, 1e-9)  # (H, W) effective Z
    z = np.where(total > 1e-9, z, CLASS_Z[0])
    factors = np.stack([np.interp(z, CLASS_Z, HUES[:, c]) for c in range(3)])  # (3, H, W)
    log_intensity = -total[None] * factors
    if noise is not None:
        log_intensity = log_intensity + noise
    rgb = np.rint(255.0 * np.exp(log_intensity))
    return np.clip(rgb, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def xray_array(
    settings: PackageSettings, pid: int, index: int, package: Package | None = None
) -> np.ndarray:
    """One X-ray image of package ``pid`` as an (H, W, 3) uint8 array.

    ``package`` overrides the identity (e.g. recoloured, or with other contents); the view,
    the pose on the belt and the noise still come from ``(seed, pid, XRAY_CAM, index)``.
    """
    rng = settings.image_rng(pid, XRAY_CAM, index)
    package = settings.package(pid) if package is None else package
    h, w = settings.height, settings.width
    # Every random number first, in a fixed order, whatever the package holds.
    view = _draw_view(rng)
    turn = TURN[view]
    camera = draw_camera(
        rng, XRAY_VIEWS[view], h, w, zoom=0.03, turn=turn, shift=0.06, jitter=settings.jitter
    )
    noise = settings.xray_noise * rng.standard_normal((3, h, w))
    parts = package.parts() + ((belt(package),) if view == "side" else ())
    maps = _blur(attenuation(parts, camera), sigma=0.5 * max(1.0, min(h, w) / 128))
    return pseudo_colour(maps, noise)
