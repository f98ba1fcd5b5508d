"""Training-data throughput: the PIL path against the uint8 cache + batched augmentation.

    python benchmarks/bench_data.py [--profile quick] [--images 1024] [--device cuda]

Images per second delivered as normalised, augmented training batches (64 images), for the
baseline's augmentations and with TrivialAugment added:

* ``pil``: every image read (rendered) and augmented in PIL by the loader, as on a CPU;
* ``cached``: every image read once into a uint8 (N, 3, H, W) tensor (its cost printed
  apart), batches indexed from it, moved to ``--device`` and augmented there
  (``reidkit.data.device_augment``), one draw per image.

The images are the synthetic SYSU-MM01 layout at the profile's size.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch.utils.data import DataLoader

from reidkit.data.batch import Collate, RecordDataset
from reidkit.data.device_augment import BatchAugment, CachedRecordDataset, build_image_cache
from reidkit.profiles import get_profile
from reidkit.train.config import config_from_profile
from reidkit.train.datasets import open_dataset, train_transforms

BATCH = 64
PIPELINES = {
    "baseline": ["flip", "crop", "grayscale", "erasing"],
    "baseline + trivial_augment": ["flip", "crop", "trivial_augment", "grayscale", "erasing"],
}


def _rate(epoch, images: int, device: torch.device) -> float:
    """Images per second over epochs of ``epoch()`` (an iterable of batches) until ``images``."""
    start, seen = time.perf_counter(), 0
    while seen < images:
        for batch in epoch():
            seen += len(batch)
            if seen >= images:
                break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - start)


def pil_rate(records, data, names, images: int, workers: int) -> float:
    data.augment.visible = data.augment.infrared = list(names)
    dataset = RecordDataset(records, train_transforms(data))
    loader = DataLoader(
        dataset, batch_size=BATCH, shuffle=True, num_workers=workers, collate_fn=Collate()
    )
    return _rate(lambda: loader, images, torch.device("cpu"))


def cached_rate(records, cache, data, names, images: int, device: torch.device) -> float:
    augment = BatchAugment(
        {"visible": names, "infrared": names}, data.img_size, grayscale=data.grayscale
    )
    loader = DataLoader(
        CachedRecordDataset(records, cache), batch_size=BATCH, shuffle=True, collate_fn=Collate()
    )

    def batches():
        for batch in loader:
            yield augment.batch(batch.to(device, non_blocking=True))

    next(batches())  # warm-up (CUDA kernels, allocator)
    return _rate(batches, images, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="smoke | quick | full (image size)")
    parser.add_argument("--images", type=int, default=1024, help="images per measurement")
    parser.add_argument("--device", default="cpu", help="where the batched path augments")
    parser.add_argument("--workers", type=int, default=0, help="PIL path loader processes")
    args = parser.parse_args()
    device = torch.device(args.device)
    data = config_from_profile(get_profile(args.profile)).data
    records = open_dataset(data).train
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(f"profile {args.profile}: {len(records)} training images at {data.img_size}")
    start = time.perf_counter()
    cache = build_image_cache(records, data.img_size, args.workers)
    seconds = time.perf_counter() - start
    print(
        f"cache: {len(records) / seconds:.0f} images/s to build once ({seconds:.1f} s, "
        f"{cache.numel() / 2**20:.0f} MiB uint8)"
    )
    images = args.images
    for name, names in PIPELINES.items():
        pil = pil_rate(records, data, names, images, args.workers)
        cached = cached_rate(records, cache, data, names, images, device)
        print(
            f"{name:28s} pil {pil:7.0f} images/s | cached + batched on {device.type} "
            f"{cached:7.0f} images/s | x{cached / pil:.1f}"
        )


if __name__ == "__main__":
    main()
