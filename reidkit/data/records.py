"""The record every loader produces, and the one Dataset that turns records into tensors.

A record names an image by ``path``: a file on disk for the real datasets, or a
``synth://...`` address that the synthetic generator renders on demand (and caches), so a
training loop streams either kind the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

MODALITIES = ("visible", "infrared", "xray", "text")
SYNTH_SCHEME = "synth://"


@dataclass(frozen=True)
class Record:
    """One image (or image-with-caption) of one identity seen by one camera."""

    path: str  # image file, or a synth:// address
    pid: int  # identity label (relabelled to 0..C-1 in training splits)
    camid: int  # camera number as the dataset numbers it (SYSU-MM01: 1..6)
    modality: str  # one of MODALITIES
    caption: str | None = None  # text-to-image datasets: one caption of this image

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(
                f"record {self.path!r}: modality {self.modality!r} is not one of {MODALITIES}"
            )


def read_image(path: str | Path) -> Image.Image:
    """Open an image file (or render a ``synth://`` address) as an RGB PIL image.

    Infrared and X-ray images are returned with three channels, as the real datasets store them.
    """
    text = str(path)
    if text.startswith(SYNTH_SCHEME):
        from reidkit.data.synth import render_uri

        return render_uri(text)
    try:
        with Image.open(text) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {text}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {text}: {error}") from error


class ImageDataset(Dataset):
    """Records -> ``(image, pid, camid, modality_index)``; ``transform`` maps PIL -> tensor."""

    def __init__(
        self,
        records: Sequence[Record],
        transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[Any, int, int, int]:
        record = self.records[index]
        image = read_image(record.path)
        data = self.transform(image) if self.transform else np.asarray(image)
        return data, record.pid, record.camid, MODALITIES.index(record.modality)
