"""The outside of a synthetic package: shell, zips, handles, wheels, straps and buckles.

One builder per kind returns the exterior parts in the package frame (cm; x along the length,
z up), the shell first. Roles tell the visible renderer what to paint; ``"inside"`` parts
(trolley tubes, wheel axles, frame stays) only show in X-rays. Metal zips, buckles, wheel axles
and trolley tubes are the dense parts that both modalities can show.
"""

from __future__ import annotations

import numpy as np

from reidkit.data.synth.projection import Part


def _shell(shape: str, size, material: str, wall: float) -> Part:
    half = (size[0] / 2, size[1] / 2, size[2] / 2)
    return Part(shape, (0.0, 0.0, 0.0), half, material, "shell", 0, (wall, wall, wall))


def _box(centre, half, material: str, role: str = "inside") -> Part:
    return Part("box", centre, half, material, role)


def _belts(rng: np.random.Generator, kind: str, size, count: int) -> list[Part]:
    """Straps around the package at random places along x, each with a buckle on top."""
    length, width, depth = size
    belt, band = ("plastic", 0.6) if kind == "box" else ("nylon", 2.0)
    shape = "cylinder" if kind == "duffel" else "box"
    parts = []
    for _ in range(count):
        x = float(rng.uniform(-0.3, 0.3)) * length
        half = (band, width / 2 + 0.3, depth / 2 + 0.3)  # a tube open along x
        parts.append(Part(shape, (x, 0.0, 0.0), half, belt, "strap", 0, (0.0, 0.3, 0.3)))
        buckle = "steel" if rng.random() < 0.4 else "plastic"
        parts.append(_box((x, 0.0, depth / 2 + 0.65), (band + 0.4, 2.2, 0.35), buckle, "buckle"))
    return parts


def suitcase(rng: np.random.Generator, size, material: str, wall: float) -> list[Part]:
    """A hard or soft suitcase lying flat: a zip all round, a carry handle on the front face,
    a trolley grip at one end with its two tubes inside, wheels at the other end."""
    length, width, depth = size
    zip_height = float(rng.uniform(-0.15, 0.15)) * depth
    ring = (length / 2 + 0.25, width / 2 + 0.25, 0.3)  # open along z: a line around the case
    parts = [
        _shell("box", size, material, wall),
        Part("box", (0.0, 0.0, zip_height), ring, "zipper", "zip", 0, (0.4, 0.4, 0.0)),
        _box((0.0, -width / 2 - 1.0, 0.0), (6.0, 1.0, 1.3), "plastic", "handle"),
        _box(
            (length / 2 + 1.3, 0.0, -depth / 2 + 2.5),
            (1.3, 0.3 * width + 1, 1.3),
            "plastic",
            "handle",
        ),
    ]
    rod = "aluminium" if rng.random() < 0.6 else "steel"
    for y in (-0.3 * width, 0.3 * width):  # telescopic trolley tubes along the back wall
        centre = (0.06 * length, y, -depth / 2 + 2.5)
        parts.append(
            Part("cylinder", centre, (0.42 * length, 0.7, 0.7), rod, "inside", 0, (0, 0.15, 0.15))
        )
    radius = float(rng.uniform(2.5, 3.5))
    heights = [-depth / 2 + radius] + ([depth / 2 - radius] if rng.random() < 0.6 else [])
    for z in heights:  # two wheels, or four spinners
        for y in (-0.38 * width, 0.38 * width):
            centre = (-length / 2 - 0.6 * radius, y, z)
            parts.append(Part("cylinder", centre, (radius, 1.3, radius), "rubber", "wheel", 1))
            parts.append(Part("cylinder", centre, (0.4, 1.8, 0.4), "steel", "inside", 1))
    return parts + _belts(rng, "suitcase", size, int(rng.choice(3, p=[0.55, 0.3, 0.15])))


def backpack(rng: np.random.Generator, size, material: str, wall: float) -> list[Part]:
    """A rounded backpack lying on its back: a front pocket with a zip, a carry loop, two
    padded shoulder straps with buckles underneath, sometimes aluminium frame stays."""
    length, width, depth = size
    pocket = (0.3 * length, 0.36 * width, 0.22 * depth)
    pocket_centre = (-0.12 * length, 0.0, 0.3 * depth)
    zip_centre = (-0.12 * length, 0.0, 0.3 * depth + pocket[2] - 0.3)
    parts = [
        _shell("ellipsoid", size, material, wall),
        Part("ellipsoid", pocket_centre, pocket, material, "pocket", 0, (wall, wall, wall)),
        _box(zip_centre, (0.8 * pocket[0], 0.3, 0.3), "zipper", "zip"),
        _box((length / 2 + 0.8, 0.0, 0.0), (0.9, 4.0, 0.8), "nylon", "handle"),
    ]
    for y in (-0.22 * width, 0.22 * width):
        parts.append(_box((0.0, y, -depth / 2 - 0.8), (0.36 * length, 2.5, 0.8), "nylon", "strap"))
        buckle = "steel" if rng.random() < 0.3 else "plastic"
        parts.append(_box((-0.36 * length, y, -depth / 2 - 0.9), (1.2, 2.0, 0.4), buckle, "buckle"))
    if rng.random() < 0.35:
        for y in (-0.15 * width, 0.15 * width):
            parts.append(_box((0.0, y, -depth / 2 + 1.0), (0.36 * length, 0.8, 0.2), "aluminium"))
    return parts


def duffel(rng: np.random.Generator, size, material: str, wall: float) -> list[Part]:
    """A cylindrical duffel bag: a zip along the top, a handle on two posts, steel clips for a
    shoulder strap, sometimes steel feet, sometimes compression straps."""
    length, width, depth = size
    top = depth / 2
    zipper = "zipper" if rng.random() < 0.6 else "plastic"
    grip = "leather" if material == "leather" else "nylon"
    parts = [
        _shell("cylinder", size, material, wall),
        _box((0.0, 0.0, top - 0.2), (0.4 * length, 0.35, 0.35), zipper, "zip"),
        _box((0.0, 0.0, top + 2.8), (0.17 * length, 1.3, 0.5), grip, "handle"),
    ]
    for x in (-0.17 * length, 0.17 * length):
        parts.append(_box((x, 0.0, top + 1.3), (0.7, 1.3, 1.3), grip, "handle"))
    for x in (-length / 2 + 1.5, length / 2 - 1.5):
        parts.append(_box((x, 0.0, 0.72 * top), (1.0, 0.6, 1.6), "steel", "buckle"))
    if rng.random() < 0.5:
        for x in (-0.35 * length, 0.35 * length):
            for y in (-0.2 * width, 0.2 * width):
                foot = (x, y, -top - 0.3)
                parts.append(Part("cylinder", foot, (0.9, 0.9, 0.3), "steel", "buckle", 2))
    return parts + _belts(rng, "duffel", size, int(rng.choice(3, p=[0.6, 0.25, 0.15])))


def box(rng: np.random.Generator, size, material: str, wall: float) -> list[Part]:
    """A closed box (cardboard or a plastic crate), sometimes with plastic strapping bands."""
    belts = _belts(rng, "box", size, int(rng.choice(3, p=[0.65, 0.2, 0.15])))
    return [_shell("box", size, material, wall), *belts]


EXTERIORS = {"suitcase": suitcase, "backpack": backpack, "duffel": duffel, "box": box}
