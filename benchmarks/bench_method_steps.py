"""Training-step time of each method at a profile's sizes, and what the profile's run costs.

    python benchmarks/bench_method_steps.py --profile full --methods cmsn cast --steps 3
    python benchmarks/bench_method_steps.py --profile full --device cuda      # on a GPU

Each method's run is built as ``reidkit train`` builds it from the profile
(``config_from_profile``: data, tokenizer, model, objective, sampler), so at ``--profile full``
this is the chapters' ``full`` configuration, checked step by step on whatever machine runs
it. After ``--warmup`` steps, ``--steps`` optimisation steps are timed; the script prints the
seconds per step, images per second, parameters, the loss of the last step, the peak GPU memory
(on CUDA) and an ESTIMATE of the whole run's training time (steps per epoch x epochs x the
measured step; evaluation not included). The profile's data is written to the data cache on
first use (minutes at ``full`` sizes).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

from reidkit.methods import get_method
from reidkit.profiles import get_profile
from reidkit.train.config import config_from_profile, with_overrides
from reidkit.train.run import build_trainer, prepare


def time_steps(method: str, profile_name: str, device: str | None, warmup: int, steps: int) -> dict:
    """Build ``method``'s run in the profile and time ``steps`` training steps after warm-up."""
    with tempfile.TemporaryDirectory() as out:
        config = config_from_profile(get_profile(profile_name), method=method, out_dir=out)
        if device is not None:
            config = with_overrides(config, {"device": device})
        prepared = prepare(config)
        trainer = build_trainer(config, prepared, progress=False)
        trainer.network.train()
        trainer.sampler.set_epoch(1)
        per_epoch = len(trainer.sampler)
        if warmup + steps > per_epoch:
            raise SystemExit(
                f"{method}: {warmup + steps} steps asked, the profile's epoch has {per_epoch}"
            )
        if trainer.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.device)
        batches = iter(trainer.loader)
        images, start = 0, 0.0
        for step in range(warmup + steps):
            if step == warmup:
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize(trainer.device)
                start = time.perf_counter()
            batch = next(batches)
            values = trainer.train_step(batch, (step + 1) / per_epoch)
            images += len(batch) if step >= warmup else 0
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        seconds = (time.perf_counter() - start) / steps
        peak = (
            torch.cuda.max_memory_allocated(trainer.device) / 2**30
            if trainer.device.type == "cuda"
            else None
        )
        return {
            "method": method,
            "img_size": tuple(config.data.img_size),
            "classes": prepared.num_classes,
            "params_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6,
            "s_per_step": seconds,
            "images_per_s": images / (seconds * steps),
            "loss": values["loss"],
            "peak_gib": peak,
            "run_steps": per_epoch * config.epochs,
            "run_minutes": per_epoch * config.epochs * seconds / 60,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--methods", nargs="+", default=["text_baseline", "acsa", "cmsn", "cast"])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    for name in args.methods:
        get_method(name)  # an unknown name fails before any data is written
    print(f"torch {torch.__version__}, python {platform.python_version()}, {args.profile}")
    device = None if args.device == "auto" else args.device
    for name in args.methods:
        row = time_steps(name, args.profile, device, args.warmup, args.steps)
        peak = "" if row["peak_gib"] is None else f", peak {row['peak_gib']:.2f} GiB"
        print(
            f"{row['method']:14s} {row['img_size'][0]}x{row['img_size'][1]}, "
            f"{row['classes']} classes, {row['params_m']:.1f} M params: "
            f"{row['s_per_step']:.2f} s/step, {row['images_per_s']:.1f} images/s, "
            f"loss {row['loss']:.3f}{peak}; the run's {row['run_steps']} steps: "
            f"~{row['run_minutes']:.1f} min (estimate, without evaluation)"
        )


if __name__ == "__main__":
    main()
