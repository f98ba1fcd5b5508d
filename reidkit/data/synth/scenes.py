"""Camera backgrounds: each of the six SYSU-MM01-style cameras films its own scene.

A scene is drawn once per (seed, camera, size) and cached, one and a half image widths wide, so
that each image crops it at a jittered offset. Visible scenes are colour; infrared scenes are
*temperature* maps: cold walls, sky and ground with a few warm objects (lamps, radiators,
screens, parked cars) that a model must learn to ignore.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from reidkit.data.sysu import INDOOR_CAMERAS, INFRARED_CAMERAS


def _rgb(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def _rect(rng: np.random.Generator, width: int, height: int, y0: float, y1: float, size: float):
    """A random axis-aligned box inside the band [y0, y1] of the image height."""
    w = int(rng.integers(max(2, int(width * size * 0.5)), max(3, int(width * size * 1.5))))
    h = int(rng.integers(max(2, int(height * size * 0.5)), max(3, int(height * size * 1.2))))
    x = int(rng.integers(0, max(1, width - w)))
    top = int(rng.integers(int(height * y0), max(int(height * y0) + 1, int(height * y1) - h)))
    return [x, top, x + w, top + h]


@lru_cache(maxsize=32)
def visible_scene(seed: int, cam: int, height: int, width: int) -> np.ndarray:
    """(H, 1.5 W, 3) uint8 colour background of a visible camera (read-only)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, cam, 0x5C]))
    wide = width * 3 // 2
    indoor = cam in INDOOR_CAMERAS
    image = Image.new("RGB", (wide, height), _rgb(rng, 150, 230) if indoor else (170, 200, 230))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.55, 0.72))
    if indoor:
        for _ in range(4):  # doors, windows, posters, cupboards
            draw.rectangle(_rect(rng, wide, height, 0.05, 0.75, 0.25), fill=_rgb(rng, 40, 220))
        draw.rectangle([0, horizon, wide, height], fill=_rgb(rng, 70, 160))
    else:
        for _ in range(5):  # buildings with windows
            box = _rect(rng, wide, height, 0.0, 0.7, 0.4)
            box[3] = horizon
            draw.rectangle(box, fill=_rgb(rng, 90, 200))
            for _ in range(3):
                wx = int(rng.integers(box[0], max(box[0] + 1, box[2] - 4)))
                wy = int(rng.integers(box[1], max(box[1] + 1, box[3] - 4)))
                size = max(2, width // 16)
                draw.rectangle([wx, wy, wx + size, wy + size], fill=_rgb(rng, 40, 110))
        for _ in range(3):  # trees
            tx, ty = int(rng.integers(0, wide)), int(horizon - rng.uniform(0.1, 0.3) * height)
            r = int(width * rng.uniform(0.12, 0.25))
            draw.ellipse([tx - r, ty - r, tx + r, ty + r], fill=_rgb(rng, 30, 90)[:1] + (120, 50))
        draw.rectangle([0, horizon, wide, height], fill=_rgb(rng, 90, 150))
    array = np.asarray(image).copy()
    array.flags.writeable = False
    return array


@lru_cache(maxsize=32)
def infrared_scene(seed: int, cam: int, height: int, width: int) -> np.ndarray:
    """(H, 1.5 W) float32 temperature background (0 cold .. 1 skin) of an infrared camera."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, cam, 0x5C]))
    wide = width * 3 // 2
    indoor = cam in INDOOR_CAMERAS
    image = Image.new("L", (wide, height), int(rng.integers(40, 70)) if indoor else 15)
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.55, 0.72))
    if indoor:
        for _ in range(3):  # furniture and doors: cold
            draw.rectangle(
                _rect(rng, wide, height, 0.05, 0.75, 0.25), fill=int(rng.integers(30, 80))
            )
        draw.rectangle([0, horizon, wide, height], fill=int(rng.integers(35, 60)))
        for _ in range(2):  # radiators and screens: warm
            draw.rectangle(
                _rect(rng, wide, height, 0.3, 0.9, 0.12), fill=int(rng.integers(130, 190))
            )
        for _ in range(2):  # ceiling lamps: hot spots
            lx, ly, r = (
                int(rng.integers(0, wide)),
                int(height * rng.uniform(0.02, 0.12)),
                width // 12,
            )
            draw.ellipse(
                [lx - r, ly - r // 2, lx + r, ly + r // 2], fill=int(rng.integers(200, 250))
            )
    else:
        for _ in range(4):  # buildings: cool, windows a little warmer
            box = _rect(rng, wide, height, 0.0, 0.7, 0.4)
            box[3] = horizon
            draw.rectangle(box, fill=int(rng.integers(45, 85)))
        draw.rectangle([0, horizon, wide, height], fill=int(rng.integers(60, 95)))  # warm asphalt
        for _ in range(2):  # parked cars: engine and tyres warm
            box = _rect(rng, wide, height, 0.6, 1.0, 0.2)
            draw.rectangle(box, fill=int(rng.integers(110, 170)))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array.flags.writeable = False
    return array


@lru_cache(maxsize=32)
def column_noise(seed: int, cam: int, width: int) -> np.ndarray:
    """(1, 1.5 W) float32 fixed-pattern column offsets of an infrared sensor."""
    if cam not in INFRARED_CAMERAS:
        raise ValueError(f"camera {cam} is not an infrared camera {INFRARED_CAMERAS}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, cam, 0xC0]))
    noise = rng.standard_normal((1, width * 3 // 2)).astype(np.float32) * 0.02
    noise.flags.writeable = False
    return noise
