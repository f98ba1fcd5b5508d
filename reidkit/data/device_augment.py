"""The batched data path: decode each image once, augment whole batches on the device.

On a GPU with two CPU cores (Colab), reading, resizing and augmenting every image in PIL for
every epoch starves the GPU. This path does the CPU work once:

1. :func:`build_image_cache` reads (or renders) every training image once, resized to the
   training size, into one uint8 tensor (N, 3, H, W) (a 128x64 image is 24 KiB);
2. :class:`CachedRecordDataset` serves rows of that tensor, so a batch is an index;
3. :class:`BatchAugment` runs the named augmentations of ``reidkit.data.augment`` on the batch
   on the training device, each image with its own draws (its own flip, crop offset,
   TrivialAugment op and strength, ...), each modality with its own list, then normalises.

The augmentations are the same as the PIL pipeline's (``reidkit.data.transforms``), drawn in a
different order, so the two paths give different (equally distributed) random images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from torchvision import transforms as T

from reidkit.data.augment import ChannelPermute, ChannelSelect, GreyErasing, check_names
from reidkit.data.batch import TEXT, Batch, RecordDataset
from reidkit.data.records import MODALITIES, Record, read_image
from reidkit.data.transforms import MEAN, STD, _check_size

LUMA = (0.299, 0.587, 0.114)  # sums to exactly 1: a grey pixel keeps its value


class _ResizedImages(RecordDataset):
    """Image records -> resized uint8 (3, H, W) tensors (the cache's rows)."""

    def __init__(self, records: Sequence[Record], img_size: tuple[int, int]) -> None:
        super().__init__(records)
        self.resize = T.Resize(_check_size(img_size))
        self.to_tensor = T.PILToTensor()

    def __getitem__(self, index: int) -> Tensor:  # type: ignore[override]
        return self.to_tensor(self.resize(read_image(self.records[index].path)))


def build_image_cache(
    records: Sequence[Record], img_size: tuple[int, int], num_workers: int = 0
) -> Tensor:
    """Every image record read once, resized to ``img_size``: uint8 (N, 3, H, W), in the
    records' order (a ``text`` record, which has no image, gets a row of zeros)."""
    height, width = _check_size(img_size)
    cache = torch.zeros(len(records), 3, height, width, dtype=torch.uint8)
    rows = [i for i, r in enumerate(records) if r.modality != "text"]
    images = _ResizedImages([records[i] for i in rows], (height, width))
    loader = DataLoader(images, batch_size=64, num_workers=num_workers)
    start = 0
    for chunk in loader:  # (b, 3, H, W)
        cache[rows[start : start + len(chunk)]] = chunk
        start += len(chunk)
    return cache


class CachedRecordDataset(RecordDataset):
    """As :class:`RecordDataset`, with each image a row of ``cache`` (uint8 (N, 3, H, W), from
    :func:`build_image_cache` on the same records) instead of a file read and a transform."""

    def __init__(self, records: Sequence[Record], cache: Tensor) -> None:
        super().__init__(records)
        if cache.dtype != torch.uint8 or cache.dim() != 4 or cache.shape[:2] != (len(records), 3):
            raise ValueError(
                f"cache: expected uint8 ({len(records)}, 3, H, W), got {cache.dtype} "
                f"{tuple(cache.shape)}"
            )
        self.cache = cache

    def __getitem__(self, index: int) -> tuple[Tensor | None, int, int, int, str | None]:
        record = self.records[index]
        modality = MODALITIES.index(record.modality)
        image = None if modality == TEXT else self.cache[index]
        return image, record.pid, record.camid, modality, record.caption


def _flip(images: Tensor, p: float) -> Tensor:
    mirror = (torch.rand(len(images)) < p).to(images.device).view(-1, 1, 1, 1)
    return torch.where(mirror, images.flip(-1), images)


def _pad_crop(images: Tensor, pad: int) -> Tensor:
    """Zero-pad by ``pad`` and crop back at a random offset per image."""
    top = torch.randint(0, 2 * pad + 1, (len(images),))
    left = torch.randint(0, 2 * pad + 1, (len(images),))
    return shifted_crop(images, pad, top, left)


def shifted_crop(images: Tensor, pad: int, top: Tensor, left: Tensor) -> Tensor:
    """(B, C, H, W) images zero-padded by ``pad`` on every side, then image b cropped back to
    (H, W) from row ``top[b]`` and column ``left[b]`` of the padded image (0..2 pad)."""
    n, _, height, width = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))  # (B, C, H + 2 pad, W + 2 pad)
    top, left = top.to(images.device), left.to(images.device)
    rows = top[:, None] + torch.arange(height, device=images.device)  # (B, H)
    cols = left[:, None] + torch.arange(width, device=images.device)  # (B, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return cropped.permute(0, 3, 1, 2)  # (B, C, H, W)


