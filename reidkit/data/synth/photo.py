"""Visible photographs of the synthetic packages: the outside only, at a check-in counter.

Views (drawn per image): ``front`` (the long side face, x by z), ``top`` (from above, x by y)
and ``side`` (the short end, y by z), with the camera's zoom, rotation, shift and mirror jitter.
Each visible exterior part (shell, pocket, straps, handles, wheels, zips, buckles) is painted
far to near; the shell carries its colour, texture and shading (round shells darken towards
their rim); stickers sit on the face they were stuck to. Then the light (gain, colour cast, a
gradient across the image), sensor noise and a random blur. Contents are never looked at.
Backgrounds are a conveyor seen from above or a counter seen from the front, drawn once per
(seed, view, size), with per-image clutter (trays, other bags) at the edges.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reidkit.data.synth.packages import COLOURS, Package, PackageSettings, Sticker
from reidkit.data.synth.projection import (
    ALONG_X,
    ALONG_Y,
    ALONG_Z,
    Camera,
    Part,
    chord,
    draw_camera,
)

VISIBLE_CAM = 1  # the camera number of visible images (X-ray ones are 2)
VISIBLE_VIEWS = {"front": ALONG_Y, "top": ALONG_Z, "side": ALONG_X}
VIEW_CHANCE = (0.45, 0.35, 0.2)
FACE_LIGHT = {"front": 0.95, "top": 1.08, "side": 0.85}  # light from above
ROLE_COLOURS = {"handle": (36, 36, 40), "wheel": (26, 26, 28), "zip": (58, 58, 62)}
METAL = (176, 178, 184)


def photo_view(settings: PackageSettings, pid: int, index: int) -> str:
    """The view of one visible image: the first number its RNG draws."""
    return _draw_view(settings.image_rng(pid, VISIBLE_CAM, index))


def _draw_view(rng: np.random.Generator) -> str:
    return tuple(VISIBLE_VIEWS)[int(rng.choice(len(VISIBLE_VIEWS), p=VIEW_CHANCE))]


@lru_cache(maxsize=32)
def counter_scene(seed: int, view: str, height: int, width: int) -> np.ndarray:
    """(H, 1.5 W, 3) uint8 background of a view (read-only): a belt or a counter front."""
    code = tuple(VISIBLE_VIEWS).index(view)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0, code, height, width]))
    wide = width * 3 // 2

    def shade(low: int, high: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(low, high, 3))

    if view == "top":  # the conveyor from above: rubber with slats, metal rails
        image = Image.new("RGB", (wide, height), shade(40, 70))
        draw = ImageDraw.Draw(image)
        step = max(3, width // 10)
        for x in range(int(rng.integers(step)), wide, step):
            draw.line([x, 0, x, height], fill=shade(25, 45), width=max(1, width // 96))
        rail = max(2, height // 12)
        for top in (0, height - rail):
            draw.rectangle([0, top, wide, top + rail], fill=shade(150, 190))
    else:  # a wall with signs, the belt's edge, the counter's front panel
        image = Image.new("RGB", (wide, height), shade(150, 225))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = int(rng.integers(wide)), int(rng.integers(height // 3))
            size = int(rng.integers(width // 8, width // 3))
            draw.rectangle([x, y, x + size, y + size // 2], fill=shade(30, 230))
        edge = int(height * rng.uniform(0.66, 0.74))
        draw.rectangle([0, edge, wide, height], fill=shade(70, 170))
        draw.rectangle([0, edge, wide, edge + max(2, height // 30)], fill=shade(20, 50))
    array = np.asarray(image).copy()
    array.flags.writeable = False
    return array


def _clutter(rng: np.random.Generator, scene: np.ndarray, chance: float) -> np.ndarray:
    """Maybe put a tray or the corner of another bag at the image's edge (always the same
    number of draws)."""
    h, w = scene.shape[:2]
    draws = [
        (rng.random(), int(rng.integers(4)), rng.uniform(0.15, 0.4, 2), rng.integers(30, 220, 3))
        for _ in range(2)
    ]
    image = Image.fromarray(scene)
    draw = ImageDraw.Draw(image)
    for u, side, (fw, fh), colour in draws:
        if u >= chance:
            continue
        bw, bh = int(fw * w), int(fh * h)
        x = (-bw // 2, w - bw // 2, int(w * 0.3), int(w * 0.5))[side]
        y = (int(h * 0.3), int(h * 0.5), -bh // 2, h - bh // 2)[side]
        draw.rounded_rectangle([x, y, x + bw, y + bh], radius=max(1, bw // 6), fill=tuple(colour))
    return np.asarray(image)


def _texture(package: Package, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(h, w, 3) shell colour at face coordinates (a, b) cm: plain, grooves, ripstop grid,
    stripes or check of the texture colour."""
    colour = np.array(COLOURS[package.colour], np.float64)
    second = np.array(COLOURS[package.texture_colour], np.float64)
    kind = package.texture
    if kind == "grooves":  # moulded ribs every 3 cm
        return colour * np.where(np.abs(np.sin(np.pi * a / 3.0)) > 0.85, 0.72, 1.0)[..., None]
    if kind == "ripstop":  # a fine grid woven in
        grid = (np.abs(np.sin(np.pi * a / 1.5)) > 0.9) | (np.abs(np.sin(np.pi * b / 1.5)) > 0.9)
        return colour * np.where(grid, 0.82, 1.0)[..., None]
    if kind in ("stripes", "check"):
        band = np.floor(b / 4.0) % 2 == 1
        if kind == "check":
            band = band ^ (np.floor(a / 4.0) % 2 == 1)
        return np.where(band[..., None], second, colour)
    return np.broadcast_to(colour, a.shape + (3,)).copy()


