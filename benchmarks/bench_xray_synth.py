"""Synthetic-package rendering speed: images per second on one core (single process).

    python benchmarks/bench_xray_synth.py [--images 400] [--sizes 128 256]

Each image is rendered from scratch (identities are cached, as in an export): a visible
photograph (background, painted exterior, light, noise, blur) or an X-ray scan (chords of every
part, attenuation, blur, pseudo-colour, noise). Square images of each size; pass
``OMP_NUM_THREADS=1`` to keep NumPy on one core.
"""

from __future__ import annotations

import argparse
import platform
import time

from reidkit.data.synth import PackageSettings, make_package, photo_array, xray_array


def images_per_second(size: int, images: int, seed: int = 0) -> dict[str, float]:
    """Renders per second of visible and X-ray images of ``images`` distinct packages."""
    settings = PackageSettings(seed=seed, height=size, width=size)
    for pid in range(images):
        make_package(seed, pid)  # identities once, as an export does
    photo_array(settings, 0, 0)  # warm-up: the background scenes are drawn once and cached
    rates = {}
    for name, render in (("visible", photo_array), ("xray", xray_array)):
        start = time.perf_counter()
        for pid in range(images):
            render(settings, pid, 1)
        rates[name] = images / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="images per modality and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.processor() or platform.machine()}")
    for size in args.sizes:
        rates = images_per_second(size, args.images)
        text = ", ".join(f"{name} {rate:.0f}" for name, rate in rates.items())
        print(f"{size}x{size}: images/s/core {text}")


if __name__ == "__main__":
    main()
