"""Geometry of the synthetic packages: solid parts in 3-D and their projections onto an image.

A package lives in its own frame, in centimetres, centred on the origin: ``x`` along its length
(the conveyor's direction), ``y`` across, ``z`` up. Every part is an axis-aligned solid (box,
ellipsoid or cylinder), optionally hollow. A *view* looks along one axis and puts the two others
on the image columns and rows; a :class:`Camera` adds the scale (pixels per centimetre), a
rotation in the image plane, a shift and a mirror.

What a view needs of a part is its *chord*: the length of material a ray through each pixel
crosses. X-ray attenuation is a sum of chords times attenuation coefficients; a visible
silhouette is where the chord is positive. Box edges are anti-aliased by pixel coverage, so thin
walls seen edge-on come out as a soft rim rather than a dotted one. All operations are linear in
the chords, so the chord of two parts is the sum of each one's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

SHAPES = ("box", "ellipsoid", "cylinder")
# A view is (axis the ray travels along, axis on the image columns, axis on the image rows);
# image rows carry z upwards where z is on them.
ALONG_X, ALONG_Y, ALONG_Z = (0, 1, 2), (1, 0, 2), (2, 0, 1)


@dataclass(frozen=True)
class Part:
    """One solid piece of a package, in the package frame (cm).

    ``wall`` > 0 on an axis makes the part hollow with walls that thick across that axis
    (a closed box has three walls; ``(0, w, w)`` is a tube open along x, e.g. a strap).
    ``role`` says what the visible renderer paints (``"inside"`` parts are never painted).
    """

    shape: str
    centre: tuple[float, float, float]
    half: tuple[float, float, float]
    material: str
    role: str = "inside"
    axis: int = 0  # cylinders: the axis they run along
    wall: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"part shape must be one of {SHAPES}, got {self.shape!r}")
        if min(self.half) <= 0:
            raise ValueError(f"part half-sizes must be positive, got {self.half}")

    def moved(self, dx: float, dy: float, dz: float) -> Part:
        x, y, z = self.centre
        return dataclasses.replace(self, centre=(float(x + dx), float(y + dy), float(z + dz)))

    def turned(self) -> Part:
        """The part turned by 90 degrees about z (x and y swap)."""
        (x, y, z), (hx, hy, hz), (wx, wy, wz) = self.centre, self.half, self.wall
        axis = {0: 1, 1: 0}.get(self.axis, self.axis)
        return dataclasses.replace(
            self, centre=(y, x, z), half=(hy, hx, hz), wall=(wy, wx, wz), axis=axis
        )


@dataclass(frozen=True)
class Camera:
    """Where a view's package lands in an ``height`` x ``width`` image.

    ``axes`` is the view (``ALONG_X``, ``ALONG_Y`` or ``ALONG_Z``), ``scale`` is pixels per
    centimetre, ``angle`` an in-plane rotation (radians), ``shift`` the offset of the package
    centre from the image centre (pixels, columns then rows) and ``mirror`` flips the column
    axis (a package the other way round).
    """

    axes: tuple[int, int, int]
    height: int
    width: int
    scale: float
    angle: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    mirror: bool = False

    def grid(self, window: tuple[int, int, int, int] | None = None):
        """Package coordinates (a, b) in cm of the pixel centres of ``window`` (r0, r1, c0, c1):
        ``a`` on the column axis, ``b`` on the row axis (up for z)."""
        r0, r1, c0, c1 = window or (0, self.height, 0, self.width)
        rows = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5 - self.height / 2 - self.shift[1]
        cols = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5 - self.width / 2 - self.shift[0]
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        a = (cos * cols + sin * rows) / self.scale
        b = (-sin * cols + cos * rows) / self.scale
        if self.mirror:
            a = -a
        if self.axes[2] == 2:  # z points up, image rows point down
            b = -b
        return a, b

    def to_pixel(self, a: float, b: float) -> tuple[float, float]:
        """(row, column) of the point (a, b) cm of the view plane (the inverse of ``grid``)."""
        x = (-a if self.mirror else a) * self.scale
        y = (-b if self.axes[2] == 2 else b) * self.scale
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        col = cos * x - sin * y + self.width / 2 + self.shift[0]
        row = sin * x + cos * y + self.height / 2 + self.shift[1]
        return row, col

    def window(self, part: Part, pad: int = 2) -> tuple[int, int, int, int] | None:
        """The pixel rows and columns the part's footprint can touch (None: outside)."""
        _, ia, ib = self.axes
        corners = [
            self.to_pixel(
                part.centre[ia] + sa * part.half[ia], part.centre[ib] + sb * part.half[ib]
            )
            for sa in (-1, 1)
            for sb in (-1, 1)
        ]
        rows, cols = [c[0] for c in corners], [c[1] for c in corners]
        r0, r1 = max(0, int(min(rows)) - pad), min(self.height, int(max(rows)) + pad + 1)
        c0, c1 = max(0, int(min(cols)) - pad), min(self.width, int(max(cols)) + pad + 1)
        return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


