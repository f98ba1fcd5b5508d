"""Turn a label map into a visible photograph or an infrared (thermal) image.

Every image is fixed by ``(settings, pid, cam, index)``: its random numbers come from
``SeedSequence([seed, pid, cam, index])`` and are drawn in the same order whatever the person
wears, so changing only colours leaves the infrared image byte-identical. ``synth://``
addresses encode exactly these values; :func:`render_uri` re-renders, keeping recent images in
a cache bounded in bytes (``reidkit.data.synth.cache``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reidkit.data.synth import body
from reidkit.data.synth.attributes import (
    COLOURS,
    FABRIC_HEAT,
    HAIR_COLOURS,
    NIR_REFLECTANCE,
    SKIN_TONES,
    Identity,
    make_identity,
)
from reidkit.data.synth.cache import RENDER_CACHE
from reidkit.data.synth.scenes import column_noise, infrared_scene, visible_scene
from reidkit.data.sysu import CAMERAS, INDOOR_CAMERAS, INFRARED_CAMERAS

SCHEME = "synth"  # read_image hands "synth://..." paths to render_uri (see synth/__init__.py)
URI_PREFIX = f"{SCHEME}://people?"
CLOTHING = np.zeros(body.NUM_LABELS, np.float32)  # labels whose colour is a dye
CLOTHING[[body.UPPER, body.UPPER_PATTERN, body.LOWER, body.LOWER_PATTERN, body.SHOES]] = 1.0
CLOTHING[[body.BAG, body.HAT, body.PRINT, body.UPPER_TEXTURE, body.LOWER_TEXTURE]] = 1.0


@dataclass(frozen=True)
class SynthSettings:
    """The knobs of the generator (see ``reidkit.data.synth`` for what each one does)."""

    seed: int = 0
    height: int = 256
    width: int = 128
    noise: float = 0.015  # sensor noise, std as a fraction of the full range (IR gets 1.5x)
    occlusion: float = 0.05  # probability that an object hides part of the person
    near_duplicates: float = 0.02  # fraction of identities wearing another one's clothes
    blur: float = 1.0  # largest blur radius in pixels at 256 px height (scaled with size)
    jitter: float = 1.0  # scale of position/size jitter (0 = every person centred alike)
    thermal_detail: float = 1.0  # contrast between fabrics in infrared (0 = all clothes alike)
    presence: float = 0.8  # chance that a camera sees a given person
    near_infrared: float = 1.0  # infrared clothing: 0 thermal (fabric heat), 1 near-IR (dyes)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 16:
                raise ValueError(f"image {name} must be an integer >= 16 pixels, got {value!r}")
        for name in (
            "noise",
            "occlusion",
            "near_duplicates",
            "presence",
            "blur",
            "jitter",
            "thermal_detail",
            "near_infrared",
        ):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}") from None
            if name in ("blur", "jitter", "thermal_detail") and not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            if name not in ("blur", "jitter", "thermal_detail") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
            object.__setattr__(self, name, value)  # one spelling per value in the URI

    def identity(self, pid: int) -> Identity:
        return make_identity(self.seed, pid, self.near_duplicates, self.presence)

    def uri(self, pid: int, cam: int, index: int) -> str:
        """The ``synth://`` address of one image."""
        fields = dataclasses.asdict(self)
        query = {"pid": pid, "cam": cam, "index": index, **fields}
        return URI_PREFIX + urlencode({k: _fmt(v) for k, v in query.items()})


