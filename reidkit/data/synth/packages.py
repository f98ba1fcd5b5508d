"""Synthetic packages for visible-X-ray re-identification: what a package is.

A package (suitcase, backpack, duffel bag or cardboard box) is drawn from ``(seed, pid)`` alone.
Its *outside* is a shell of some material, size and shape with a colour, a surface texture,
stickers, straps, handles, wheels and zips; its *contents* are a few objects (clothes, shoes,
bottles, laptops, cables, metal tools), each made of parts of one material. Every physical piece
is a :class:`reidkit.data.synth.projection.Part`; colours, textures and stickers are paint and
paper, so the X-ray renderer never sees them, and the visible renderer never sees the contents.

Materials carry what a dual-energy X-ray scanner measures: a class (``organic``, ``mixed``,
``metal``, shown orange, green and blue) and a linear attenuation coefficient (1/cm) at the
scanner's effective energy. The values are rounded, plausible orders of magnitude, chosen so
that clothes look pale, water and shoes medium, and a centimetre of steel almost black.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reidkit.data.synth.exterior import EXTERIORS
from reidkit.data.synth.items import ITEM_KINDS, Item, make_item, place_items
from reidkit.data.synth.projection import Part

KINDS = ("suitcase", "backpack", "duffel", "box")
MATERIAL_CLASSES = ("organic", "mixed", "metal")
MATERIALS: dict[str, tuple[str, float]] = {  # name -> (X-ray class, attenuation 1/cm)
    "textile": ("organic", 0.05),
    "cardboard": ("organic", 0.07),
    "nylon": ("organic", 0.12),
    "canvas": ("organic", 0.14),
    "leather": ("organic", 0.18),
    "water": ("organic", 0.19),
    "plastic": ("organic", 0.2),
    "polycarbonate": ("organic", 0.2),
    "rubber": ("organic", 0.26),
    "electronics": ("mixed", 0.45),
    "glass": ("mixed", 0.5),
    "aluminium": ("mixed", 0.6),
    "cable": ("mixed", 0.9),
    "battery": ("mixed", 1.1),
    "zipper": ("metal", 1.2),
    "steel": ("metal", 2.4),
}
COLOURS: dict[str, tuple[int, int, int]] = {  # visible paint of shells, straps and stickers
    "black": (30, 30, 34),
    "grey": (120, 122, 128),
    "navy": (32, 42, 84),
    "blue": (40, 80, 180),
    "red": (185, 35, 45),
    "green": (45, 120, 70),
    "yellow": (228, 196, 52),
    "orange": (226, 122, 36),
    "pink": (230, 140, 170),
    "purple": (106, 52, 136),
    "brown": (104, 66, 40),
    "beige": (208, 188, 148),
    "white": (232, 232, 228),
    "silver": (186, 188, 194),
    "kraft": (176, 136, 90),
}
# Luggage is mostly dark: many packages look alike in colour (a real difficulty).
SHELL_COLOURS = {"black": 0.28, "grey": 0.1, "navy": 0.12, "blue": 0.08, "red": 0.08}
SHELL_COLOURS |= {"green": 0.06, "purple": 0.05, "pink": 0.04, "brown": 0.07, "beige": 0.05}
SHELL_COLOURS |= {"yellow": 0.03, "orange": 0.04}
# kind -> ((shell material, wall cm, textures), ...) and kind -> ranges of (L, W, D) in cm
SHELLS = {
    "suitcase": (
        ("polycarbonate", 0.3, ("plain", "grooves")),
        ("aluminium", 0.12, ("grooves",)),
        ("nylon", 0.4, ("plain", "ripstop", "stripes")),
    ),
    "backpack": (
        ("nylon", 0.3, ("plain", "ripstop", "stripes")),
        ("canvas", 0.4, ("plain", "stripes", "check")),
        ("leather", 0.3, ("plain",)),
    ),
    "duffel": (
        ("nylon", 0.3, ("plain", "ripstop", "stripes")),
        ("canvas", 0.4, ("plain", "stripes", "check")),
        ("leather", 0.3, ("plain",)),
    ),
    "box": (("cardboard", 0.5, ("plain",)), ("plastic", 0.4, ("plain", "grooves"))),
}
SIZES = {
    "suitcase": ((50, 78), (34, 50), (20, 30)),
    "backpack": ((38, 52), (26, 34), (14, 24)),
    "duffel": ((48, 75), (24, 34), (24, 34)),  # a cylinder: depth = width
    "box": ((25, 60), (20, 45), (12, 40)),
}
STICKER_STYLES = ("label", "tag", "dot", "fragile")
VISIBLE_FIELDS = ("colour", "texture", "texture_colour", "strap_colour", "stickers")


@dataclass(frozen=True)
class PackageSettings:
    """The knobs of the package generator (see ``reidkit.data.synth`` for what each one does)."""

    seed: int = 0
    height: int = 128
    width: int = 128
    noise: float = 0.015  # visible sensor noise, std as a fraction of the full range
    xray_noise: float = 0.03  # X-ray detector noise, std of log-intensity
    jitter: float = 1.0  # scale of the pose jitter (size, rotation, position)
    blur: float = 1.0  # largest random blur radius of the visible camera, px at 128 px
    clutter: float = 0.5  # chance of other objects (trays, other bags) around a visible image

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 16:
                raise ValueError(f"image {name} must be an integer >= 16 pixels, got {value!r}")
        for name in ("noise", "xray_noise", "jitter", "blur", "clutter"):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}") from None
            if not (math.isfinite(value) and value >= 0) or (name == "clutter" and value > 1):
                limits = "[0, 1]" if name == "clutter" else ">= 0"
                raise ValueError(f"{name} must be {limits}, got {value!r}")
            object.__setattr__(self, name, value)

    def image_rng(self, pid: int, cam: int, index: int) -> np.random.Generator:
        """The random numbers of one image: ``SeedSequence([seed, pid, cam, index])``."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"image index must be a non-negative integer, got {index!r}")
        if isinstance(pid, bool) or not isinstance(pid, (int, np.integer)) or pid < 0:
            raise ValueError(f"pid must be a non-negative integer, got {pid!r}")
        return np.random.default_rng(np.random.SeedSequence([self.seed, pid, cam, index]))

    def package(self, pid: int) -> Package:
        """The package ``pid`` of this population (``make_package(seed, pid)``)."""
        return make_package(self.seed, pid)