def _part_colour(package: Package, part: Part, a, b) -> np.ndarray:
    if part.role in ("shell", "pocket"):
        painted = _texture(package, a, b)
        return painted * (0.85 if part.role == "pocket" else 1.0)
    if part.role == "strap":
        base = COLOURS[package.strap_colour]
    elif part.role == "buckle" or (part.role == "zip" and part.material == "zipper"):
        base = METAL
    else:
        base = ROLE_COLOURS.get(part.role, (90, 90, 90))
    return np.broadcast_to(np.array(base, np.float64), a.shape + (3,))


def _nearness(part: Part, axes: tuple[int, int, int]) -> float:
    """How close the part's near side is to the camera (top views look down from +z, the
    others from the negative side of their axis)."""
    p = axes[0]
    return part.centre[p] + part.half[p] if p == 2 else -(part.centre[p] - part.half[p])


def _sticker_paint(sticker: Sticker, u: np.ndarray, v: np.ndarray):
    """(mask, colour) of a sticker at sticker-relative coordinates u, v in [-1, 1]."""
    colour = np.broadcast_to(np.array(COLOURS[sticker.colour], np.float64), u.shape + (3,))
    inside = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if sticker.style == "dot":
        return u**2 + v**2 <= 1, colour
    if sticker.style == "tag":  # a barcode across the middle
        bits = (sticker.code >> np.clip(((u + 1) * 6).astype(int), 0, 11)) & 1
        bar = (np.abs(v) < 0.5) & (bits == 1)
        return inside, np.where(bar[..., None], 30.0, colour)
    if sticker.style == "fragile":
        return inside, np.where((np.abs(v) < 0.3)[..., None], 240.0, colour)
    return inside, colour


def _paint_stickers(canvas, package, view, camera, window, shell_mask) -> None:
    axes = VISIBLE_VIEWS[view]
    a, b = camera.grid(window)
    r0, r1, c0, c1 = window
    for sticker in package.stickers:
        if sticker.face != view:
            continue
        ca, cb = (f * package.size[axis] for f, axis in zip(sticker.centre, axes[1:]))
        u, v = (a - ca) / (sticker.size[0] / 2), (b - cb) / (sticker.size[1] / 2)
        mask, colour = _sticker_paint(sticker, u, v)
        mask &= shell_mask
        region = canvas[r0:r1, c0:c1]
        alpha = 0.6 if sticker.style == "tape" else 1.0
        region[mask] = (1 - alpha) * region[mask] + alpha * colour[mask]


def paint_package(canvas: np.ndarray, package: Package, view: str, camera: Camera) -> None:
    """Paint the visible exterior of ``package`` onto ``canvas`` (H, W, 3 float, in place)."""
    axes = VISIBLE_VIEWS[view]
    visible = [p for p in package.exterior if p.role != "inside"]
    for part in sorted(visible, key=lambda p: _nearness(p, axes)):  # far to near (stable)
        found = chord(part, camera)
        if found is None:
            continue
        length, window = found
        mask = length > 0.02
        solid, _ = chord(dataclasses.replace(part, wall=(0.0, 0.0, 0.0)), camera)
        depth = 2 * part.half[axes[0]]
        shade = np.sqrt(np.clip(solid / depth, 0, 1)) if part.shape != "box" else np.ones(1)
        shade = FACE_LIGHT[view] * (0.55 + 0.45 * shade)
        a, b = camera.grid(window)
        colour = _part_colour(package, part, a, b) * shade[..., None]
        r0, r1, c0, c1 = window
        canvas[r0:r1, c0:c1][mask] = colour[mask]
        if part is package.shell:
            _paint_stickers(canvas, package, view, camera, window, mask)


def photo_array(
    settings: PackageSettings, pid: int, index: int, package: Package | None = None
) -> np.ndarray:
    """One visible photograph of package ``pid`` as an (H, W, 3) uint8 array.

    ``package`` overrides the identity (e.g. recoloured, or other contents, which do not show);
    the view, pose, light and noise still come from ``(seed, pid, VISIBLE_CAM, index)``.
    """
    rng = settings.image_rng(pid, VISIBLE_CAM, index)
    package = settings.package(pid) if package is None else package
    h, w = settings.height, settings.width
    view = _draw_view(rng)
    camera = draw_camera(
        rng, VISIBLE_VIEWS[view], h, w, zoom=0.15, turn=10.0, shift=0.08, jitter=settings.jitter
    )
    offset = int(rng.integers(0, w // 2 + 1))
    gain, bias = float(rng.uniform(0.75, 1.2)), float(rng.uniform(-0.05, 0.05))
    cast = rng.uniform(0.9, 1.1, 3)
    slope = float(rng.uniform(-0.3, 0.3))
    radius = settings.blur * float(rng.random()) * min(h, w) / 128
    noise = rng.standard_normal((h, w))
    scene = counter_scene(settings.seed, view, h, w)[:, offset : offset + w]
    scene = _clutter(rng, scene, settings.clutter)

    canvas = scene.astype(np.float64)
    paint_package(canvas, package, view, camera)
    light = gain * (1 + slope * (np.arange(w) / w - 0.5))  # (W,) light falling across the image
    rgb = canvas * light[None, :, None] * cast + 255.0 * (bias + settings.noise * noise)[..., None]
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if radius > 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius)))
    return out
