"""Chapter 3's short run: a ViT learns to tell the synthetic identities apart.

Only the ViT of this chapter and a cross-entropy loss on its classifier, on visible images;
the real training engine (two modalities, BNNeck, triplet loss, evaluation, checkpoints) is
``reidkit.train``. Sizes come from the profile: one epoch shows every identity once in batches
of ``ids_per_batch`` identities x ``images_per_id`` images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from reidkit.data.records import Record, read_image
from reidkit.data.transforms import train_transform
from reidkit.models.vit import VisionTransformer
from reidkit.profiles import Profile


def identity_batches(
    records: Sequence[Record], ids_per_batch: int, images_per_id: int, generator: torch.Generator
) -> Iterator[list[int]]:
    """One epoch of record indices: every identity once, ``images_per_id`` images each
    (drawn with replacement when an identity has fewer), ``ids_per_batch`` identities a batch."""
    by_pid: dict[int, list[int]] = {}
    for index, record in enumerate(records):
        by_pid.setdefault(record.pid, []).append(index)
    pids = sorted(by_pid)
    order = torch.randperm(len(pids), generator=generator).tolist()
    for start in range(0, len(pids) - ids_per_batch + 1, ids_per_batch):
        batch = []
        for position in order[start : start + ids_per_batch]:
            pool = by_pid[pids[position]]
            picks = torch.randint(len(pool), (images_per_id,), generator=generator).tolist()
            batch.extend(pool[i] for i in picks)
        yield batch


def train_identity_classifier(
    model: VisionTransformer,
    records: Sequence[Record],
    profile: Profile,
    seed: int = 0,
    callback: Callable[[dict[str, Any]], None] | None = None,
    lr: float = 3e-4,
    erasing: float = 0.0,
) -> list[dict[str, Any]]:
    """Train ``model`` (its classifier has one output per identity of ``records``) with
    cross-entropy for ``profile.epochs`` epochs; return one record per step.

    AdamW; the learning rate warms up over the first 10% of the steps to ``lr``, then follows
    a cosine down. The default 3e-4 is this run's own: the profiles' ``lr`` (1e-3 on CPU) suits
    the engine's BNNeck model, while a bare ViT trained from scratch with cross-entropy stays
    at chance with it. ``erasing`` is the random-erasing probability of the augmentation.
    """
    pids = sorted({r.pid for r in records})
    if model.num_classes != len(pids):
        raise ValueError(
            f"the model has {model.num_classes} classes but the records hold {len(pids)} "
            "identities; create it with num_classes=len(identities)"
        )
    if len(pids) < profile.ids_per_batch:
        raise ValueError(f"{len(pids)} identities, fewer than {profile.ids_per_batch=}")
    label = {pid: i for i, pid in enumerate(pids)}
    transform = train_transform(profile.img_size, erasing=erasing)
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    steps_per_epoch = len(pids) // profile.ids_per_batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=profile.epochs * steps_per_epoch, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    model.train()
    for epoch in range(1, profile.epochs + 1):
        for batch in identity_batches(
            records, profile.ids_per_batch, profile.images_per_id, generator
        ):
            images = torch.stack([transform(read_image(records[i].path)) for i in batch])
            labels = torch.tensor([label[records[i].pid] for i in batch])
            logits = model(images.to(device))  # (B, num_identities)
            loss = F.cross_entropy(logits, labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            accuracy = (logits.argmax(-1).cpu() == labels).float().mean().item()
            record = {
                "kind": "train",
                "epoch": epoch,
                "step": len(history) + 1,
                "loss": loss.item(),
                "accuracy": accuracy,
                "lr": schedule.get_last_lr()[0],
            }
            history.append(record)
            if callback is not None:
                callback(record)
    model.eval()
    return history
