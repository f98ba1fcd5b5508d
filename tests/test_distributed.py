"""Data-parallel training under ``accelerate launch``: the sharded P x K batches, the
single-process no-ops, and two CPU processes (gloo) that train, checkpoint, resume and evaluate
a tiny synthetic run, resumed exactly as the straight run went."""

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_run_yaml
from safetensors.torch import load_file
from torch import nn

from reidkit.data.records import Record
from reidkit.data.samplers import CrossModalIdentitySampler
from reidkit.train.checkpoint import load_state
from reidkit.train.distributed import (
    Processes,
    ShardedBatchSampler,
    current_processes,
    shard_batches,
)

REPO = Path(__file__).resolve().parents[1]
TINY = tiny_run_yaml(
    {
        "name": "tiny-ddp",
        "data.train_on_val": False,
        "eval.split": "val",
        "baseline": {"model": {"backbone": "vit_nano"}, "loss": {"triplet_start_epoch": 1.0}},
    }
)
TIMINGS = ("images_per_s", "seconds")


def records(ids: int = 7, per_modality: int = 3) -> list[Record]:
    return [
        Record(f"{pid}_{modality}_{i}.png", pid, 1 if modality == "visible" else 3, modality)
        for pid in range(ids)
        for modality in ("visible", "infrared")
        for i in range(per_modality)
    ]


# ---- sharding ------------------------------------------------------------------------------
def test_shard_batches_deals_whole_batches_round_robin_and_pads_the_last_round():
    batches = [[i, i] for i in range(7)]
    shards = [shard_batches(batches, rank, 2) for rank in range(2)]
    assert shards[0] == [[0, 0], [2, 2], [4, 4], [6, 6]]
    assert shards[1] == [[1, 1], [3, 3], [5, 5], [0, 0]]  # padded with the epoch's first batch
    assert shard_batches(batches[:1], 2, 3) == [[0, 0]]  # fewer batches than ranks
    with pytest.raises(ValueError, match="rank 2 is outside 0..1"):
        shard_batches(batches, 2, 2)
    with pytest.raises(ValueError, match="no batches"):
        shard_batches([], 0, 2)


def test_sharded_sampler_keeps_identity_blocks_and_resumes_mid_epoch():
    train = records()
    base = CrossModalIdentitySampler(train, 3, 2, seed=5)
    epoch = base.batches(1)
    shards = [ShardedBatchSampler(CrossModalIdentitySampler(train, 3, 2, 5), r, 2) for r in (0, 1)]
    for shard in shards:
        shard.set_epoch(1)
        assert len(shard) == math.ceil(len(epoch) / 2) and shard.batch_size == base.batch_size
    dealt = [batch for shard in shards for batch in shard]
    assert all(batch in epoch for batch in dealt)  # whole batches: P blocks of 2K, untouched
    assert {tuple(b) for b in dealt} == {tuple(b) for b in epoch}  # the epoch is covered
    # Resume rank 1 after its first batch: the same batches follow.
    shard = ShardedBatchSampler(CrossModalIdentitySampler(train, 3, 2, 5), 1, 2)
    shard.set_epoch(1)
    first = next(iter(shard))
    resumed = ShardedBatchSampler(CrossModalIdentitySampler(train, 3, 2, 5), 1, 2)
    resumed.load_state_dict(shard.state_dict())
    assert [first, *resumed] == shard_batches(epoch, 1, 2)


