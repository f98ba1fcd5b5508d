"""Evaluator speed and memory: prints figures, asserts nothing about time.

    python benchmarks/bench_eval.py              # both problems
    python benchmarks/bench_eval.py --skip-large # only the SYSU-size comparison

1. The SYSU-MM01 size: 3,803 infrared queries x 301 gallery images x 10 trials, the per-query
   reference (``reidkit.eval.reference``) against the vectorised ``rank_metrics``, checking
   that both give the same numbers.
2. A 10,000 x 100,000 problem ranked from features chunk by chunk (the 4 GB distance matrix
   never exists): wall time and the peak resident memory it adds, measured in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def sysu_problem(rng: np.random.Generator, num_q: int = 3803, num_g: int = 301, ids: int = 96):
    g_pids = np.concatenate([np.arange(ids), rng.integers(0, ids, num_g - ids)])  # every id once
    g_cams = rng.choice([1, 2, 4, 5], num_g)
    q_pids = rng.integers(0, ids, num_q)
    q_cams = rng.choice([3, 6], num_q)
    dist = rng.random((num_q, num_g)).astype(np.float32)
    return dist, q_pids, g_pids, q_cams, g_cams


def bench_sysu(trials: int, device: str) -> None:
    from reidkit.eval import rank_metrics, reference_rank_metrics

    rng = np.random.default_rng(0)
    problems = [sysu_problem(rng) for _ in range(trials)]
    rank_metrics(*problems[0], "sysu", device=device)  # warm-up
    start = time.perf_counter()
    fast = [rank_metrics(*p, "sysu", device=device) for p in problems]
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    slow = [reference_rank_metrics(*p, "sysu") for p in problems]
    reference = time.perf_counter() - start
    worst = max(
        max(abs(a["mAP"] - b["mAP"]), abs(a["mINP"] - b["mINP"]), np.abs(a["cmc"] - b["cmc"]).max())
        for a, b in zip(fast, slow)
    )
    print(f"SYSU size (3803 x 301, {trials} trials, protocol 'sysu', device {device})")
    print(f"  per-query reference  {reference:8.3f} s")
    print(f"  vectorised           {vectorised:8.3f} s")
    print(f"  speed-up             {reference / vectorised:8.1f} x")
    print(f"  largest difference   {worst:.2e}")


def _large_child(num_q: int, num_g: int, dim: int, device: str) -> None:
    """Runs in a fresh process; prints one JSON line."""
    from reidkit.eval import rank_metrics_from_features

    rng = np.random.default_rng(1)
    ids = 5000
    q_pids, g_pids = rng.integers(0, ids, num_q), rng.integers(0, ids, num_g)
    centres = torch.from_numpy(rng.normal(size=(ids, dim)).astype(np.float32))
    q = centres[q_pids] + 2.0 * torch.randn(num_q, dim)
    g = centres[g_pids] + 2.0 * torch.randn(num_g, dim)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = rank_metrics_from_features(
        q,
        g,
        q_pids,
        g_pids,
        rng.choice([3, 6], num_q),
        rng.choice([1, 2, 4, 5], num_g),
        "sysu",
        device=device,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {
        "seconds": seconds,
        "added_peak_rss_mib": (after - before) / 1024,
        "peak_rss_mib": after / 1024,
        "features_mib": (q.numel() + g.numel()) * 4 / 2**20,
        "mAP": result["mAP"],
    }
    if device == "cuda":
        report["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(report))


def bench_large(num_q: int, num_g: int, dim: int, device: str) -> None:
    command = [sys.executable, __file__, "--child", str(num_q), str(num_g), str(dim), device]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    print(f"{num_q} x {num_g} from {dim}-d features, chunked (protocol 'sysu', device {device})")
    print(f"  time                 {report['seconds']:8.1f} s")
    print(
        f"  peak RSS added       {report['added_peak_rss_mib']:8.0f} MiB "
        f"(process peak {report['peak_rss_mib']:.0f} MiB, features {report['features_mib']:.0f}"
        f" MiB; a full float32 distance matrix would be {num_q * num_g * 4 / 2**30:.1f} GiB)"
    )
    if "gpu_peak_mib" in report:
        print(f"  GPU peak allocated   {report['gpu_peak_mib']:8.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--large",
        type=int,
        nargs=3,
        default=[10_000, 100_000, 128],
        metavar=("QUERIES", "GALLERY", "DIM"),
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    bench_sysu(args.trials, args.device)
    if not args.skip_large:
        bench_large(*args.large, args.device)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _large_child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
