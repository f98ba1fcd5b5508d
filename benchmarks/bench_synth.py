"""Synthetic-people rendering speed: images per second on one core (single process).

    python benchmarks/bench_synth.py [--images 600]

Target: >= 300 images/s/core at 256x128, so data generation never starves a CPU training loop.
Each image is rendered from scratch (no cache): label map, scene, colour or thermal look-up,
light, blur, noise. Visible and infrared cameras are mixed as in the dataset (4:2).
"""

from __future__ import annotations

import argparse
import platform
import time

from reidkit.data.synth import SynthSettings, render_array


def images_per_second(height: int, width: int, images: int, seed: int = 0) -> dict[str, float]:
    settings = SynthSettings(seed=seed, height=height, width=width)
    keys = [(pid, cam, index) for pid in range(10_000) for cam in range(1, 7) for index in (0,)]
    keys = keys[:images]
    for pid, cam, index in keys[:12]:  # warm-up: scenes are drawn once per camera and cached
        render_array(settings, pid, cam, index)
    rates = {}
    for name, cams in (("all", range(1, 7)), ("visible", (1, 2, 4, 5)), ("infrared", (3, 6))):
        chosen = [k for k in keys if k[1] in cams]
        start = time.perf_counter()
        for pid, cam, index in chosen:
            render_array(settings, pid, cam, index)
        rates[name] = len(chosen) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.processor() or platform.machine()}")
    for height, width in ((256, 128), (128, 64)):
        rates = images_per_second(height, width, args.images)
        text = ", ".join(f"{name} {rate:.0f}" for name, rate in rates.items())
        print(f"{height}x{width}: images/s/core {text}")


if __name__ == "__main__":
    main()
