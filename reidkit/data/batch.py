"""The batch every model and objective sees, and the dataset that produces it.

A :class:`Batch` is a small typed structure: identity labels, modality and camera of each item,
and, depending on the task, images and/or captions (with their token ids once a tokenizer has
run). ``batch.to(device)`` moves every tensor in one call. ``RecordDataset`` turns records into
samples and :class:`Collate` stacks samples into a ``Batch``::

    loader = DataLoader(RecordDataset(records, transform), batch_sampler=sampler,
                        collate_fn=Collate(tokenizer))
    for batch in loader:
        outputs = model(batch.to(device))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from reidkit.data.records import MODALITIES, Record, read_image

TEXT = MODALITIES.index("text")
# captions -> (token ids (B, L), attention mask (B, L)); a text method supplies one
Tokenizer = Callable[[list[str]], tuple[Tensor, Tensor]]


@dataclass
class Batch:
    """One batch of B items; fields a task does not use stay ``None``."""

    labels: Tensor  # (B,) identity labels
    modalities: Tensor  # (B,) indices into reidkit.data.MODALITIES
    cameras: Tensor  # (B,) camera numbers (0 where a dataset has none)
    images: Tensor | None = None  # (B, 3, H, W) normalised images
    captions: list[str] | None = None  # B captions (text-image tasks)
    token_ids: Tensor | None = None  # (B, L) from the method's tokenizer
    attention_mask: Tensor | None = None  # (B, L), 1 for real tokens
    # (B, G, L) 0/1: the tokens of each of G groups per caption (ACSA's phrases), from a
    # tokenizer that has ``token_groups(captions, L)``; rows past a caption's groups are 0
    token_groups: Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""
        moved = {
            f.name: value.to(device, non_blocking=non_blocking)
            if isinstance(value := getattr(self, f.name), Tensor)
            else value
            for f in dataclasses.fields(self)
        }
        return Batch(**moved)


Transform = Callable[[Any], Tensor]


class RecordDataset(Dataset):
    """Records -> samples ``(image or None, pid, camid, modality index, caption or None)``.

    Images are read (or rendered) and passed through ``transform``: one for every image, or a
    mapping from modality name to transform (each record's image gets its modality's). A
    ``text`` record (a caption query) has no image of its own and yields ``None`` in its
    place."""

    def __init__(
        self,
        records: Sequence[Record],
        transform: Transform | Mapping[str, Transform] | None = None,
    ) -> None:
        self.records = list(records)
        self.transform = transform
        if isinstance(transform, Mapping):
            needed = {r.modality for r in self.records} - {"text"}
            missing = sorted(needed - set(transform))
            if missing:
                raise ValueError(
                    f"RecordDataset: no transform for modality {missing[0]!r}; the records "
                    f"have {sorted(needed)}, the transforms cover {sorted(transform)}"
                )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[Tensor | None, int, int, int, str | None]:
        record = self.records[index]
        modality = MODALITIES.index(record.modality)
        image = None
        if modality != TEXT:
            image = read_image(record.path)
            transform = self.transform
            if isinstance(transform, Mapping):
                transform = transform[record.modality]
            image = transform(image) if transform else image
        return image, record.pid, record.camid, modality, record.caption


class Collate:
    """Samples -> :class:`Batch`: images stacked, captions kept and tokenized when the method
    has a ``tokenizer``. A batch mixing items with and without images is an error."""

    def __init__(self, tokenizer: Tokenizer | None = None) -> None:
        self.tokenizer = tokenizer

    def __call__(self, samples: Sequence[tuple]) -> Batch:
        images, pids, cameras, modalities, captions = zip(*samples)
        has_image = [image is not None for image in images]
        if any(has_image) and not all(has_image):
            raise ValueError("a batch mixes records with and without images; keep them apart")
        batch = Batch(
            labels=torch.tensor(pids),
            modalities=torch.tensor(modalities),
            cameras=torch.tensor(cameras),
            images=torch.stack(images) if all(has_image) else None,  # (B, 3, H, W)
        )
        if any(c is not None for c in captions):
            if any(c is None for c in captions):
                raise ValueError("a batch mixes records with and without captions")
            batch.captions = list(captions)
            if self.tokenizer is not None:
                tokenize(batch, self.tokenizer)
        return batch


def tokenize(batch: Batch, tokenizer: Tokenizer) -> Batch:
    """Fill ``batch``'s token ids and mask from its captions, and its token groups when the
    tokenizer makes them (``tokenizer.token_groups(captions, L)``); returns ``batch``."""
    if batch.captions is None:
        raise ValueError("tokenize: the batch has no captions")
    batch.token_ids, batch.attention_mask = tokenizer(batch.captions)
    groups = getattr(tokenizer, "token_groups", None)
    if groups is not None:
        batch.token_groups = groups(batch.captions, batch.token_ids.shape[1])
    return batch


def image_batch(images: Tensor, modalities: Sequence[str] | Tensor | None = None) -> Batch:
    """A batch of bare images (labels and cameras zero), e.g. to try a model on a tensor.

    ``modalities``: names (``["visible", "infrared"]``) or indices; default all visible."""
    n = images.shape[0]
    if modalities is None:
        index = torch.zeros(n, dtype=torch.long)
    elif isinstance(modalities, Tensor):
        index = modalities.long()
    else:
        index = torch.tensor([MODALITIES.index(m) for m in modalities])
    if index.shape != (n,):
        raise ValueError(f"modalities: expected {n} entries, got shape {tuple(index.shape)}")
    zeros = torch.zeros(n, dtype=torch.long)
    return Batch(labels=zeros, modalities=index, cameras=zeros.clone(), images=images)
