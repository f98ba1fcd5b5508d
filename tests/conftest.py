"""Shared test settings: never touch the network, use the smoke profile, cache in tmp."""

from __future__ import annotations

import os

from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("REIDKIT_PROFILE", "smoke")

# The tiny synthetic run that the command-line tests train: seconds on a CPU.
TINY_RUN = {
    "seed": 1,
    "epochs": 2,
    "data": {
        "dataset": "synthetic",
        "img_size": [64, 32],
        "train_ids": 12,
        "test_ids": 6,
        "images_per_camera": 2,
        "ids_per_batch": 3,
        "images_per_id": 2,
    },
    "eval": {"every": 1, "trials": 2},
}


def tiny_run_yaml(changes: dict | None = None) -> str:
    """``TINY_RUN`` with ``changes`` merged in (nested mappings or dotted keys), as YAML."""
    import yaml

    from reidkit.typed import merge

    return yaml.safe_dump(merge(TINY_RUN, changes or {}), sort_keys=False)


def train_tiny_run(folder, changes: dict | None = None):
    """Train ``TINY_RUN`` with ``changes`` through ``reidkit train`` in ``folder``; returns
    the run folder and its metrics log (a list of records)."""
    from reidkit.cli import main
    from reidkit.train.engine import read_metrics

    config, run = folder / "tiny.yaml", folder / "run"
    config.write_text(tiny_run_yaml(changes))
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    return run, read_metrics(run / "metrics.jsonl")


class ConvImage(nn.Module):
    """A backbone with the timm interface that is not a ViT: one 8x8 conv gives the tokens
    (B, N, 8), the head mean-pools them; IMFI cannot read its blocks."""

    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 8, stride=8)

    def forward_features(self, images):
        return self.conv(images).flatten(2).transpose(1, 2)  # (B, N, 8)

    def forward_head(self, tokens, pre_logits=False):
        return tokens.mean(1)  # (B, 8)
