"""Two untrained text-to-image baselines, and the chance level they are measured against.

Chapter 12 asks how far a trained image-text model is from doing nothing clever:

* **chance**: the expected metrics of a uniformly random ranking, in closed form
  (:func:`chance_metrics`), and **random**: random features that realise it
  (:func:`random_extractor`);
* **bag of attributes**: the caption's garment colours against the colours measured in the
  image's pixels (:func:`bag_of_attributes_extractor`). Nothing is learned: a caption becomes
  a (region x colour) indicator vector ("red" on the upper body, "blue" on the lower body),
  an image becomes, per region, the fraction of its pixels that look like each named colour,
  and their dot product counts how much of the description the image bears out.

Both baselines are ``extract(records) -> (N, D)`` functions, so :func:`evaluate_protocol` runs
them unchanged (:func:`text_raw_baselines` does all three on a dataset).

The image side reads pixels only, never the generator's attributes. The regions are two fixed
horizontal bands of a central strip (``UPPER_BAND``, ``LOWER_BAND``, ``CENTRE_STRIP``), chosen
where the synthetic people's upper and lower garments are most often found (rows 36-55 % and
60-72 % of the height, the middle 30 % of the width); the colours are those of the generator's
palette (``reidkit.data.synth.attributes.COLOURS``), which is also the caption vocabulary.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np
import torch
from PIL import Image

from reidkit.data.records import Record, read_image
from reidkit.data.splits import Benchmark
from reidkit.data.synth.attributes import COLOURS
from reidkit.data.synth.captions import LOWER_NAMES, UPPER_NAMES, tokens
from reidkit.eval.protocols import Extract, evaluate_protocol

PALETTE: tuple[str, ...] = tuple(COLOURS)  # the colour names, in a fixed order
PALETTE_RGB = torch.tensor([COLOURS[name] for name in PALETTE], dtype=torch.float32) / 255  # (C, 3)
REGIONS = ("upper", "lower")
UPPER_BAND = (0.36, 0.55)  # rows, as fractions of the image height
LOWER_BAND = (0.60, 0.72)
CENTRE_STRIP = (0.35, 0.65)  # columns, as fractions of the width
# A garment is named by its last word ("zip jacket" -> jacket, "short pants" -> pants).
UPPER_WORDS = frozenset(tokens(name)[-1] for names in UPPER_NAMES.values() for name in names)
LOWER_WORDS = frozenset(tokens(name)[-1] for names in LOWER_NAMES.values() for name in names)
PATTERN_WORDS = frozenset({"stripes", "print"})  # "with white stripes": a second colour


def garment_colours(caption: str) -> dict[str, tuple[str, ...]]:
    """The colour words of the upper and the lower garment, main colour first.

    Colour words attach to the next garment word ("a red t-shirt", "blue and grey checked
    trousers"), except a colour right before "stripes" or "print", which belongs to the garment
    just named ("a red t-shirt with white stripes"). Only the first upper and the first lower
    garment count; colours of shoes, hair, bags and hats, never followed by a garment word,
    are ignored.

    >>> garment_colours("A person wears a red tee with white stripes and blue pants.")
    {'upper': ('red', 'white'), 'lower': ('blue',)}
    """
    found: dict[str, list[str]] = {region: [] for region in REGIONS}
    pending: list[str] = []
    last: str | None = None  # the garment named most recently
    words = tokens(caption)
    for i, word in enumerate(words):
        if word in COLOURS:
            following = words[i + 1] if i + 1 < len(words) else ""
            if following in PATTERN_WORDS and last is not None:
                found[last].append(word)
            else:
                pending.append(word)
        elif word in UPPER_WORDS or word in LOWER_WORDS:
            region = "upper" if word in UPPER_WORDS else "lower"
            if not found[region]:
                found[region], last = pending, region
            pending = []
    return {region: tuple(dict.fromkeys(colours)) for region, colours in found.items()}


def caption_attributes(captions: Sequence[str]) -> torch.Tensor:
    """(N,) captions -> (N, 2, C): 1 where the caption names colour c for region r, else 0."""
    out = torch.zeros(len(captions), len(REGIONS), len(PALETTE))  # (N, 2, C)
    for row, caption in enumerate(captions):
        for r, region in enumerate(REGIONS):
            for name in garment_colours(caption)[region]:
                out[row, r, PALETTE.index(name)] = 1.0
    return out


def _band(images: torch.Tensor, rows: tuple[float, float]) -> torch.Tensor:
    """The pixels of one band of the central strip: (B, 3, H, W) -> (B, P, 3)."""
    height, width = images.shape[-2:]
    r0, r1 = round(rows[0] * height), max(round(rows[1] * height), round(rows[0] * height) + 1)
    c0 = round(CENTRE_STRIP[0] * width)
    c1 = max(round(CENTRE_STRIP[1] * width), c0 + 1)
    return images[:, :, r0:r1, c0:c1].flatten(2).transpose(1, 2)  # (B, P, 3)


def image_attributes(images: torch.Tensor, sigma: float = 0.1) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 2, C): per region, the soft share of each colour.

    Every pixel x of a region votes for the palette colours with the weights

        w_c(x) = exp(-|x - rgb_c|^2 / (2 sigma^2)) / sum_c' exp(-|x - rgb_c'|^2 / (2 sigma^2))

    and a region's vector is the mean vote of its pixels (it sums to 1). A small ``sigma`` is
    a hard nearest-colour count; the soft votes keep near-equal images from tying exactly.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    palette = PALETTE_RGB.to(images.device)
    regions = []
    for rows in (UPPER_BAND, LOWER_BAND):
        pixels = _band(images.float(), rows)  # (B, P, 3)
        squared = (pixels.unsqueeze(2) - palette).pow(2).sum(-1)  # (B, P, C)
        regions.append(torch.softmax(-squared / (2 * sigma**2), dim=-1).mean(1))  # (B, C)
    return torch.stack(regions, dim=1)  # (B, 2, C)


def bag_of_attributes_extractor(
    sigma: float = 0.1, img_size: tuple[int, int] = (128, 64), batch_size: int = 256
) -> Extract:
    """``records -> (N, 2C + 1)``: caption records by :func:`caption_attributes`, images by
    :func:`image_attributes` (after resizing to ``img_size`` (H, W)), so that a caption-image
    dot product is ``sum_r sum_{c named for r} share of c in region r``.

    Evaluation ranks by cosine, which would also divide by the image vector's norm; the extra
    last coordinate, ``sqrt(2 - |v|^2)`` for images and 0 for captions, gives every image
    vector the norm sqrt(2) without changing any caption-image dot product, so the cosine
    ranking is the dot-product ranking.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    height, width = img_size

    def read(record: Record) -> torch.Tensor:
        image = read_image(record.path).resize((width, height), Image.BILINEAR)
        return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255  # (3, H, W)

    def extract(records: Sequence[Record]) -> torch.Tensor:
        dim = len(REGIONS) * len(PALETTE)
        out = torch.zeros(len(records), dim + 1)  # (N, 2C + 1)
        texts = [i for i, r in enumerate(records) if r.modality == "text"]
        if texts:
            captions = [records[i].caption or "" for i in texts]
            out[texts, :dim] = caption_attributes(captions).flatten(1)
        images = [i for i, r in enumerate(records) if r.modality != "text"]
        for start in range(0, len(images), batch_size):
            rows = images[start : start + batch_size]
            batch = torch.stack([read(records[i]) for i in rows])  # (B, 3, H, W)
            shares = image_attributes(batch, sigma).flatten(1)  # (B, 2C)
            out[rows, :dim] = shares
            out[rows, dim] = (len(REGIONS) - shares.pow(2).sum(1)).clamp_min(0).sqrt()
        return out

    return extract


def _record_seed(seed: int, record: Record) -> int:
    """A seed from the record's modality, caption and file name with its folder: not the whole
    path, so the features do not depend on where the dataset lies on the machine."""
    where = "/".join(PurePath(record.path).parts[-2:])
    return zlib.crc32(f"{seed}|{record.modality}|{where}|{record.caption}".encode())


def random_extractor(dim: int = 64, seed: int = 0) -> Extract:
    """``records -> (N, dim)`` Gaussian features, a fixed function of ``(seed, record)``.

    Isotropic features rank every gallery in a uniformly random order (no direction is
    preferred, ties have probability 0), so the metrics are chance level: see
    :func:`chance_metrics` for their expected values.
    """
    if dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")

    def extract(records: Sequence[Record]) -> torch.Tensor:
        rows = [torch.empty(0, dim)]
        for record in records:
            generator = torch.Generator().manual_seed(_record_seed(seed, record))
            rows.append(torch.randn(1, dim, generator=generator))
        return torch.cat(rows)

    return extract


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def chance_query(matches: int, gallery: int, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Expected metrics of ONE query with ``matches`` true matches among ``gallery`` items,
    ranked in a uniformly random order (m = matches, G = gallery, H_G = 1 + 1/2 + ... + 1/G)::

        R_k  = 1 - C(G - m, k) / C(G, k)            (a match among the first k)
        AP   = (H_G + (m - 1) / (G - 1) (G - H_G)) / G
        INP  = sum_{l=m..G} (m / l) C(l - 1, m - 1) / C(G, m)    (l: rank of the last match)

    AP: a match at rank k brings precision (1 + #other matches above it) / k, and the other
    m - 1 matches fill each of the k - 1 places above it with probability (m - 1) / (G - 1).
    """
    m, g = matches, gallery
    if not 1 <= m <= g:
        raise ValueError(f"need 1 <= matches <= gallery, got {matches} and {gallery}")
    out = {}
    for k in ks:
        miss = math.exp(_log_comb(g - m, k) - _log_comb(g, k)) if k <= g - m else 0.0
        out[f"R{k}"] = 1.0 - miss
    harmonic = sum(1.0 / k for k in range(1, g + 1))
    spread = (m - 1) / (g - 1) * (g - harmonic) if g > 1 else 0.0
    out["mAP"] = (harmonic + spread) / g
    log_total = _log_comb(g, m)
    out["mINP"] = sum(
        m / l * math.exp(_log_comb(l - 1, m - 1) - log_total) for l in range(m, g + 1)
    )
    return out


def chance_metrics(
    queries: Sequence[Record], gallery: Sequence[Record], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """:func:`chance_query` averaged over the queries that have a match in the gallery (the
    others are left out, as the metrics leave them out). R1 is the mean share of the gallery
    that matches: ``mean_q #matches(q) / #gallery``."""
    per_id = Counter(r.pid for r in gallery)
    counts = Counter(per_id[q.pid] for q in queries if per_id[q.pid] > 0)  # matches -> queries
    if not counts:
        raise ValueError("no query has a match in the gallery")
    total = sum(counts.values())
    keys = [f"R{k}" for k in ks] + ["mAP", "mINP"]
    out = dict.fromkeys(keys, 0.0)
    for matches, number in counts.items():
        expected = chance_query(matches, len(gallery), ks)
        for key in keys:
            out[key] += number * expected[key] / total
    return out


def text_raw_baselines(dataset: Benchmark, split: str = "test", seed: int = 0) -> dict[str, dict]:
    """Chance, random features and bag of attributes on a text dataset's ``t2i`` protocol.

    Returns ``{"chance": expected metrics, "random": result, "bag_of_attributes": result}``;
    the results are :func:`evaluate_protocol`'s (``R1``, ``R5``, ``R10``, ``mAP``, ``mINP``...).
    """
    if dataset.task != "text-image":
        raise ValueError(f"{type(dataset).__name__} is not a text-to-image dataset")
    queries = dataset.query("t2i", split=split)
    gallery = dataset.gallery("t2i", split=split)
    return {
        "chance": chance_metrics(queries, gallery),
        "random": evaluate_protocol(random_extractor(seed=seed), dataset, "t2i", split=split),
        "bag_of_attributes": evaluate_protocol(
            bag_of_attributes_extractor(), dataset, "t2i", split=split
        ),
    }
