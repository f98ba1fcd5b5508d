"""What each profile's training run costs, without a GPU: FLOPs, steps and estimated GPU time.

    python benchmarks/bench_cost.py                          # every profile, T4 and H100
    python benchmarks/bench_cost.py --sustained T4=10 H100=100   # other assumed TFLOP/s

The model FLOPs per training step (forward + backward) are counted by
``torch.utils.flop_counter`` on the meta device (``reidkit.train.cost``); the steps come from
the profile's P x K sampler over the synthetic records. The GPU minutes are ESTIMATES from the
sustained TFLOP/s and per-step overheads printed with them, not measurements: on a GPU, run
``bench_vit.py --device cuda --amp bf16`` and chapter 4 in ``full`` to measure.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from reidkit.profiles import PROFILES
from reidkit.train.cost import (
    GPU_ASSUMPTIONS,
    assumptions_text,
    classifier_cost,
    cost_rows,
    run_cost,
    training_seconds,
)


def parse_sustained(values: list[str]) -> dict:
    """``["T4=10", ...]`` -> GPU_ASSUMPTIONS with those sustained TFLOP/s."""
    gpus = dict(GPU_ASSUMPTIONS)
    for value in values:
        name, _, rate = value.partition("=")
        if name not in gpus or not rate:
            raise SystemExit(f"--sustained {value!r}: expected NAME=TFLOPS, NAME in {list(gpus)}")
        gpus[name] = dataclasses.replace(gpus[name], sustained_tflops=float(rate))
    return gpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sustained", nargs="*", default=[], metavar="GPU=TFLOPS")
    args = parser.parse_args()
    gpus = parse_sustained(args.sustained)
    start = time.perf_counter()
    costs = []
    for profile in PROFILES.values():
        costs.append(run_cost(profile))
        if profile.pretrained == "auto" and profile.scratch_backbone != profile.backbone:
            costs.append(run_cost(profile, profile.scratch_backbone))  # the offline fallback
    rows = cost_rows(costs, gpus)
    print("Chapter 4's training run (the baseline) per profile; nothing here ran on a GPU.\n")
    for row in rows:
        print(f"{row['profile']} / {row['backbone']}")
        for key, value in row.items():
            if key not in ("profile", "backbone"):
                print(f"  {key:<28} {value}")
    for cost in costs:
        print(
            f"{cost.profile}/{cost.backbone}: forward {cost.forward_flops / 1e9:.2f} GFLOP/image, "
            f"{cost.evaluations} evaluations x {cost.eval_images} images, "
            f"{cost.images_rendered} images rendered once"
        )
    print("\nChapter 3's classifier (a plain ViT, images read in the training process):")
    for profile in PROFILES.values():
        run = classifier_cost(profile)
        flops, steps = run["train_flops_per_step"], run["steps"]
        seconds = {
            g.name: training_seconds(steps, flops, g.sustained_tflops, g.step_overhead_s)
            for g in gpus.values()
        }
        minutes = [f"{name} {s / 60:.1f} min" for name, s in seconds.items()]
        print(
            f"  {profile.name}: {profile.vit}, {run['steps']} steps x {run['batch']} images, "
            f"{run['train_flops_per_step'] / 1e12:.3f} TFLOP/step; {', '.join(minutes)}"
        )
    print("\nAssumptions:\n" + assumptions_text(gpus))
    print(f"\n(counted in {time.perf_counter() - start:.1f} s on the CPU)")


if __name__ == "__main__":
    main()
