"""Training-step throughput of reidkit's ViT against timm's, side by side.

Both models have the same configuration and the same weights; each step is forward, cross
entropy on a classifier head, backward and an AdamW update. Steps alternate between the two
models (the order flips every round) so that background load hits both alike; the figures are
medians. Prints images/s, the ratio reidkit / timm, and the model FLOPs utilisation (training
FLOPs counted analytically as 3x the forward's matmuls, checked against
``torch.utils.flop_counter``) when the device's peak is known.

    python benchmarks/bench_vit.py                                  # CPU, ViT-S, 256x128, batch 32
    python benchmarks/bench_vit.py --device cuda --amp bf16 --batch 128
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer as TimmViT

from reidkit.models.vit import VIT_CONFIGS, VisionTransformer, attention_path, create_vit

# Dense bf16 tensor-core peaks (TFLOP/s), for MFU; pass --peak-tflops for other devices.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def forward_flops(model: VisionTransformer, batch: int) -> int:
    """Multiply-adds x 2 of one forward pass: patch embedding, every block, the head."""
    D, N = model.embed_dim, 1 + model.patch_embed.num_patches
    conv = model.patch_embed.proj
    patch_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    hidden = model.blocks[0].mlp.fc1.out_features
    per_block = (
        2 * N * D * 3 * D  # qkv projection
        + 2 * N * N * D  # scores q k^T, all heads together
        + 2 * N * N * D  # weights @ v
        + 2 * N * D * D  # output projection
        + 2 * 2 * N * D * hidden  # fc1 and fc2
    )
    head = 2 * D * model.num_classes
    embed = 2 * model.patch_embed.num_patches * patch_in * D
    return batch * (embed + len(model.blocks) * per_block + head)


def counted_flops(model: VisionTransformer, x: torch.Tensor) -> int:
    """torch's count, on the explicit attention path (the counter misses fused CPU kernels)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        with attention_path(model, fused=False):
            model(x)
    return counter.get_total_flops()


def make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, amp: str | None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16) if amp == "bf16" else None

    def step() -> None:
        with autocast or contextlib.nullcontext():
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_small", choices=sorted(VIT_CONFIGS))
    parser.add_argument("--img-size", type=int, nargs=2, default=(256, 128), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--classes", type=int, default=395)
    parser.add_argument("--rounds", type=int, default=6, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=["none", "bf16"], default="none")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch default)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak, for MFU")
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    amp = None if args.amp == "none" else args.amp
    torch.manual_seed(0)
    config = VIT_CONFIGS[args.model]
    img_size = tuple(args.img_size)
    theirs = TimmViT(
        img_size=img_size,
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        mlp_ratio=config.mlp_ratio,
        num_classes=args.classes,
    )
    ours = create_vit(args.model, img_size=img_size, num_classes=args.classes)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    models = {"reidkit": ours.to(device).train(), "timm": theirs.to(device).train()}
    x = torch.randn(args.batch, 3, *img_size, device=device)
    y = torch.randint(0, args.classes, (args.batch,), device=device)

    flops = forward_flops(ours, args.batch)
    counted = counted_flops(ours, x[:1]) * args.batch
    print(f"device {device} | threads {torch.get_num_threads()} | amp {args.amp}")
    print(
        f"{args.model} at {img_size[0]}x{img_size[1]}, batch {args.batch}, "
        f"{sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M parameters"
    )
    print(f"forward GFLOPs per batch: analytic {flops / 1e9:.2f}, flop_counter {counted / 1e9:.2f}")

    steps = {name: make_step(model, x, y, amp) for name, model in models.items()}
    for _ in range(args.warmup):
        for step in steps.values():
            timed(step, device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timed(steps[name], device))

    peak = args.peak_tflops
    if peak is None and device.type == "cuda" and amp == "bf16":
        gpu = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in gpu), None)
    rates = {}
    for name, values in times.items():
        median = statistics.median(values)
        rates[name] = args.batch / median
        line = f"{name:8s} step {median:.3f} s (min {min(values):.3f})  {rates[name]:8.1f} img/s"
        if peak:
            mfu = 3 * flops / median / (peak * 1e12)  # training = forward + 2x backward
            line += f"  MFU {100 * mfu:.1f}% of {peak:.0f} TFLOP/s"
        print(line)
    print(f"ratio reidkit / timm: {rates['reidkit'] / rates['timm']:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