def _cover(distance_inside: np.ndarray, pixel: float) -> np.ndarray:
    """Fraction of a pixel inside an edge, given the signed distance (cm) of its centre."""
    return np.clip(distance_inside / pixel + 0.5, 0.0, 1.0)


def solid_chord(shape, axis, half, a, b, axes, pixel) -> np.ndarray:
    """Chord length (cm) through a solid centred at the origin, at view-plane points (a, b)."""
    ip, ia, ib = axes
    hp, ha, hb = half[ip], half[ia], half[ib]
    if shape == "box":
        return 2 * hp * _cover(ha - np.abs(a), pixel) * _cover(hb - np.abs(b), pixel)
    if shape == "ellipsoid":
        return 2 * hp * np.sqrt(np.clip(1 - (a / ha) ** 2 - (b / hb) ** 2, 0.0, None))
    if axis == ip:  # a cylinder seen end-on: a filled disc (ellipse)
        radius = np.sqrt((a / ha) ** 2 + (b / hb) ** 2)
        return 2 * hp * _cover((1 - radius) * min(ha, hb), pixel)
    if axis == ia:  # lying along the columns: round across the rows
        return 2 * hp * _cover(ha - np.abs(a), pixel) * np.sqrt(np.clip(1 - (b / hb) ** 2, 0, None))
    return 2 * hp * _cover(hb - np.abs(b), pixel) * np.sqrt(np.clip(1 - (a / ha) ** 2, 0, None))


def chord(part: Part, camera: Camera) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The part's chord (cm) over its pixel window, and the window; None when off-image."""
    window = camera.window(part)
    if window is None:
        return None
    axes = camera.axes
    a, b = camera.grid(window)
    a, b = a - part.centre[axes[1]], b - part.centre[axes[2]]
    pixel = 1.0 / camera.scale
    length = solid_chord(part.shape, part.axis, part.half, a, b, axes, pixel)
    if any(part.wall):
        inner = tuple(h - w for h, w in zip(part.half, part.wall))
        if min(inner) > 0:
            length = length - solid_chord(part.shape, part.axis, inner, a, b, axes, pixel)
    return length, window


FIELD_CM = 90.0  # what the shorter image side spans at scale 1: the largest package fits


def draw_camera(
    rng: np.random.Generator,
    axes: tuple[int, int, int],
    height: int,
    width: int,
    *,
    zoom: float,
    turn: float,
    shift: float,
    jitter: float = 1.0,
) -> Camera:
    """A jittered camera, five numbers drawn in a fixed order: a zoom within ``1 +- zoom``, an
    angle within ``+- turn`` degrees, a shift within ``+- shift`` of the image size, a mirror;
    ``jitter`` scales the first three (0 centres every package alike)."""
    scale = min(height, width) / FIELD_CM * (1 + jitter * zoom * float(rng.uniform(-1, 1)))
    angle = math.radians(jitter * turn * float(rng.uniform(-1, 1)))
    dx, dy = (jitter * shift * float(rng.uniform(-1, 1)) * n for n in (width, height))
    return Camera(axes, height, width, scale, angle, (dx, dy), bool(rng.random() < 0.5))
