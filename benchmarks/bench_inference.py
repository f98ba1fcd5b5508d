"""Parameters and inference time per image of the baseline at each profile's size: the two
columns every ablation table carries (``reidkit ablate``), measured the same way.

Inference is ``forward_embedding`` in eval mode under ``torch.no_grad()`` in float32, on random
images at the profile's size; the figure is the median of ``--repeats`` calls after
``--warmup``, divided by the batch size. CUDA is synchronised around each call. On a shared
CPU the figures move with the machine's load: compare runs made side by side.

    python benchmarks/bench_inference.py                       # every profile, current device
    python benchmarks/bench_inference.py --profiles full --device cuda --batch-sizes 1 64 256
"""

from __future__ import annotations

import argparse

from reidkit.profiles import PROFILES, get_profile
from reidkit.train.config import config_from_profile
from reidkit.train.measure import count_parameters, device_name, embedding_parameters, inference_ms
from reidkit.train.run import build_model
from reidkit.utils import get_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--device", help="default: CUDA when available, else CPU")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=395, help="SYSU-MM01's training ids")
    args = parser.parse_args()
    device = get_device(args.device)
    print(f"device: {device_name(device)}")
    for name in args.profiles:
        config = config_from_profile(get_profile(name))
        model = build_model(config, args.num_classes).to(device)
        size = config.data.img_size
        times = [
            f"b{b} {inference_ms(model, size, b, device, args.warmup, args.repeats):8.3f} ms/img"
            for b in args.batch_sizes
        ]
        print(
            f"{name:>6} {config.options.model.backbone:>16} {size[0]}x{size[1]}  "
            f"params {count_parameters(model) / 1e6:7.2f} M "
            f"(inference {embedding_parameters(model, size, device) / 1e6:7.2f} M)  "
            + "  ".join(times)
        )


if __name__ == "__main__":
    main()
