"""The record every loader produces, image readers chosen by address, and the one Dataset that
turns records into tensors.

A record names an image by ``path``: a file on disk for the real datasets, or an address such
as ``synth://people?...`` that a registered reader turns into an image (the synthetic
generator, :mod:`reidkit.data.synth`, registers ``synth`` when it is imported, and
``reidkit.data`` imports it), so a training loop streams either kind the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MODALITIES = ("visible", "infrared", "xray", "text")
Reader = Callable[[str], Image.Image]
_READERS: dict[str, Reader] = {}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://")


def modality_index(name: str) -> int:
    """The integer code of a modality (its position in ``MODALITIES``), as batches carry it."""
    if name not in MODALITIES:
        raise ValueError(f"modality {name!r} is not one of {MODALITIES}")
    return MODALITIES.index(name)


@dataclass(frozen=True)
class Record:
    """One image (or image-with-caption) of one identity seen by one camera."""

    path: str  # image file, or an address with a registered scheme (synth://...)
    pid: int  # identity label (relabelled to 0..C-1 in training splits)
    camid: int  # camera number as the dataset numbers it (SYSU-MM01: 1..6)
    modality: str  # one of MODALITIES
    caption: str | None = None  # text-to-image datasets: one caption of this image

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(
                f"record {self.path!r}: modality {self.modality!r} is not one of {MODALITIES}"
            )


def register_reader(scheme: str, reader: Reader) -> None:
    """Let :func:`read_image` open ``scheme://...`` addresses with ``reader(address)``.

    ``scheme`` is lower-case letters, digits, ``+``, ``-`` or ``.``, starting with a letter (as
    in a URI). Registering the same scheme again replaces its reader.
    """
    if not _SCHEME.match(f"{scheme}://"):
        raise ValueError(
            f"scheme {scheme!r} is not a URI scheme (lower-case letter, then letters, digits, "
            "'+', '-' or '.')"
        )
    _READERS[scheme] = reader


def read_image(path: str | Path) -> Image.Image:
    """Open an image file (or an address of a registered scheme) as an RGB PIL image.

    Infrared and X-ray images are returned with three channels, as the real datasets store them.
    """
    text = str(path)
    scheme = _SCHEME.match(text)
    if scheme:
        reader = _READERS.get(scheme.group(1))
        if reader is None:
            raise ValueError(
                f"cannot read image {text!r}: no reader is registered for "
                f"'{scheme.group(1)}://' addresses (registered: {sorted(_READERS)}; "
                "see reidkit.data.records.register_reader)"
            )
        return reader(text)
    try:
        with Image.open(text) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {text}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {text}: {error}") from error