def _grayscale(images: Tensor, p: float) -> Tensor:
    grey = (images * images.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)  # (B, 1, H, W)
    turn = (torch.rand(len(images)) < p).to(images.device).view(-1, 1, 1, 1)
    return torch.where(turn, grey.expand_as(images), images)


def _each(transform, images: Tensor) -> Tensor:
    """``transform`` applied to each image on its own (its own random draws)."""
    return torch.stack([transform(image) for image in images])


class BatchAugment:
    """uint8 images (B, 3, H, W) and their modality indices (B,) -> normalised float images,
    each modality through its own named augmentations (``reidkit.data.augment``), on the
    images' device. Probabilities as in ``reidkit.data.transforms.train_transform``."""

    def __init__(
        self,
        augmentations: Mapping[str, Sequence[str]],
        img_size: tuple[int, int],
        flip: float = 0.5,
        pad: int | None = None,
        erasing: float = 0.5,
        grayscale: float = 0.0,
        channel: float = 0.5,
    ) -> None:
        self.augmentations = {m: frozenset(check_names(n, m)) for m, n in augmentations.items()}
        height, _ = _check_size(img_size)
        self.pad = max(1, round(10 * height / 256)) if pad is None else pad
        self.flip, self.erasing, self.grayscale = flip, erasing, grayscale
        self.trivial_augment = T.TrivialAugmentWide()
        self.channel_select, self.channel_permute = ChannelSelect(channel), ChannelPermute(channel)
        self.grey_erasing = GreyErasing(erasing)
        self.random_erasing = T.RandomErasing(p=erasing, value="random")

    def augment(self, images: Tensor, use: AbstractSet[str]) -> Tensor:
        """uint8 (B, 3, H, W) -> normalised float (B, 3, H, W) through the names in ``use``."""
        if "flip" in use:
            images = _flip(images, self.flip)
        if "crop" in use and self.pad > 0:
            images = _pad_crop(images, self.pad)
        if "trivial_augment" in use:  # one op and strength per image
            images = _each(self.trivial_augment, images)
        x = images.float() / 255  # (B, 3, H, W) in [0, 1]
        if "grayscale" in use and self.grayscale > 0:
            x = _grayscale(x, self.grayscale)
        if "channel_select" in use:
            x = self.channel_select(x)
        if "channel_permute" in use:
            x = self.channel_permute(x)
        if "grey_erasing" in use:
            x = _each(self.grey_erasing, x)
        std = x.new_tensor(STD).view(1, 3, 1, 1)
        x = torch.addcmul(-x.new_tensor(MEAN).view(1, 3, 1, 1) / std, x, 1 / std)  # (x - m) / s
        if "erasing" in use and self.erasing > 0:
            x = _each(self.random_erasing, x)
        return x

    def __call__(self, images: Tensor, modalities: Tensor) -> Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"BatchAugment: expected uint8 images (B, 3, H, W), got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        names = [MODALITIES[i] for i in modalities.unique().tolist()]
        missing = [n for n in names if n not in self.augmentations]
        if missing:
            raise ValueError(f"BatchAugment: no augmentations for modality {missing[0]!r}")
        groups: dict[frozenset[str], list[int]] = {}  # modalities with the same list: one pass
        for name in names:
            groups.setdefault(frozenset(self.augmentations[name]), []).append(
                MODALITIES.index(name)
            )
        if len(groups) == 1:
            return self.augment(images, next(iter(groups)))
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        for use, indices in groups.items():
            chosen = torch.isin(modalities, torch.tensor(indices, device=modalities.device))
            rows = chosen.nonzero().flatten().to(images.device)
            out[rows] = self.augment(images[rows], use)
        return out

    def batch(self, batch: Batch) -> Batch:
        """``batch`` with its uint8 images augmented (a copy; other fields shared)."""
        if batch.images is None:
            return batch
        augmented = Batch(**{**batch.__dict__})
        augmented.images = self(batch.images, batch.modalities.to(batch.images.device))
        return augmented
