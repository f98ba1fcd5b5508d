"""``reidkit demo``: the main job, end to end on synthetic data in the current profile."""

from __future__ import annotations

import argparse

HELP = (
    "generate synthetic data, train the cross-modal baseline in the current profile, "
    "evaluate with the SYSU-MM01 protocol and write a report"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="smoke | quick | full (default: $REIDKIT_PROFILE)")
    parser.add_argument(
        "--out",
        help="report folder (default: runs/demo-<profile> in the checkout, or in $REIDKIT_RUNS)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted demo from its newest checkpoint",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from reidkit.train.report import metrics_markdown, run_demo

    result = run_demo(args.profile, args.out, progress=not args.no_progress, resume=args.resume)
    print()
    print(
        metrics_markdown(
            {"baseline": result.metrics, "raw pixels": result.raw_pixels},
            f"IR -> visible, all-search, single-shot ({result.profile} profile)",
        )
    )
    print(f"finished in {result.seconds:.0f} s; report written to {result.out_dir}/")
    for name, path in result.files.items():
        print(f"  {name:<8} {path}")
    return 0
