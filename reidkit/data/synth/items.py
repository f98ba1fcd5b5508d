"""What is inside a synthetic package: clothes, shoes, bottles, laptops, cables and metal tools.

Each item is built from solid parts in its own frame (long side along x, lying flat), then
turned by 0 or 90 degrees and placed inside the package's interior; items may overlap, as they
do in a packed bag (the X-ray of overlapping objects is the sum of their attenuations).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from reidkit.data.synth.projection import Part

ITEM_KINDS = ("clothes", "shoes", "bottle", "laptop", "cable", "tool")


@dataclass(frozen=True)
class Item:
    """One object in a package: its kind and the parts it is made of (``parts[0]`` is the
    part that gives it its material class)."""

    kind: str
    parts: tuple[Part, ...]

    @property
    def material(self) -> str:
        return self.parts[0].material

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """The (low, high) corners of the item's bounding box (cm, package frame)."""
        centres = np.array([p.centre for p in self.parts])
        halves = np.array([p.half for p in self.parts])
        return (centres - halves).min(axis=0), (centres + halves).max(axis=0)


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _clothes(rng: np.random.Generator) -> list[Part]:
    """Folded clothes: one to three stacked, offset layers of textile."""
    parts, z = [], 0.0
    for _ in range(int(rng.integers(1, 4))):
        thick = _u(rng, 1.5, 4.5)
        half = (_u(rng, 11, 19), _u(rng, 9, 15), thick / 2)
        parts.append(Part("box", (_u(rng, -3, 3), _u(rng, -3, 3), z + thick / 2), half, "textile"))
        z += thick
    return parts


def _shoes(rng: np.random.Generator) -> list[Part]:
    """A pair of shoes side by side: rubber soles under leather (or fabric) uppers."""
    length, width, height = _u(rng, 24, 31), _u(rng, 8.5, 10.5), _u(rng, 8, 11)
    upper = "leather" if rng.random() < 0.6 else "textile"
    parts = []
    for y in (-(width / 2 + 0.6), width / 2 + 0.6):
        parts.append(Part("box", (0, y, -height / 2 + 0.8), (length / 2, width / 2, 0.8), "rubber"))
        centre = (-0.08 * length, y, 0.8)
        parts.append(Part("ellipsoid", centre, (0.4 * length, width / 2, height / 2 - 0.8), upper))
    return parts


def _bottle(rng: np.random.Generator) -> list[Part]:
    """A bottle of liquid lying down: the liquid, a glass or plastic wall and a cap."""
    length, radius = _u(rng, 16, 26), _u(rng, 2.8, 4.2)
    glass = rng.random() < 0.35
    wall = 0.35 if glass else 0.12
    cap = "steel" if rng.random() < 0.3 else "plastic"
    liquid = Part("cylinder", (0, 0, 0), (length / 2, radius, radius), "water", axis=0)
    outer = (length / 2 + wall, radius + wall, radius + wall)
    shell = Part(
        "cylinder", (0, 0, 0), outer, "glass" if glass else "plastic", axis=0, wall=(wall,) * 3
    )
    top = Part("cylinder", (length / 2 + 1.2, 0, 0), (1.0, 0.5 * radius, 0.5 * radius), cap, axis=0)
    return [liquid, shell, top]


def _laptop(rng: np.random.Generator) -> list[Part]:
    """A laptop: a hollow casing, a circuit board, a battery and a steel hinge bar."""
    length, width, thick = _u(rng, 30, 36), _u(rng, 21, 25), _u(rng, 1.6, 2.4)
    casing = "aluminium" if rng.random() < 0.5 else "plastic"
    return [
        Part("box", (0, 0, 0), (length / 2, width / 2, thick / 2), casing, wall=(0.2, 0.2, 0.2)),
        Part(
            "box",
            (0.08 * length, -0.1 * width, 0),
            (0.35 * length, 0.28 * width, 0.12),
            "electronics",
        ),
        Part(
            "box", (-0.05 * length, 0.3 * width, 0), (0.4 * length, 0.14 * width, 0.35), "battery"
        ),
        Part("cylinder", (0, width / 2 - 0.7, 0), (0.42 * length, 0.35, 0.35), "steel", axis=0),
    ]


