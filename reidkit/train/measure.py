"""Measurements of a trained model that every ablation table reports: parameters (all, and
those the retrieval embedding uses) and inference milliseconds per image."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from reidkit.data.batch import image_batch
from reidkit.data.records import Record
from reidkit.utils import cpu_model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def image_modalities(records: Sequence[Record]) -> tuple[str, ...]:
    """The image modalities of ``records`` in order of first appearance (captions left out):
    what a model trained on them embeds, e.g. ``("visible", "xray")``."""
    return tuple(dict.fromkeys(r.modality for r in records if r.modality != "text"))


def embedding_parameters(
    model: nn.Module,
    img_size: tuple[int, int],
    device: torch.device,
    modalities: Sequence[str] = ("visible", "infrared"),
) -> int:
    """Parameters that ``forward_embedding`` uses (they get a gradient from it) on one image of
    each of ``modalities``: the model without its training-only parts, such as the identity
    classifier. A part only one modality's images use (an X-ray branch's) counts when that
    modality is among them."""
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    model.requires_grad_(True)
    model.zero_grad(set_to_none=True)
    images = torch.rand(len(modalities), 3, *img_size)  # (M, 3, H, W): one per modality
    with torch.enable_grad():
        model.forward_embedding(image_batch(images, list(modalities)).to(device)).sum().backward()
    used = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    for p, flag in zip(model.parameters(), flags):
        p.requires_grad_(flag)
    model.train(was_training)
    return used


@torch.no_grad()
def inference_ms(
    model: nn.Module,
    img_size: tuple[int, int],
    batch_size: int,
    device: torch.device,
    warmup: int = 2,
    repeats: int = 5,
) -> float:
    """Milliseconds per image of ``forward_embedding`` on random images (median of
    ``repeats`` calls after ``warmup``), in eval mode, synchronising CUDA around each call."""
    was_training = model.training
    model.eval()
    images = torch.rand(batch_size, 3, *img_size, generator=torch.Generator().manual_seed(0))
    batch = image_batch(images).to(device)  # (B, 3, H, W) visible images
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + repeats):
        sync()
        start = time.perf_counter()
        model.forward_embedding(batch)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    model.train(was_training)
    return 1000.0 * statistics.median(times) / batch_size


def device_name(device: torch.device) -> str:
    """``"cuda (NVIDIA T4)"`` or ``"cpu (AMD EPYC, 1 thread)"``: what ran a measurement."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"{device.type} ({cpu_model()}, {threads} thread{'s' if threads > 1 else ''})"


def profile_train_steps(trainer, steps: int = 3, warmup: int = 1):
    """``torch.profiler`` over ``steps`` training steps of ``trainer`` (after ``warmup`` steps
    that are not recorded): its ``key_averages()``, one entry per operator, with CPU time and,
    on CUDA, the GPU time. Loading the batches counts too, as in training."""
    # Kineto, the profiler's tracer, otherwise prints start/stop lines and, without a GPU, a
    # "gpuGetDeviceCount failed" ERROR into the notebook; it reads this on its first use.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if trainer.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    trainer.network.train()
    batches = iter(trainer.loader)
    for _ in range(warmup):
        trainer.train_step(next(batches), trainer.epoch)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            trainer.train_step(next(batches), trainer.epoch)
        sync()
    return prof.key_averages()