@dataclass(frozen=True)
class Sticker:
    """Paper on one face: visible in the view that shows that face, invisible to X-rays."""

    face: str  # "front", "top" or "side"
    centre: tuple[float, float]  # on the face, fractions (-0.5..0.5) of its columns and rows
    size: tuple[float, float]  # cm along the face's columns and rows
    colour: str
    style: str  # one of STICKER_STYLES, or "tape" (a box's parcel tape)
    code: int = 0  # bars of a "tag"'s barcode


@dataclass(frozen=True)
class Package:
    """Everything that makes one synthetic package what it is (``exterior[0]`` is the shell)."""

    pid: int
    kind: str
    size: tuple[float, float, float]  # length, width, depth in cm
    shell_material: str
    colour: str
    texture: str  # "plain", "grooves", "ripstop", "stripes", "check"
    texture_colour: str
    strap_colour: str
    stickers: tuple[Sticker, ...]
    exterior: tuple[Part, ...]
    contents: tuple[Item, ...]

    @property
    def shell(self) -> Part:
        return self.exterior[0]

    def parts(self) -> tuple[Part, ...]:
        """Every physical part: the exterior, then each item's parts."""
        return self.exterior + tuple(p for item in self.contents for p in item.parts)

    def recoloured(self, rng: np.random.Generator) -> Package:
        """The same package with its paint and stickers redrawn (what X-rays cannot see)."""
        return dataclasses.replace(self, **_paint(rng, self.kind, self.shell_material, self.size))


