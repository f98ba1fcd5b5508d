"""``reidkit train CONFIG``: train the baseline as a YAML configuration says."""

from __future__ import annotations

import argparse
import dataclasses

HELP = "train a model from a YAML configuration (see configs/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML training configuration, e.g. configs/synthetic.yaml")
    parser.add_argument("--out", help="run folder (default: the configuration's out_dir)")
    parser.add_argument("--epochs", type=int, help="override the configuration's epochs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the run folder",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from reidkit.train.config import load_config
    from reidkit.train.run import train

    config = load_config(args.config)
    changes = {"out_dir": args.out} if args.out else {}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    config = dataclasses.replace(config, **changes)
    trainer, history = train(config, resume=args.resume, progress=not args.no_progress)
    evals = [r for r in history if r["kind"] == "eval"]
    if evals:
        last = evals[-1]
        print(
            f"epoch {last['epoch']}: "
            + "  ".join(f"{k} {v:.2%}" for k, v in last.items() if k not in ("kind", "epoch"))
        )
    print(f"run folder: {trainer.out_dir}")
    return 0
