"""Who the synthetic people are: the attribute vocabulary and how an identity is drawn.

An identity is a frozen set of attributes drawn from ``(seed, pid)`` alone, so any identity can
be rebuilt without the others. Colours matter only in visible light; in infrared what counts is
the *fabric* (its apparent temperature) and the shapes: garment types, sleeve and leg length,
bag, hat, hair and body build.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reidkit.data.sysu import CAMERAS, INFRARED_CAMERAS, VISIBLE_CAMERAS

# Named colours (visible appearance). Caption colour words are exactly these names.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 32),
    "white": (235, 235, 230),
    "grey": (128, 128, 132),
    "red": (190, 30, 40),
    "blue": (40, 70, 180),
    "green": (40, 130, 60),
    "yellow": (230, 200, 40),
    "orange": (230, 120, 30),
    "pink": (235, 140, 170),
    "purple": (110, 50, 140),
    "brown": (110, 70, 40),
    "beige": (210, 190, 150),
}
# Near-infrared reflectance of each dye (0 dark .. 1 bright): what an 850 nm camera sees under its
# own illuminator. Many textile dyes are nearly transparent in the near infrared, so the fabric
# looks light whatever its colour, while carbon black and dark browns absorb. The order is
# deliberately not the visible brightness: blue and red look light, and pink, white, yellow and
# beige become hard to tell apart.
NIR_REFLECTANCE: dict[str, float] = {
    "black": 0.08,
    "brown": 0.3,
    "grey": 0.45,
    "green": 0.52,
    "purple": 0.6,
    "blue": 0.66,
    "red": 0.74,
    "orange": 0.8,
    "yellow": 0.86,
    "beige": 0.88,
    "pink": 0.9,
    "white": 0.93,
}
SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "light": (236, 196, 166),
    "medium": (206, 152, 112),
    "tan": (170, 116, 78),
    "dark": (104, 70, 48),
}
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (22, 18, 18),
    "brown": (92, 58, 34),
    "blonde": (214, 182, 116),
    "grey": (160, 158, 156),
    "auburn": (138, 58, 30),
}
# Apparent temperature of a fabric when worn, on a 0 (cold) .. 1 (skin) scale: thin fabrics let
# body heat through, thick or insulating ones look cold. This, not colour, is what IR sees.
FABRIC_HEAT: dict[str, float] = {
    "silk": 0.74,
    "linen": 0.68,
    "cotton": 0.60,
    "synthetic": 0.53,
    "denim": 0.46,
    "wool": 0.38,
    "leather": 0.30,
    "down": 0.22,
}
UPPER_TYPES: dict[str, tuple[str, ...]] = {  # garment -> fabrics it is made of
    "t-shirt": ("cotton", "linen", "synthetic"),
    "tank top": ("cotton", "silk", "synthetic"),
    "shirt": ("cotton", "linen", "denim", "silk"),
    "sweater": ("wool", "cotton", "synthetic"),
    "jacket": ("denim", "leather", "synthetic", "wool"),
    "coat": ("wool", "down", "leather", "synthetic"),
}
SLEEVES = {"t-shirt": "short", "tank top": "none", "shirt": "long", "sweater": "long"}
SLEEVES.update({"jacket": "long", "coat": "long"})
LOWER_TYPES: dict[str, tuple[str, ...]] = {
    "trousers": ("cotton", "denim", "wool", "synthetic"),
    "shorts": ("cotton", "denim", "linen"),
    "skirt": ("cotton", "linen", "wool", "silk"),
}
UPPER_PATTERNS = ("plain", "stripes", "checks", "print")
LOWER_PATTERNS = ("plain", "stripes", "checks")
SHOES = ("sneakers", "boots", "sandals")
BAGS = ("none", "backpack", "shoulder bag", "handbag")
HATS = ("none", "cap", "beanie")
HAIR_LENGTHS = ("bald", "short", "medium", "long")

# The attributes that only change how a person looks in colour (the IR-invariance test uses it).
COLOUR_FIELDS = (
    "skin",
    "hair_colour",
    "upper_colour",
    "upper_pattern_colour",
    "lower_colour",
    "lower_pattern_colour",
    "shoe_colour",
    "bag_colour",
    "hat_colour",
)


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person who they are."""

    pid: int
    height: float  # body height, fraction of the tallest person (0.82..1.0)
    width: float  # body build, 1.0 = average (0.82..1.25)
    skin: str
    hair_length: str
    hair_colour: str
    upper_type: str
    upper_colour: str
    upper_pattern: str
    upper_pattern_colour: str
    upper_fabric: str
    pattern_fabric_differs: bool  # stripes/checks woven from a second fabric: visible in IR
    lower_type: str
    lower_colour: str
    lower_pattern: str
    lower_pattern_colour: str
    lower_fabric: str
    shoes: str
    shoe_colour: str
    bag: str
    bag_colour: str
    hat: str
    hat_colour: str
    glasses: bool
    cameras: tuple[int, ...]  # the cameras (1..6) that see this person
    twin_of: int | None = None  # a near-duplicate: same clothes as this pid

    @property
    def sleeves(self) -> str:
        return SLEEVES[self.upper_type]

    def colours(self) -> set[str]:
        """Every colour word a caption of this person may use."""
        used = {self.upper_colour, self.lower_colour, self.shoe_colour}
        if self.upper_pattern in ("stripes", "checks", "print"):
            used.add(self.upper_pattern_colour)
        if self.lower_pattern != "plain":
            used.add(self.lower_pattern_colour)
        if self.hair_length != "bald":
            used.add(self.hair_colour)
        if self.bag != "none":
            used.add(self.bag_colour)
        if self.hat != "none":
            used.add(self.hat_colour)
        return used

    def recoloured(self, rng: np.random.Generator) -> Identity:
        """The same person with every colour redrawn (for showing what infrared ignores)."""
        return dataclasses.replace(
            self,
            skin=_pick(rng, SKIN_TONES),
            hair_colour=_pick(rng, HAIR_COLOURS),
            **{name: _pick(rng, COLOURS) for name in COLOUR_FIELDS[2:]},
        )