def _cable(rng: np.random.Generator) -> list[Part]:
    """A charger (electronics, steel prongs) with its cable wandering in a few straight runs."""
    parts = [
        Part("box", (0, 0, 0), (3.0, 2.2, 1.5), "electronics"),
        Part("box", (-3.6, 0, 0), (0.6, 1.0, 0.15), "steel"),
    ]
    x, y, axis = 3.0, 0.0, 0
    for _ in range(int(rng.integers(3, 6))):
        run = _u(rng, 4, 12) * (1 if rng.random() < 0.6 else -1)
        centre = (x + run / 2, y, 0.0) if axis == 0 else (x, y + run / 2, 0.0)
        half = (abs(run) / 2, 0.4, 0.4) if axis == 0 else (0.4, abs(run) / 2, 0.4)
        parts.append(Part("cylinder", centre, half, "cable", axis=axis))
        x, y = (x + run, y) if axis == 0 else (x, y + run)
        axis = 1 - axis
    return parts


def _tool(rng: np.random.Generator) -> list[Part]:
    """A metal tool: a wrench (bar and ring), a screwdriver (shaft and handle) or pliers."""
    kind, length = int(rng.integers(3)), _u(rng, 14, 24)
    thick = _u(rng, 0.4, 1.0)
    if kind == 0:
        ring = Part(
            "cylinder",
            (length / 2 + 1.3, 0, 0),
            (1.9, 1.9, thick / 2),
            "steel",
            axis=2,
            wall=(0.75, 0.75, 0),
        )
        return [Part("box", (0, 0, 0), (length / 2, 0.9, thick / 2), "steel"), ring]
    if kind == 1:
        return [
            Part("cylinder", (0.22 * length, 0, 0), (0.3 * length, 0.3, 0.3), "steel", axis=0),
            Part("cylinder", (-0.3 * length, 0, 0), (0.2 * length, 1.4, 1.4), "plastic", axis=0),
        ]
    jaw = Part("box", (0.3 * length, 0, 0), (0.2 * length, 0.9, thick / 2), "steel")
    grips = [
        Part("box", (-0.15 * length, y, 0), (0.3 * length, 0.6, thick / 2), "steel")
        for y in (-1.2, 1.2)
    ]
    return [jaw, *grips]


BUILDERS = {
    "clothes": _clothes,
    "shoes": _shoes,
    "bottle": _bottle,
    "laptop": _laptop,
    "cable": _cable,
    "tool": _tool,
}


def make_item(rng: np.random.Generator, kind: str) -> Item:
    """A new item of ``kind`` (one of ``ITEM_KINDS``), centred on the origin."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown item kind {kind!r}; expected one of {ITEM_KINDS}")
    item = Item(kind, tuple(BUILDERS[kind](rng)))
    low, high = item.extent()
    middle = (low + high) / 2
    return Item(kind, tuple(p.moved(*(-middle)) for p in item.parts))


def _scaled(item: Item, factor: float) -> Item:
    """The item shrunk about the origin by ``factor`` (walls keep their thickness, within
    reason): a smaller laptop, clothes folded tighter."""
    parts = []
    for p in item.parts:
        half = tuple(h * factor for h in p.half)
        wall = tuple(min(w, 0.5 * h) for w, h in zip(p.wall, half))
        centre = tuple(c * factor for c in p.centre)
        parts.append(dataclasses.replace(p, centre=centre, half=half, wall=wall))
    return Item(item.kind, tuple(parts))


def _half_extent(item: Item) -> np.ndarray:
    low, high = item.extent()
    return (high - low) / 2


def place_items(
    rng: np.random.Generator, items: list[Item], inside: tuple[float, float, float]
) -> tuple[Item, ...]:
    """Turn each item by 0 or 90 degrees about z (the other way when only that fits) and put
    it at a random spot of the box of half-sizes ``inside``; an item that fits neither way is
    shrunk until it does. Items may overlap one another."""
    room_of = np.asarray(inside, dtype=np.float64)
    placed = []
    for item in items:
        turned = Item(item.kind, tuple(p.turned() for p in item.parts))
        options = [turned, item] if rng.random() < 0.5 else [item, turned]
        fits = [float(np.min(room_of / _half_extent(o))) for o in options]
        choice = options[0] if fits[0] >= 1 or fits[0] >= fits[1] else options[1]
        factor = min(1.0, max(fits))
        if factor < 1:
            choice = _scaled(choice, factor * 0.999)
        room = np.maximum(room_of - _half_extent(choice), 0.0)
        offset = rng.uniform(-1.0, 1.0, 3) * room
        offset[2] = -room[2] + 0.4 * room[2] * rng.random()  # things settle near the bottom
        placed.append(Item(item.kind, tuple(p.moved(*offset) for p in choice.parts)))
    return tuple(placed)