def _pick(rng: np.random.Generator, options, weights=None) -> str:
    options = list(options)
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _stickers(rng: np.random.Generator, kind: str, size) -> tuple[Sticker, ...]:
    stickers = []
    if kind == "box":  # parcel tape along the top, and sometimes a shipping label
        stickers.append(Sticker("top", (0.0, 0.0), (size[0] + 1, 5.0), "beige", "tape"))
    for _ in range(int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1]))):
        face = _pick(rng, ("front", "top", "side"), (0.45, 0.4, 0.15))
        centre = (float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.25, 0.25)))
        style = _pick(rng, STICKER_STYLES, (0.35, 0.3, 0.2, 0.15))
        extent = (float(rng.uniform(5, 12)), float(rng.uniform(3, 8)))
        colour = _pick(rng, ("white", "yellow", "red", "orange", "green", "blue", "pink"))
        if style == "tag":
            colour = "white"
        stickers.append(Sticker(face, centre, extent, colour, style, int(rng.integers(1, 2**12))))
    return tuple(stickers)


def _paint(rng: np.random.Generator, kind: str, material: str, size) -> dict[str, object]:
    """The visible-only attributes (``VISIBLE_FIELDS``), drawn in a fixed order."""
    textures = next(t for m, _, t in SHELLS[kind] if m == material)
    colour = _pick(rng, SHELL_COLOURS, list(SHELL_COLOURS.values()))
    if material == "aluminium":
        colour = "silver"
    elif material == "cardboard":
        colour = "kraft" if rng.random() < 0.85 else "white"
    second = _pick(rng, [c for c in SHELL_COLOURS if c != colour])
    strap = _pick(rng, ("black", "grey", "red", "blue", "green", "yellow", "orange", "purple"))
    return {
        "colour": colour,
        "texture": _pick(rng, textures),
        "texture_colour": second,
        "strap_colour": strap,
        "stickers": _stickers(rng, kind, size),
    }


def interior(shell: Part) -> tuple[float, float, float]:
    """Half-sizes of the box that contents are placed in: inside the walls, and for round
    shells the box that fits comfortably inside the curve."""
    shrink = {"box": (1, 1, 1), "ellipsoid": (0.62, 0.62, 0.62), "cylinder": (0.95, 0.68, 0.68)}
    return tuple(
        max(1.0, (h - w - 0.5) * s) for h, w, s in zip(shell.half, shell.wall, shrink[shell.shape])
    )


@lru_cache(maxsize=65536)
def make_package(seed: int, pid: int) -> Package:
    """The package ``pid`` of the population ``seed`` (the same for every image of it)."""
    if isinstance(pid, bool) or not isinstance(pid, (int, np.integer)) or pid < 0:
        raise ValueError(f"pid must be a non-negative integer, got {pid!r}")
    pid = int(pid)

    def stream(tag: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([seed, pid, 0xBA6, tag]))

    rng = stream(0)
    kind = _pick(rng, KINDS, (0.35, 0.25, 0.2, 0.2))
    (lo_l, hi_l), (lo_w, hi_w), (lo_d, hi_d) = SIZES[kind]
    length, width = float(rng.uniform(lo_l, hi_l)), float(rng.uniform(lo_w, hi_w))
    depth = width if kind == "duffel" else float(rng.uniform(lo_d, hi_d))
    size = (round(length, 1), round(width, 1), round(depth, 1))
    material, wall, _ = SHELLS[kind][int(rng.integers(len(SHELLS[kind])))]
    # Independent streams for the outside's shape, its paint and the contents.
    shape_rng, paint_rng, content_rng = stream(1), stream(2), stream(3)
    exterior = tuple(EXTERIORS[kind](shape_rng, size, material, wall))
    count = int(content_rng.choice([2, 3, 4, 5, 6], p=[0.15, 0.3, 0.3, 0.15, 0.1]))
    weights = (0.28, 0.14, 0.16, 0.12, 0.14, 0.16)
    items = [make_item(content_rng, _pick(content_rng, ITEM_KINDS, weights)) for _ in range(count)]
    contents = place_items(content_rng, items, interior(exterior[0]))
    return Package(
        pid=pid,
        kind=kind,
        size=size,
        shell_material=material,
        exterior=exterior,
        contents=contents,
        **_paint(paint_rng, kind, material, size),
    )


def material_class(material: str) -> str:
    """``"organic"``, ``"mixed"`` or ``"metal"``; a clear error for an unknown material."""
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r}; expected one of {sorted(MATERIALS)}")
    return MATERIALS[material][0]