def _pick(rng: np.random.Generator, options) -> str:
    options = list(options)
    return options[int(rng.integers(len(options)))]


def _two_colours(rng: np.random.Generator) -> tuple[str, str]:
    first = _pick(rng, COLOURS)
    second = _pick(rng, [c for c in COLOURS if c != first])
    return first, second


def _cameras(rng: np.random.Generator, presence: float) -> tuple[int, ...]:
    """A random subset of cameras with at least one visible and one infrared camera."""
    seen = [cam for cam in CAMERAS if rng.random() < presence]
    if not any(cam in VISIBLE_CAMERAS for cam in seen):
        seen.append(VISIBLE_CAMERAS[int(rng.integers(4))])
    if not any(cam in INFRARED_CAMERAS for cam in seen):
        seen.append(INFRARED_CAMERAS[int(rng.integers(2))])
    return tuple(sorted(set(seen)))


def _clothes(rng: np.random.Generator) -> dict[str, object]:
    upper = _pick(rng, UPPER_TYPES)
    lower = _pick(rng, LOWER_TYPES)
    upper_colour, upper_second = _two_colours(rng)
    lower_colour, lower_second = _two_colours(rng)
    weights = np.array([0.4, 0.2, 0.2, 0.2])
    upper_pattern = UPPER_PATTERNS[int(rng.choice(4, p=weights))]
    lower_pattern = LOWER_PATTERNS[int(rng.choice(3, p=[0.7, 0.15, 0.15]))]
    return {
        "upper_type": upper,
        "upper_colour": upper_colour,
        "upper_pattern": upper_pattern,
        "upper_pattern_colour": upper_second,
        "upper_fabric": _pick(rng, UPPER_TYPES[upper]),
        "pattern_fabric_differs": bool(rng.random() < 0.5),
        "lower_type": lower,
        "lower_colour": lower_colour,
        "lower_pattern": lower_pattern,
        "lower_pattern_colour": lower_second,
        "lower_fabric": _pick(rng, LOWER_TYPES[lower]),
        "shoes": _pick(rng, SHOES),
        "shoe_colour": _pick(rng, COLOURS),
    }


def _person(rng: np.random.Generator) -> dict[str, object]:
    bag = BAGS[int(rng.choice(4, p=[0.4, 0.25, 0.2, 0.15]))]
    hat = HATS[int(rng.choice(3, p=[0.65, 0.2, 0.15]))]
    return {
        "height": round(float(rng.uniform(0.82, 1.0)), 3),
        "width": round(float(rng.uniform(0.82, 1.25)), 3),
        "skin": _pick(rng, SKIN_TONES),
        "hair_length": HAIR_LENGTHS[int(rng.choice(4, p=[0.08, 0.42, 0.25, 0.25]))],
        "hair_colour": _pick(rng, HAIR_COLOURS),
        "bag": bag,
        "bag_colour": _pick(rng, COLOURS),
        "hat": hat,
        "hat_colour": _pick(rng, COLOURS),
        "glasses": bool(rng.random() < 0.25),
    }


@lru_cache(maxsize=65536)
def make_identity(
    seed: int, pid: int, near_duplicates: float = 0.02, presence: float = 0.8
) -> Identity:
    """The identity ``pid`` of the population ``seed``.

    With probability ``near_duplicates`` the person wears exactly the clothes of one of the
    16 preceding identities but differs in build, hair and bag: a hard negative.
    ``presence`` is the chance that a given camera sees the person (at least one visible and
    one infrared camera always do).
    """
    if pid < 0:
        raise ValueError(f"pid must be >= 0, got {pid}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, pid, 0x1D]))
    clothes = _clothes(rng)
    person = _person(rng)
    cameras = _cameras(rng, presence)
    twin_of = None
    if pid > 0 and rng.random() < near_duplicates:
        twin_of = pid - 1 - int(rng.integers(min(pid, 16)))
        source = make_identity(seed, twin_of, near_duplicates, presence)
        # The other person's clothes (whatever they wear); our own build, hair and a other bag.
        clothes = {name: getattr(source, name) for name in _clothes(rng)}
        if person["bag"] == source.bag:
            person["bag"] = BAGS[(BAGS.index(source.bag) + 1) % len(BAGS)]
    return Identity(pid=pid, cameras=cameras, twin_of=twin_of, **clothes, **person)
