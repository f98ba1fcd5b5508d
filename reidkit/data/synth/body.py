"""Draw one person as a *label map*: every pixel says which body part or garment it shows.

The label map depends on shape attributes, pose and viewpoint only - never on colours - so the
visible and infrared renderings (``render.py``) are two look-up tables applied to the same map.
Drawing uses PIL's ``ImageDraw`` on an 8-bit image (fast, integer rasterisation); patterns are
vectorised numpy masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from reidkit.data.synth.attributes import Identity

# Label values of the map (0 is background).
BG, SKIN, HAIR, UPPER, UPPER_PATTERN, LOWER, LOWER_PATTERN = 0, 1, 2, 3, 4, 5, 6
SHOES, BAG, HAT, GLASSES, PRINT, OCCLUDER = 7, 8, 9, 10, 11, 12
UPPER_TEXTURE, LOWER_TEXTURE = 13, 14  # fabric texture: sheen, ribs, twill, quilting seams
NUM_LABELS = 15
VIEWS = ("front", "back", "side")


@dataclass(frozen=True)
class Pose:
    """Where and how the person stands in one image (all drawn from the image's RNG)."""

    view: str  # front, back or side
    facing_left: bool  # side view direction
    phase: float  # walking phase in radians
    scale: float  # person height as a fraction of the image height
    dx: float  # horizontal offset, fraction of the image width
    dy: float  # vertical offset, fraction of the image height


@lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index arrays of shape (H, 1) and (1, W)."""
    return np.arange(height)[:, None], np.arange(width)[None, :]


def sine(x: float) -> float:
    """sin(x) by Bhaskara's rational approximation (error < 0.002): only +, -, *, /, which
    IEEE arithmetic makes identical on every machine, unlike libm's ``sin``."""
    x = x % (2 * math.pi)
    sign = 1.0 if x < math.pi else -1.0
    x = x if x < math.pi else x - math.pi
    return sign * 16 * x * (math.pi - x) / (5 * math.pi * math.pi - 4 * x * (math.pi - x))


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def draw_person(person: Identity, pose: Pose, height: int, width: int) -> np.ndarray:
    """The (H, W) uint8 label map of ``person`` in ``pose``."""
    canvas = Image.new("L", (width, height), BG)
    draw = ImageDraw.Draw(canvas)
    hp = height * pose.scale * person.height  # person height in pixels
    top = height * (0.97 + pose.dy) - hp  # head top; feet near the bottom edge
    cx = width * (0.5 + pose.dx)
    build = person.width
    side = pose.view == "side"
    ahead = -1.0 if pose.facing_left else 1.0  # +x is "forward" in a side view

    def y(f: float) -> float:  # a height fraction (0 = head top, 1 = soles) to pixels
        return top + f * hp

    def w(f: float) -> int:  # a width fraction of the person height to pixels (>= 1)
        return max(1, round(f * hp * build))

    shoulder = (0.075 if side else 0.125) * hp * build
    hip = (0.07 if side else 0.10) * hp * build
    swing = sine(pose.phase)
    stride = (0.16 if side else 0.02) * hp * swing
    leg_w, arm_w = w(0.075), w(0.05)

    # Backpack seen from the front or side sits behind the body: draw it first.
    if person.bag == "backpack" and pose.view != "back":
        bx = cx - ahead * (shoulder + 0.05 * hp * build) if side else cx
        half = (0.06 if side else 0.11) * hp * build
        draw.rectangle([_pt(bx - half, y(0.19)), _pt(bx + half, y(0.44))], fill=BAG)
    if person.hair_length == "long" and pose.view == "front":
        draw.rectangle([_pt(cx - 0.065 * hp, y(0.04)), _pt(cx + 0.065 * hp, y(0.27))], fill=HAIR)

    # Legs: hip -> knee -> ankle, one forward and one back in the walking cycle.
    legs = []
    for sign in (-1.0, 1.0):
        hx = cx + (0 if side else sign * hip * 0.55)
        foot_x = hx + (sign * stride * ahead if side else 0.0)
        lift = 0.0 if side else max(0.0, sign * swing) * 0.03 * hp
        knee = (0.5 * (hx + foot_x) + (0.02 * hp * ahead if side else 0.0), y(0.73) - lift)
        legs.append(((hx, y(0.5)), knee, (foot_x, y(0.955) - lift)))
    bare = {"trousers": 0.955, "shorts": 0.66, "skirt": 0.5}[person.lower_type]
    for hip_pt, knee, ankle in legs:
        draw.line([_pt(*hip_pt), _pt(*knee), _pt(*ankle)], fill=SKIN, width=leg_w, joint="curve")
        if bare > 0.5:  # trousers or shorts cover the leg from the hip down to `bare`
            t = (bare - 0.5) / 0.23
            if t <= 1:
                end = (hip_pt[0] + t * (knee[0] - hip_pt[0]), hip_pt[1] + t * (knee[1] - hip_pt[1]))
                draw.line([_pt(*hip_pt), _pt(*end)], fill=LOWER, width=leg_w + 1)
            else:
                pts = [_pt(*hip_pt), _pt(*knee), _pt(*ankle)]
                draw.line(pts, fill=LOWER, width=leg_w + 1, joint="curve")
        sole_len = 0.07 * hp if side else 0.035 * hp
        toe = ankle[0] + (sole_len * ahead if side else 0)
        shoe_top = 0.93 if person.shoes == "boots" else 0.95
        heel = ankle[0] - (0.01 * hp * ahead if side else sole_len)
        x0, x1 = sorted([heel, toe if side else ankle[0] + sole_len])
        sole_top = ankle[1] - (0.955 - shoe_top) * hp
        draw.rectangle([_pt(x0, sole_top), _pt(x1, ankle[1] + 0.045 * hp)], fill=SHOES)
    # Hip block of the lower garment (joins the legs), and the skirt.
    draw.rectangle([_pt(cx - hip, y(0.47)), _pt(cx + hip, y(0.56))], fill=LOWER)
    if person.lower_type == "skirt":
        flare = hip * (1.25 if side else 1.45)
        draw.polygon(
            [
                _pt(cx - hip, y(0.47)),
                _pt(cx + hip, y(0.47)),
                _pt(cx + flare, y(0.7)),
                _pt(cx - flare, y(0.7)),
            ],
            fill=LOWER,
        )

    # Torso: the upper garment from the shoulders to the waist (a coat reaches the thighs).
    hem = {"coat": 0.7, "jacket": 0.53}.get(person.upper_type, 0.5)
    hem_half = hip * (1.25 if person.upper_type == "coat" else 1.05)
    torso = [
        _pt(cx - shoulder, y(0.17)),
        _pt(cx + shoulder, y(0.17)),
        _pt(cx + hem_half, y(hem)),
        _pt(cx - hem_half, y(hem)),
    ]
    draw.polygon(torso, fill=UPPER)
    neck = 0.035 * hp
    draw.rectangle([_pt(cx - neck * 0.7, y(0.13)), _pt(cx + neck * 0.7, y(0.175))], fill=SKIN)

    # Arms: shoulder -> elbow -> hand, swinging against the legs.
    arms = [1.0] if side else [-1.0, 1.0]
    for sign in arms:
        sx = cx + (0.0 if side else sign * (shoulder - arm_w * 0.5))
        reach = -stride * 0.8 * ahead if side else 0.0
        elbow = (sx + 0.5 * reach + (0 if side else sign * 0.02 * hp), y(0.33))
        hand = (sx + reach + (0 if side else sign * 0.03 * hp), y(0.49))
        pts = [_pt(sx, y(0.19)), _pt(*elbow), _pt(*hand)]
        draw.line(pts, fill=SKIN, width=arm_w, joint="curve")
        if person.sleeves == "long":
            draw.line(pts, fill=UPPER, width=arm_w + 1, joint="curve")
        elif person.sleeves == "short":
            mid = (0.5 * (sx + elbow[0]), y(0.26))
            draw.line([_pt(sx, y(0.19)), _pt(*mid)], fill=UPPER, width=arm_w + 1)
        r = max(1.0, 0.022 * hp)
        draw.ellipse(
            [_pt(hand[0] - r, hand[1] - r * 0.3), _pt(hand[0] + r, hand[1] + 1.5 * r)], fill=SKIN
        )
        if person.bag == "handbag" and sign == arms[-1]:
            bw = 0.05 * hp
            draw.rectangle(
                [_pt(hand[0] - bw, hand[1] + r), _pt(hand[0] + bw, hand[1] + 2 * bw)], fill=BAG
            )

    # Shoulder bag: a strap across the chest and a bag at the hip.
    if person.bag == "shoulder bag":
        side_x = cx + (-ahead * hip if side else hip * 1.1)
        draw.line(
            [_pt(cx - shoulder * 0.8, y(0.18)), _pt(side_x, y(0.47))], fill=BAG, width=w(0.018)
        )
        draw.rectangle(
            [_pt(side_x - 0.055 * hp, y(0.45)), _pt(side_x + 0.055 * hp, y(0.56))], fill=BAG
        )
    if person.bag == "backpack" and pose.view == "back":
        half = 0.1 * hp * build
        draw.rectangle([_pt(cx - half, y(0.19)), _pt(cx + half, y(0.45))], fill=BAG)
    elif person.bag == "backpack" and pose.view == "front":  # straps only
        for sign in (-1.0, 1.0):
            sx = cx + sign * shoulder * 0.6
            draw.line([_pt(sx, y(0.17)), _pt(sx, y(0.36))], fill=BAG, width=w(0.014))

    # Print on the chest: front view only.
    if person.upper_pattern == "print" and pose.view == "front":
        r = 0.045 * hp * min(build, 1.1)
        draw.ellipse([_pt(cx - r, y(0.25) - r), _pt(cx + r, y(0.25) + r)], fill=PRINT)

    # Head: skin, hair, hat, glasses.
    head_w, head_h = 0.052 * hp, 0.068 * hp
    hx, hy = cx + (0.008 * hp * ahead if side else 0.0), y(0.072)
    draw.ellipse([_pt(hx - head_w, hy - head_h), _pt(hx + head_w, hy + head_h)], fill=SKIN)
    if person.hair_length != "bald":
        cover = {"short": 0.35, "medium": 0.55, "long": 0.55}[person.hair_length]
        if pose.view == "back":
            cover = 1.15
        draw.chord(
            [
                _pt(hx - head_w * 1.06, hy - head_h * 1.08),
                _pt(hx + head_w * 1.06, hy + head_h * (2 * cover - 1)),
            ],
            180,
            360,
            fill=HAIR,
        )
        if pose.view == "back":
            draw.ellipse([_pt(hx - head_w, hy - head_h), _pt(hx + head_w, hy + head_h)], fill=HAIR)
        back = {"short": 0.0, "medium": 0.12, "long": 0.26}[person.hair_length]
        if back and pose.view != "front":
            bx = hx if pose.view == "back" else hx - ahead * head_w * 0.7
            half = head_w * (0.95 if pose.view == "back" else 0.45)
            draw.rectangle([_pt(bx - half, hy), _pt(bx + half, y(0.072 + back))], fill=HAIR)
    if person.hat != "none":
        brim = 0.02 * hp
        draw.chord(
            [
                _pt(hx - head_w * 1.12, hy - head_h * 1.2),
                _pt(hx + head_w * 1.12, hy + head_h * 0.1),
            ],
            180,
            360,
            fill=HAT,
        )
        if person.hat == "cap" and pose.view != "back":
            x0 = hx + (ahead * head_w * 0.4 if side else -head_w)
            x1 = hx + (ahead * head_w * 1.6 if side else head_w)
            draw.rectangle(
                [_pt(min(x0, x1), hy - brim * 1.5), _pt(max(x0, x1), hy - brim * 0.5)], fill=HAT
            )
    if person.glasses and pose.view != "back":
        gy = hy - head_h * 0.1
        g0, g1 = (
            (hx + ahead * head_w * 0.2, hx + ahead * head_w)
            if side
            else (hx - head_w * 0.8, hx + head_w * 0.8)
        )
        draw.rectangle(
            [_pt(min(g0, g1), gy - 0.012 * hp), _pt(max(g0, g1), gy + 0.008 * hp)], fill=GLASSES
        )

    labels = np.asarray(canvas).copy()
    add_patterns(labels, person, hp, top)
    add_textures(labels, person, hp, top)
    return labels


def add_patterns(labels: np.ndarray, person: Identity, hp: float, top: float) -> None:
    """Turn garment pixels into pattern pixels where stripes or checks fall (in place)."""
    rows, cols = pixel_grid(*labels.shape)
    period = max(2.0, 0.045 * hp)
    for garment, pattern_label, pattern in (
        (UPPER, UPPER_PATTERN, person.upper_pattern),
        (LOWER, LOWER_PATTERN, person.lower_pattern),
    ):
        if pattern not in ("stripes", "checks"):
            continue
        band = ((rows - round(top)) // round(period)) % 2 == 0  # (H, 1)
        if pattern == "checks":
            band = band ^ ((cols // round(period)) % 2 == 0)  # (H, W)
        labels[(labels == garment) & band] = pattern_label


def add_textures(labels: np.ndarray, person: Identity, hp: float, top: float) -> None:
    """Mark the texture of each garment's fabric (in place): the sheen of leather and silk,
    the ribs of wool, the twill of denim, the quilting seams of down. Texture shows in colour
    (it is how a camera sees what a garment is made of); only quilting seams also show in
    infrared (``render.heat_table``)."""
    rows, cols = pixel_grid(*labels.shape)
    rib = max(2, round(0.02 * hp))
    quilt = max(3, round(0.055 * hp))
    for garment, texture_label, fabric in (
        (UPPER, UPPER_TEXTURE, person.upper_fabric),
        (LOWER, LOWER_TEXTURE, person.lower_fabric),
    ):
        mask = labels == garment
        if fabric in ("leather", "silk"):  # a vertical highlight on one side of the garment
            columns = np.flatnonzero(mask.any(axis=0))
            if len(columns) == 0:
                continue
            left, span = columns[0], columns[-1] - columns[0] + 1
            texture = (cols >= left + span // 5) & (cols < left + span // 5 + max(1, span // 6))
        elif fabric == "wool":
            texture = (cols // rib) % 2 == 0  # (1, W)
        elif fabric == "denim":
            texture = (rows + cols) % 3 == 0  # (H, W)
        elif fabric == "down":
            texture = (rows - round(top)) % quilt == 0  # (H, 1)
        else:
            continue
        labels[mask & texture] = texture_label
