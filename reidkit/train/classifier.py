"""Chapter 3's short run: a ViT learns to tell the synthetic identities apart.

Only the ViT of that chapter and a cross-entropy loss on its classifier; the real training
engine (two modalities, BNNeck, triplet loss, evaluation, checkpoints) is ``Trainer``.

Batches come from ``IdentityBalancedSampler`` (``P = profile.ids_per_batch`` identities x
``K = profile.images_per_id`` images). The run's length is its own: ``steps`` optimisation
steps (chapter 3 takes ``profile.classifier_steps``), shown as ``profile.epochs`` equal parts
for the schedule; without ``steps`` an epoch is ``len(identities) // P`` steps, enough batches
to show every identity about once. The sampler's epochs (every image at least once) are used
one after the other, as one stream of batches. ``evaluate_identity_classifier`` measures the
loss and accuracy on images the run did not train on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from reidkit.data.records import Record, read_image
from reidkit.data.samplers import IdentityBalancedSampler
from reidkit.data.transforms import test_transform, train_transform
from reidkit.models.vit import VisionTransformer
from reidkit.profiles import Profile
from reidkit.train.config import OptimConfig
from reidkit.train.schedule import EpochSchedule, build_optimizer


def batch_stream(sampler: IdentityBalancedSampler) -> Iterator[list[int]]:
    """The sampler's batches without end: its current epoch from its position on, then the
    following epochs."""
    while True:
        yield from sampler
        sampler.set_epoch(sampler.epoch + 1)


def train_identity_classifier(
    model: VisionTransformer,
    records: Sequence[Record],
    profile: Profile,
    seed: int = 0,
    callback: Callable[[dict[str, Any]], None] | None = None,
    lr: float = 3e-4,
    erasing: float = 0.0,
    steps: int | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` (its classifier has one output per identity of ``records``) with
    cross-entropy for ``steps`` steps (default: ``profile.epochs`` epochs of
    ``len(identities) // P`` steps); return one record per step.

    AdamW with weight decay 0.05 on weights only (``build_optimizer``); the learning rate
    (``EpochSchedule``) warms up linearly over the first 10% of the run to ``lr``, then follows
    a cosine down to 1% of it. The default 3e-4 is this run's own: the profiles' ``lr`` (1e-3
    on CPU) suits the engine's BNNeck model, while a bare ViT trained from scratch with
    cross-entropy stays at chance with it. ``erasing`` is the random-erasing probability of
    the augmentation; ``seed`` fixes the batches.
    """
    pids = sorted({r.pid for r in records})
    if model.num_classes != len(pids):
        raise ValueError(
            f"the model has {model.num_classes} classes but the records hold {len(pids)} "
            "identities; create it with num_classes=len(identities)"
        )
    sampler = IdentityBalancedSampler(
        records, profile.ids_per_batch, profile.images_per_id, seed=seed
    )
    label = {pid: i for i, pid in enumerate(pids)}
    transform = train_transform(profile.img_size, erasing=erasing)
    device = next(model.parameters()).device
    config = OptimConfig(
        optimizer="adamw", lr=lr, weight_decay=0.05, warmup_epochs=0.1 * profile.epochs
    )
    optimizer = build_optimizer(model, config)
    schedule = EpochSchedule(optimizer, profile.epochs, config)
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be a positive number of optimisation steps, got {steps}")
    if steps is None:
        steps = profile.epochs * (len(pids) // profile.ids_per_batch)
    steps_per_epoch = steps / profile.epochs  # this run's epochs: equal parts of its steps
    stream = batch_stream(sampler)
    history: list[dict[str, Any]] = []
    model.train()
    for step in range(steps):
        batch = next(stream)
        lr_now = schedule.step(step / steps_per_epoch)  # progress in this run's epochs
        images = torch.stack([transform(read_image(records[i].path)) for i in batch])
        labels = torch.tensor([label[records[i].pid] for i in batch])
        logits = model(images.to(device))  # (B, num_identities)
        loss = F.cross_entropy(logits, labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy = (logits.argmax(-1).cpu() == labels).float().mean().item()
        record = {
            "kind": "train",
            "epoch": int(step // steps_per_epoch) + 1,
            "step": step + 1,
            "loss": loss.item(),
            "accuracy": accuracy,
            "lr": lr_now,
        }
        history.append(record)
        if callback is not None:
            callback(record)
    model.eval()
    return history


@torch.no_grad()
def evaluate_identity_classifier(
    model: VisionTransformer,
    records: Sequence[Record],
    classes: Sequence[int],
    img_size: tuple[int, int],
    batch_size: int = 64,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``records`` (e.g. images held out of
    the training run); ``classes`` lists the identities in the order of the model's outputs
    (the sorted identities of the training records)."""
    label = {pid: i for i, pid in enumerate(classes)}
    unknown = sorted({r.pid for r in records} - set(label))
    if unknown:
        raise ValueError(f"records of identities {unknown[:5]} that are not among the classes")
    if not records:
        raise ValueError("no records to evaluate")
    transform = test_transform(img_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        images = torch.stack([transform(read_image(r.path)) for r in chunk])  # (b, 3, H, W)
        labels = torch.tensor([label[r.pid] for r in chunk], device=device)
        logits = model(images.to(device)).float()  # (b, num_classes)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
    model.train(was_training)
    return {"loss": loss_sum / len(records), "accuracy": correct / len(records)}
