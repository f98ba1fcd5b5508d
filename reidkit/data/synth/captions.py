"""CUHK-PEDES-style descriptions written from a person's attributes and the image's viewpoint.

A caption mentions only what the person has and what the camera can see: a backpack from the
back or the side, a chest print and glasses from the front (glasses also from the side). In
infrared no colours are named, and no prints or patterns unless the pattern is woven from a
second fabric (the only kind a thermal camera sees). Two captions per image, from several
templates and many synonyms, fixed by ``(seed, pid, cam, index)`` like the image itself.
"""

from __future__ import annotations

import re

import numpy as np

from reidkit.data.synth.attributes import Identity
from reidkit.data.synth.body import Pose

SUBJECTS = ("A person", "The pedestrian", "This person", "Someone", "A walker", "The subject")
UPPER_NAMES = {
    "t-shirt": ("t-shirt", "tee"),
    "tank top": ("tank top", "sleeveless top"),
    "shirt": ("shirt", "long-sleeved shirt", "button-up shirt"),
    "sweater": ("sweater", "jumper", "pullover"),
    "jacket": ("jacket", "zip jacket"),
    "coat": ("coat", "long coat", "overcoat"),
}
LOWER_NAMES = {
    "trousers": ("trousers", "pants", "slacks"),
    "shorts": ("shorts", "short pants"),
    "skirt": ("skirt", "knee-length skirt"),
}
SHOE_NAMES = {
    "sneakers": ("sneakers", "trainers", "running shoes"),
    "boots": ("boots", "ankle boots"),
    "sandals": ("sandals",),
}
BAG_NAMES = {
    "backpack": ("backpack", "rucksack"),
    "shoulder bag": ("shoulder bag", "messenger bag", "crossbody bag"),
    "handbag": ("handbag", "purse", "small handbag"),
}
HAT_NAMES = {"cap": ("cap", "baseball cap"), "beanie": ("beanie", "knitted hat")}
DIRECTIONS = {
    "front": ("walking towards the camera", "facing the camera", "coming forward"),
    "back": ("walking away", "seen from behind", "heading away from the camera"),
    "side": ("walking past", "seen from the side", "crossing the scene"),
}
# Words that may only appear when the person has the matching attribute (tests check them).
BAG_WORDS = {"bag", "backpack", "rucksack", "handbag", "purse"}
HAT_WORDS = {"cap", "beanie", "hat"}
GLASSES_WORDS = {"glasses", "spectacles", "eyeglasses"}


def tokens(text: str) -> list[str]:
    """Lower-case word tokens, as CUHK-PEDES's ``processed_tokens``."""
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())


def _choice(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _garment(
    rng: np.random.Generator,
    colour: str,
    pattern: str,
    second: str,
    name: str,
    view: str,
    in_colour: bool,
) -> str:
    """e.g. 'a red t-shirt with white stripes', 'blue and grey checked trousers'."""
    if not in_colour:
        colour = second = ""
    adj = f"{colour} " if colour else ""
    if pattern == "stripes":
        return f"{adj}{name} with {second + ' ' if second else ''}stripes".strip()
    if pattern == "checks":
        both = f"{colour} and {second} " if colour else ""
        return f"{both}{_choice(rng, ('checked', 'plaid', 'checkered'))} {name}"
    if pattern == "print" and view == "front":
        return f"{adj}{name} with a {second + ' ' if second else ''}print on the front"
    return f"{adj}{name}"


def _article(phrase: str, plural: bool) -> str:
    if plural:
        return phrase
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(person: Identity, pose: Pose, rng: np.random.Generator, in_colour: bool) -> str:
    """One sentence-level description of ``person`` as seen in ``pose``."""
    view = pose.view

    def shown(pattern: str) -> str:  # infrared shows only patterns woven from a second fabric
        woven = pattern in ("stripes", "checks") and person.pattern_fabric_differs
        return pattern if in_colour or woven else "plain"

    upper = _garment(
        rng,
        person.upper_colour,
        shown(person.upper_pattern),
        person.upper_pattern_colour,
        _choice(rng, UPPER_NAMES[person.upper_type]),
        view,
        in_colour,
    )
    lower = _garment(
        rng,
        person.lower_colour,
        shown(person.lower_pattern),
        person.lower_pattern_colour,
        _choice(rng, LOWER_NAMES[person.lower_type]),
        view,
        in_colour,
    )
    lower_plural = person.lower_type != "skirt"
    wear = _choice(rng, ("wears", "is wearing", "is dressed in", "has on"))
    subject = _choice(rng, SUBJECTS)
    build = ""
    if person.height > 0.95 or person.height < 0.86 or person.width > 1.14 or person.width < 0.9:
        words = []
        if person.height > 0.95:
            words.append("tall")
        elif person.height < 0.86:
            words.append(_choice(rng, ("short", "small")))
        if person.width > 1.14:
            words.append(_choice(rng, ("heavy-set", "stocky", "broad")))
        elif person.width < 0.9:
            words.append(_choice(rng, ("slim", "thin", "slender")))
        build = ", ".join(words)
    clothes = f"{_article(upper, False)} and {_article(lower, lower_plural)}"
    direction = _choice(rng, DIRECTIONS[view])
    if build and rng.random() < 0.7:
        subject = f"{_article(build, False).capitalize()} {_choice(rng, ('person', 'pedestrian'))}"
    template = int(rng.integers(3))
    if template == 0:
        first = f"{subject} {wear} {clothes}, {direction}."
    elif template == 1:
        first = f"{subject}, {direction}, {wear} {clothes}."
    else:
        first = f"In {clothes}, {subject[0].lower() + subject[1:]} is {direction}."
    sentences = [first]

    extra = []
    shoe = _choice(rng, SHOE_NAMES[person.shoes])
    extra.append(f"On the feet are {(person.shoe_colour + ' ') if in_colour else ''}{shoe}.")
    if person.hair_length == "bald":
        extra.append(_choice(rng, ("They are bald.", "The head is shaved.")))
    else:
        length = {"short": "short", "medium": "shoulder-length", "long": "long"}[person.hair_length]
        colour = f"{person.hair_colour} " if in_colour else ""
        extra.append(f"They have {length} {colour}hair.")
    if person.hat != "none":
        colour = f"{person.hat_colour} " if in_colour else ""
        name = _article(colour + _choice(rng, HAT_NAMES[person.hat]), False)
        extra.append(f"{_choice(rng, ('On the head is', 'They wear'))} {name}.")
    if person.glasses and view != "back":
        extra.append(_choice(rng, ("They wear glasses.", "They have spectacles on.")))
    if person.bag != "none" and (person.bag != "backpack" or view != "front"):
        colour = f"{person.bag_colour} " if in_colour else ""
        name = _article(colour + _choice(rng, BAG_NAMES[person.bag]), False)
        extra.append(f"They {_choice(rng, ('carry', 'are carrying', 'have'))} {name}.")
    order = rng.permutation(len(extra))
    keep = max(1, int(rng.integers(len(extra) // 2, len(extra) + 1)))
    sentences += [extra[i] for i in order[:keep]]
    return " ".join(sentences)