def _fmt(value: object) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def parse_uri(uri: str) -> tuple[SynthSettings, int, int, int]:
    """``synth://`` address -> (settings, pid, cam, index); a clear error for a bad address."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME or parts.netloc != "people":
        raise ValueError(f"not a synthetic-people address (expected {URI_PREFIX}...): {uri!r}")
    query = dict(parse_qsl(parts.query, strict_parsing=True))
    fields = {f.name: f.type for f in dataclasses.fields(SynthSettings)}
    unknown = set(query) - set(fields) - {"pid", "cam", "index"}
    missing = {"pid", "cam", "index"} - set(query)
    if unknown or missing:
        raise ValueError(
            f"bad address {uri!r}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        )
    try:
        pid, cam, index = (int(query.pop(k)) for k in ("pid", "cam", "index"))
        kwargs = {k: int(v) if fields[k] == "int" else float(v) for k, v in query.items()}
    except ValueError as error:
        raise ValueError(f"bad address {uri!r}: {error}") from None
    check_image_key(pid, cam, index)
    return SynthSettings(**kwargs), pid, cam, index


# Seed-stream tag of a rig's shared moment (keeps it apart from every camera's own stream).
RIG_STREAM = 0x52494721


def check_image_key(pid: int, cam: int, index: int) -> None:
    if pid < 0 or index < 0 or cam not in CAMERAS:
        raise ValueError(f"expected pid >= 0, cam in 1..6, index >= 0; got {pid}, {cam}, {index}")


def draw_pose(rng: np.random.Generator, jitter: float) -> body.Pose:
    view = body.VIEWS[int(rng.choice(3, p=[0.4, 0.3, 0.3]))]
    return body.Pose(
        view=view,
        facing_left=bool(rng.random() < 0.5),
        phase=float(rng.uniform(0, 2 * math.pi)),
        scale=0.86 + jitter * float(rng.uniform(-0.06, 0.06)),
        dx=jitter * float(rng.uniform(-0.07, 0.07)),
        dy=jitter * float(rng.uniform(-0.03, 0.01)),
    )


def draw_occluder(rng: np.random.Generator, labels: np.ndarray, chance: float) -> None:
    """Maybe hide part of the person behind a pole, a bench or a passer-by (in place)."""
    height, width = labels.shape
    kind, u, v = int(rng.integers(3)), float(rng.random()), float(rng.random())
    if rng.random() >= chance:
        return
    canvas = Image.fromarray(labels)
    draw = ImageDraw.Draw(canvas)
    if kind == 0:  # a pole in front of the person
        x, half = int(width * (0.25 + 0.5 * u)), max(1, int(width * (0.04 + 0.06 * v)))
        draw.rectangle([x - half, 0, x + half, height], fill=body.OCCLUDER)
    elif kind == 1:  # a bench or a bush along the bottom
        draw.rectangle([0, int(height * (0.65 + 0.2 * u)), width, height], fill=body.OCCLUDER)
    else:  # a passer-by's shoulder entering from one side
        x = -width // 2 if u < 0.5 else width // 2
        draw.ellipse([x, int(height * (0.2 + 0.3 * v)), x + width, height * 2], fill=body.OCCLUDER)
    labels[...] = np.asarray(canvas)


def add_fabric_texture(table: np.ndarray, person: Identity, full: float, highlight: float) -> None:
    """Fill the texture labels from their garments' rows (in place), on a 0..``full`` scale:
    leather and silk get a sheen (a highlight even on dark fabric), other fabrics shadows
    (ribs, twill, quilting seams)."""
    for label, garment, fabric in (
        (body.UPPER_TEXTURE, body.UPPER, person.upper_fabric),
        (body.LOWER_TEXTURE, body.LOWER, person.lower_fabric),
    ):
        base = table[garment]
        if fabric in ("leather", "silk"):
            table[label] = np.minimum(full, base * 1.1 + highlight)
        else:
            table[label] = base * (0.6 if fabric == "down" else 0.75)


def colour_table(person: Identity, occluder: np.ndarray) -> np.ndarray:
    """(NUM_LABELS, 3) float32 colour of each label (row 0, background, is unused)."""
    table = np.zeros((body.NUM_LABELS, 3), np.float32)
    table[body.SKIN] = SKIN_TONES[person.skin]
    table[body.HAIR] = HAIR_COLOURS[person.hair_colour]
    table[body.UPPER] = COLOURS[person.upper_colour]
    table[body.UPPER_PATTERN] = COLOURS[person.upper_pattern_colour]
    table[body.PRINT] = COLOURS[person.upper_pattern_colour]
    table[body.LOWER] = COLOURS[person.lower_colour]
    table[body.LOWER_PATTERN] = COLOURS[person.lower_pattern_colour]
    table[body.SHOES] = COLOURS[person.shoe_colour]
    table[body.BAG] = COLOURS[person.bag_colour]
    table[body.HAT] = COLOURS[person.hat_colour]
    table[body.GLASSES] = (20, 20, 25)
    add_fabric_texture(table, person, full=255.0, highlight=60.0)
    table[body.OCCLUDER] = occluder
    return table


def heat_table(person: Identity, occluder: float, detail: float) -> np.ndarray:
    """(NUM_LABELS,) float32 apparent temperature of each label: fabrics, not colours."""

    def fabric(name: str) -> float:  # `detail` scales the contrast between fabrics
        return 0.5 + detail * (FABRIC_HEAT[name] - 0.5)

    upper, lower = fabric(person.upper_fabric), fabric(person.lower_fabric) - 0.03
    woven = 0.14 * detail if person.pattern_fabric_differs else 0.0
    table = np.zeros(body.NUM_LABELS, np.float32)
    table[body.SKIN] = 0.93
    table[body.HAIR] = {"bald": 0.9, "short": 0.66, "medium": 0.56, "long": 0.48}[
        person.hair_length
    ]
    table[body.UPPER] = table[body.PRINT] = upper  # a printed picture has no heat of its own
    table[body.UPPER_PATTERN] = upper - woven if upper > 0.5 else upper + woven
    table[body.LOWER] = lower
    table[body.LOWER_PATTERN] = lower - woven if lower > 0.5 else lower + woven
    table[body.SHOES] = {"sneakers": 0.36, "boots": 0.26, "sandals": 0.72}[person.shoes]
    table[body.BAG] = {"backpack": 0.18, "shoulder bag": 0.24, "handbag": 0.26}.get(person.bag, 0)
    table[body.HAT] = {"cap": 0.47, "beanie": 0.34}.get(person.hat, 0)
    table[body.GLASSES] = 0.12  # glass is opaque to thermal infrared: glasses look cold
    table[body.OCCLUDER] = occluder
    seam = 0.1 * detail  # quilting seams are thin and cold; other textures have no heat
    table[body.UPPER_TEXTURE] = upper - (seam if person.upper_fabric == "down" else 0.0)
    table[body.LOWER_TEXTURE] = lower - (seam if person.lower_fabric == "down" else 0.0)
    return table


def reflectance_table(person: Identity) -> np.ndarray:
    """(NUM_LABELS,) float32 near-infrared reflectance of each clothing label: dyes, not heat."""
    table = np.zeros(body.NUM_LABELS, np.float32)
    for label, dye in (
        (body.UPPER, person.upper_colour),
        (body.UPPER_PATTERN, person.upper_pattern_colour),
        (body.PRINT, person.upper_pattern_colour),
        (body.LOWER, person.lower_colour),
        (body.LOWER_PATTERN, person.lower_pattern_colour),
        (body.SHOES, person.shoe_colour),
        (body.BAG, person.bag_colour),
        (body.HAT, person.hat_colour),
    ):
        table[label] = NIR_REFLECTANCE[dye]
    add_fabric_texture(table, person, full=1.0, highlight=0.24)  # as in colour
    return table


def render_array(
    settings: SynthSettings,
    pid: int,
    cam: int,
    index: int,
    person: Identity | None = None,
    rig: int | None = None,
) -> np.ndarray:
    """Render one image as an (H, W, 3) uint8 array (infrared: three equal channels).

    ``person`` overrides the identity's attributes (e.g. a recoloured copy); pose, scene and
    noise still come from ``(seed, pid, cam, index)``.

    ``rig`` puts the camera on a multi-camera rig that fires all its cameras at once, as
    RegDB's co-located visible and thermal cameras do: the moment (pose, position in the frame,
    occluder) then comes from ``(seed, pid, rig, index)`` and is shared by the rig's cameras,
    while light, blur and sensor noise stay the camera's own.
    """
    check_image_key(pid, cam, index)
    person = person or settings.identity(pid)
    h, w = settings.height, settings.width
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, pid, cam, index]))
    moment = rng
    if rig is not None:
        moment = np.random.default_rng(
            np.random.SeedSequence([settings.seed, pid, RIG_STREAM, rig, index])
        )
    # Draw every random number first, in a fixed order, whatever the person wears.
    pose = draw_pose(moment, settings.jitter)
    offset = int(moment.integers(0, w // 2 + 1))
    labels = body.draw_person(person, pose, h, w)
    draw_occluder(moment, labels, settings.occlusion)
    occluder_rgb, occluder_heat = moment.integers(30, 200, 3), float(moment.uniform(0.15, 0.6))
    gain, bias = float(rng.uniform(0.75, 1.15)), float(rng.uniform(-0.06, 0.06))
    cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    slope = float(rng.uniform(-0.25, 0.25))
    radius = settings.blur * float(rng.random()) * h / 256
    noise = rng.standard_normal((h, w), dtype=np.float32)
    mask = labels > 0

    if cam in INFRARED_CAMERAS:
        scene = infrared_scene(settings.seed, cam, h, w)[:, offset : offset + w]
        scene = scene + column_noise(settings.seed, cam, w)[:, offset : offset + w]
        heat = heat_table(person, occluder_heat, settings.thermal_detail)
        if settings.near_infrared:  # clothes reflect the camera's near-IR light by their dyes
            reflect = reflectance_table(person)
            heat = heat + settings.near_infrared * (reflect - heat) * CLOTHING
        temp = np.where(mask, heat[labels], scene)  # (H, W)
        # Thermal optics are soft: always a little blur, plus the random amount.
        grey = _blur(temp, radius + 0.5 * h / 128)
        grey = (0.6 + 0.4 * gain) * grey + 0.5 * bias + (1.5 * settings.noise) * noise
        out = np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8)
        return np.repeat(out[:, :, None], 3, axis=2)  # (H, W, 3) like real IR files

    scene = visible_scene(settings.seed, cam, h, w)[:, offset : offset + w]
    colours = colour_table(person, occluder_rgb).astype(np.uint8)  # (NUM_LABELS, 3)
    base = np.where(mask[:, :, None], colours[labels], scene)  # (H, W, 3) uint8
    outdoor = cam not in INDOOR_CAMERAS
    light = gain * (1.1 if outdoor else 1.0) + slope * (np.arange(w, dtype=np.float32) / w - 0.5)
    factor = light[:, None] * cast  # (W, 3): light falling across the scene, colour cast
    shift = (bias + settings.noise * noise) * 255.0  # (H, W): exposure offset, sensor noise
    rgb = base * factor[None] + shift[:, :, None]  # (H, W, 3) float32 on the 0..255 scale
    np.rint(rgb, out=rgb)
    out = np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)
    if radius > 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius)))
    return out


def _blur(values: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] float map, through PIL's 8-bit path (integer, portable)."""
    grey = np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)
    if radius > 0.3:
        grey = np.asarray(Image.fromarray(grey).filter(ImageFilter.GaussianBlur(radius)))
    return grey.astype(np.float32) / 255.0


def _render(uri: str) -> np.ndarray:
    settings, pid, cam, index = parse_uri(uri)
    return render_array(settings, pid, cam, index)


def render_uri(uri: str) -> Image.Image:
    """Render (or fetch from the bounded cache) the image a ``synth://`` address names, as RGB."""
    return Image.fromarray(np.array(RENDER_CACHE.get(uri, lambda: _render(uri))))
