"""``reidkit eval CHECKPOINT``: evaluate a trained model with a dataset's protocol."""

from __future__ import annotations

import argparse
import dataclasses
import json

HELP = "evaluate a checkpoint (a .safetensors file or a run folder) with a dataset's protocol"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reidkit.train.datasets import DATASETS

    parser.add_argument(
        "checkpoint",
        help="a .safetensors file, or a run folder (its epoch selected on validation, else the "
        "newest)",
    )
    parser.add_argument(
        "--dataset", choices=list(DATASETS), help="default: the dataset the model was trained on"
    )
    parser.add_argument("--root", help="dataset folder (default: the training configuration's)")
    parser.add_argument(
        "--protocol",
        help="the protocol's setting: SYSU-MM01 all | indoor; RegDB, LLCM v2i | i2v",
    )
    parser.add_argument("--split", help="test (default, also after training selected on val) | val")
    parser.add_argument("--trials", type=int, help="gallery samplings (default: the protocol's)")
    parser.add_argument("--trial", type=int, help="RegDB split 1..10")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def resolve_checkpoint(path: str):
    from pathlib import Path

    from reidkit.train.checkpoint import latest_checkpoint
    from reidkit.train.selection import selected_weights

    candidate = Path(path)
    if candidate.is_dir():
        for folder in (candidate / "checkpoints", candidate):
            selected = selected_weights(folder)  # the epoch chosen on validation, if any
            if selected:
                return selected
            found = latest_checkpoint(folder)
            if found:
                return found[0]
        raise FileNotFoundError(f"no checkpoint (latest.json) in {candidate}")
    if not candidate.is_file():
        raise FileNotFoundError(f"checkpoint not found: {candidate}")
    return candidate


def run(args: argparse.Namespace) -> int:
    from reidkit.train.checkpoint import load_weights, read_metadata
    from reidkit.train.config import config_from_dict
    from reidkit.train.datasets import open_dataset
    from reidkit.train.run import build_model, prepare

    weights = resolve_checkpoint(args.checkpoint)
    meta = read_metadata(weights)
    if "config" not in meta or not meta.get("num_classes"):
        raise ValueError(
            f"{weights}: no training configuration in its metadata; "
            "was it written by reidkit train?"
        )
    try:
        config = config_from_dict(json.loads(meta["config"]))
    except (TypeError, ValueError) as error:  # json errors are ValueErrors too
        raise ValueError(f"{weights}: its stored training configuration: {error}") from None
    data = dataclasses.replace(
        config.data,
        dataset=args.dataset or config.data.dataset,
        root=args.root if args.root else (None if args.dataset else config.data.root),
        trial=args.trial or config.data.trial,
    )
    # the test split unless asked otherwise: the configuration's split is the one training
    # selected its epoch on
    changes = {"setting": args.protocol, "split": args.split or "test", "trials": args.trials}
    evaluation = dataclasses.replace(
        config.eval, **{k: v for k, v in changes.items() if v is not None}
    )
    config = dataclasses.replace(config, data=data, eval=evaluation)
    dataset = open_dataset(data)
    setting = evaluation.setting
    if setting is not None and setting not in dataset.settings:
        raise ValueError(
            f"--protocol {setting!r} does not apply to {data.dataset}; expected one of "
            f"{list(dataset.settings)}"
        )
    model = build_model(config, int(meta["num_classes"]))
    load_weights(model, weights)
    metrics = prepare(config, dataset=dataset).evaluate(model.eval())
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"{weights} on {data.dataset} ({setting or dataset.default_setting}):")
        for name, value in metrics.items():
            print(f"  {name:<7} {value:.2%}")
    return 0