def test_one_process_is_a_no_op_and_never_imports_accelerate(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setitem(sys.modules, "accelerate", None)  # importing it would now fail
    single = current_processes(torch.device("cpu"))
    assert single == Processes() and single.is_main and not single.launched
    model, sampler = nn.Linear(2, 2), CrossModalIdentitySampler(records(), 3, 2)
    assert single.wrap(model) is model and single.shard(sampler) is sampler
    assert single.mean({"loss": 1.5}) == {"loss": 1.5}
    assert single.rank_states({"torch": torch.zeros(1)}) == {}
    rng = {"torch": torch.ones(1)}
    assert single.rng_of_rank({"rng": rng}, "state.pt") is rng
    with pytest.raises(ValueError, match="written by a run of 2 process"):
        single.rng_of_rank({"rng": rng, "world_size": 2}, "epoch-0001.state.pt")


# ---- two processes under accelerate launch -------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    (root / "tiny.yaml").write_text(TINY)
    return root


def reidkit_train(workspace: Path, out: Path, processes: int | None, *extra: str) -> None:
    """``reidkit train`` in fresh processes: plainly (``processes=None``) or under
    ``accelerate launch`` with ``processes`` CPU processes."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        "REIDKIT_CACHE": str(workspace / "cache"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    train = ["-m", "reidkit", "train", str(workspace / "tiny.yaml"), "--out", str(out)]
    train += ["--no-progress", *extra]
    if processes is None:
        command = [sys.executable, *train]
    else:
        launcher = [sys.executable, "-m", "accelerate.commands.launch"]
        launcher += ["--num_processes", str(processes), "--num_machines", "1"]
        launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        if processes > 1:  # torchrun; on a machine without CUDA the processes use gloo
            launcher += ["--multi_gpu", "--main_process_port", str(free_port())]
        command = [*launcher, *train]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-4000:]}"


def log_of(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in lines]


def steps_per_epoch(log: list[dict]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for record in log:
        if record["kind"] == "train":
            counts[record["epoch"]] = counts.get(record["epoch"], 0) + 1
    return counts


@pytest.fixture(scope="module")
def two_process_run(workspace) -> Path:
    run = workspace / "straight"
    reidkit_train(workspace, run, 2)
    return run


def test_two_processes_train_checkpoint_evaluate_and_resume_exactly(workspace, two_process_run):
    log = log_of(two_process_run)
    steps = [r["step"] for r in log if r["kind"] == "train"]
    assert steps == list(range(1, len(steps) + 1))  # one log line per step: rank 0 alone writes
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2]
    assert all(0 <= r["R1"] <= 1 and 0 < r["mAP"] <= 1 for r in evals)
    tests = [r for r in log if r["kind"] == "test"]  # the model selected on validation, once
    assert len(tests) == 1 and tests[0]["selected_by"] == "mAP on validation"
    checkpoints = two_process_run / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("epoch-*")) == [
        f"epoch-000{e}.{kind}" for e in (1, 2) for kind in ("safetensors", "state.pt")
    ]
    assert not list(checkpoints.glob(".*tmp*"))  # no half-written file left behind
    state = load_state(checkpoints / "epoch-0001.state.pt")
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    ranks = [r["torch"] for r in state["rng_ranks"]]
    assert not torch.equal(*ranks)  # each rank draws its own augmentation

    # A crash two steps into epoch 2: its checkpoint never written, two log lines written.
    resumed = workspace / "resumed"
    shutil.copytree(two_process_run, resumed)
    for path in resumed.glob("checkpoints/epoch-0002.*"):
        path.unlink()
    lines = (resumed / "metrics.jsonl").read_text().splitlines(keepends=True)
    crashed = [json.loads(line)["epoch"] == 1 for line in lines].index(False) + 2
    (resumed / "metrics.jsonl").write_text("".join(lines[:crashed]))
    pointer = {"epoch": 1, "weights": "epoch-0001.safetensors", "state": "epoch-0001.state.pt"}
    (resumed / "checkpoints" / "latest.json").write_text(json.dumps(pointer))
    reidkit_train(workspace, resumed, 2, "--resume")
    assert log_of(resumed) == log  # every loss and metric as in the straight run
    straight = load_file(checkpoints / "epoch-0002.safetensors")
    again = load_file(resumed / "checkpoints" / "epoch-0002.safetensors")
    assert straight.keys() == again.keys()
    assert all(torch.equal(straight[k], again[k]) for k in straight)


def test_one_process_under_the_launcher_is_the_plain_run(workspace, two_process_run):
    plain, launched = workspace / "plain", workspace / "one-process"
    reidkit_train(workspace, plain, None)
    reidkit_train(workspace, launched, 1)
    assert log_of(launched) == log_of(plain)
    # Two processes share out each epoch's batches: half the steps, rounded up.
    single, double = steps_per_epoch(log_of(plain)), steps_per_epoch(log_of(two_process_run))
    assert double == {epoch: math.ceil(n / 2) for epoch, n in single.items()}
    assert np.all(np.array(list(single.values())) > 2)
