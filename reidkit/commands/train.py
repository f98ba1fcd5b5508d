"""``reidkit train CONFIG``: train the configuration's method as its YAML file says."""

from __future__ import annotations

import argparse

HELP = "train a method from a YAML configuration (see configs/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML training configuration, e.g. configs/synthetic.yaml")
    parser.add_argument("--out", help="run folder (default: the configuration's out_dir)")
    parser.add_argument("--epochs", type=int, help="override the configuration's epochs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any key, e.g. --set optim.lr=3e-4 --set baseline.loss.triplet=none "
        "(VALUE is read as YAML; repeatable)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the run folder",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_assignments(items: list[str]) -> dict[str, object]:
    """``["optim.lr=3e-4", ...]`` -> ``{"optim.lr": 0.0003}``; values are read as YAML."""
    import yaml

    changes: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-4")
        changes[key.strip()] = yaml.safe_load(value)
    return changes


def run(args: argparse.Namespace) -> int:
    from reidkit.train.config import load_config, with_overrides
    from reidkit.train.run import train

    config = load_config(args.config)
    changes = parse_assignments(args.set)
    if args.out:
        changes["out_dir"] = args.out
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if changes:
        try:
            config = with_overrides(config, changes)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{args.config} with the command line's overrides: {error}") from None
    trainer, history = train(config, resume=args.resume, progress=not args.no_progress)
    if not trainer.processes.is_main:  # under several processes rank 0 reports
        return 0
    evals = [r for r in history if r["kind"] == "eval"]
    if evals:
        last = evals[-1]
        print(
            f"epoch {last['epoch']}: "
            + "  ".join(f"{k} {v:.2%}" for k, v in last.items() if k not in ("kind", "epoch"))
        )
    print(f"run folder: {trainer.out_dir}")
    return 0
