"""The training loop, in plain PyTorch, for any registered method: one epoch at a time.

    for each epoch:
        for each batch the method's sampler deals (a Batch):
            outputs = model(batch)                        # a dict of named tensors
            terms = objective(outputs, batch, progress)   # named loss terms, "loss" the total
            backward, clip gradients, step, set the learning rate for the next step
        every N epochs: evaluate;  always: write a checkpoint

The engine knows no method by name: the model, its objective and its sampler come from
``reidkit.methods`` (see ``reidkit.train.run``). Every step appends a line with every loss
term to ``<run>/metrics.jsonl`` and calls the callbacks with the same record (live plots in
notebooks use this). ``fit(resume=True)`` continues from the newest checkpoint with the exact
optimizer, schedule, sampler and RNG states, so on a CPU the resumed run logs exactly the
losses and metrics of an uninterrupted one. Under ``accelerate launch`` with several processes
the same loop runs data-parallel (``reidkit.train.distributed``: sharded batches, DDP, rank 0
writes and evaluates).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from reidkit.data.batch import Batch, Collate
from reidkit.data.records import Record
from reidkit.methods import Objective
from reidkit.train.checkpoint import (
    atomic_write,
    latest_checkpoint,
    load_state,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from reidkit.train.config import TrainConfig
from reidkit.train.datasets import training_data
from reidkit.train.distributed import current_processes
from reidkit.train.precision import autocast_context, autocast_settings, full_precision
from reidkit.train.schedule import EpochSchedule, build_optimizer
from reidkit.train.selection import BestEpoch
from reidkit.utils import get_device

Callback = Callable[[dict[str, Any]], None]
Evaluate = Callable[[nn.Module], dict[str, float]]
METRICS_LOG = "metrics.jsonl"


class Trainer:
    """Trains ``model`` with ``objective`` on the batches ``sampler`` deals from ``records``
    (identities already 0..C-1), as ``config`` says (optimiser, schedule, epochs, evaluation).
    ``reidkit.train.run.train`` builds all of these from a configuration."""

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module,
        objective: Objective,
        records: Sequence[Record],
        sampler: Any,
        evaluate: Evaluate | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        collate: Collate | None = None,
        test: Evaluate | None = None,
    ) -> None:
        """``evaluate`` runs every ``eval.every`` epochs. With ``test`` (when ``evaluate``
        measures a validation split), the epoch with the best ``eval.select`` metric is kept
        and ``test`` evaluates that model once, after the last epoch."""
        self.config = config
        self.device = get_device(config.device)
        # One process unless launched with several (reidkit.train.distributed): then this
        # rank's device, a DDP wrapper for the steps and this rank's share of the batches.
        self.processes = current_processes(self.device)
        self.device = self.processes.device or self.device
        self.model = model.to(self.device)
        self.network = self.processes.wrap(self.model)  # the model the training steps call
        self.processes.seed_rank(config.seed)
        self.objective = objective
        self.records = list(records)
        self.sampler = self.processes.shard(sampler)
        self.evaluate = evaluate
        self.test = test
        self.callbacks = list(callbacks)
        self.progress = progress
        self.out_dir = Path(config.out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        data = config.data
        # PIL images augmented in the loader, or a uint8 cache augmented here per batch
        dataset, self.batch_transform = training_data(self.records, data, self.device)
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.sampler,
            collate_fn=collate or Collate(),
            num_workers=data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.optimizer = build_optimizer(self.model, config.optim)
        self.schedule = EpochSchedule(self.optimizer, config.epochs, config.optim)
        self.amp_dtype, use_scaler = autocast_settings(self.device, config.optim.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.metadata: dict[str, str] = {
            "config": config.to_json(),
            "num_classes": str(getattr(model, "num_classes", "")),
        }
        self.selection = BestEpoch(self.checkpoint_dir, config.eval.select, self.metadata)

    # ---- logging -----------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        if not self.processes.is_main:
            return
        with open(self.out_dir / METRICS_LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        for callback in self.callbacks:
            callback(record)

    def history(self) -> list[dict[str, Any]]:
        """Every record of ``metrics.jsonl`` so far."""
        return read_metrics(self.out_dir / METRICS_LOG)

    # ---- checkpoints -------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write a checkpoint (rank 0 only; every rank must call it). Returns its weights."""
        state = {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
            "global_step": self.global_step,
        }
        state |= self.processes.rank_states(state["rng"])  # every rank's RNG, when several
        if not self.processes.is_main:
            return None
        if self.selection.best is not None:
            state["best"] = self.selection.state_dict()
        saved = save_checkpoint(
            self.checkpoint_dir,
            self.epoch,
            self.model,
            state,
            self.metadata,
            keep=self.config.keep_checkpoints,
        )
        self.selection.saved_with_checkpoint()
        return saved

    def resume(self) -> bool:
        """Load the newest checkpoint of this run, if any; drop log lines written after it."""
        found = latest_checkpoint(self.checkpoint_dir)
        if found is None:
            return False
        weights, state_path = found
        state = load_state(state_path)
        rng = self.processes.rng_of_rank(state, state_path)  # same number of processes?
        load_weights(self.model, weights, self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        set_rng_state(rng)
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        if not self.processes.is_main:
            return True
        self.selection.load_state_dict(state.get("best"))
        kept = [r for r in self.history() if r.get("epoch", 0) <= self.epoch]
        lines = "".join(json.dumps(r) + "\n" for r in kept)
        atomic_write(self.out_dir / METRICS_LOG, lambda p: p.write_text(lines, encoding="utf-8"))
        return True

    # ---- training ----------------------------------------------------------------------
    def train_step(self, batch: Batch, progress: float) -> dict[str, float]:
        """One optimisation step; ``progress`` is where the schedule goes next (epochs). The
        objective sees the progress reached before this step."""
        batch = batch.to(self.device, non_blocking=True)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch)
        with autocast_context(self.device, self.config.optim.amp):
            outputs = self.network(batch)
        outputs = full_precision(outputs)  # objectives compute in float32 whatever the autocast
        losses = self.objective(outputs, batch, self.schedule.progress)
        if "loss" not in losses:
            raise KeyError(f"the objective returned {sorted(losses)}; it must include 'loss'")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        if self.config.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.schedule.step(progress)
        values = {name: value.item() for name, value in losses.items()} | {"lr": lr}
        return self.processes.mean(values)

    def train_epoch(self) -> dict[str, float]:
        from tqdm.auto import tqdm

        epoch = self.epoch + 1
        self.network.train()
        if self.sampler.epoch != epoch or self.sampler.position >= len(self.sampler):
            self.sampler.set_epoch(epoch)
        steps = len(self.sampler)
        bar = tqdm(
            self.loader,
            total=steps,
            desc=f"epoch {epoch}/{self.config.epochs}",
            disable=not (self.progress and self.processes.is_main),
            leave=False,
        )
        totals: dict[str, float] = {}
        start, seen = time.perf_counter(), 0
        for step, batch in enumerate(bar):
            values = self.train_step(batch, self.epoch + (step + 1) / steps)
            self.global_step += 1
            seen += len(batch) * self.processes.world_size
            rate = seen / max(time.perf_counter() - start, 1e-9)
            for name, value in values.items():
                if name != "lr":
                    totals[name] = totals.get(name, 0.0) + value
            bar.set_postfix(loss=f"{values['loss']:.3f}", img_s=f"{rate:.0f}")
            if self.global_step % self.config.log_every == 0 or step + 1 == steps:
                self.log(
                    {
                        "kind": "train",
                        "epoch": epoch,
                        "step": self.global_step,
                        **values,
                        "images_per_s": rate,
                    }
                )
        bar.close()
        summary = {name: total / steps for name, total in totals.items()}
        summary["seconds"] = time.perf_counter() - start
        return summary

    def run_evaluation(self) -> dict[str, float]:
        if self.evaluate is None or not self.processes.is_main:
            return {}
        self.model.eval()
        with torch.no_grad():
            metrics = self.evaluate(self.model)
        self.model.train()
        self.log({"kind": "eval", "epoch": self.epoch, **metrics})
        if self.test is not None:
            self.selection.offer(self.model, self.epoch, metrics)
        return metrics

    # ---- model selection on a validation split --------------------------------------------
    def run_test(self) -> dict[str, float]:
        """Load the selected weights and evaluate the test split once."""
        load_weights(self.model, self.selection.weights, self.device)
        self.model.eval()
        with torch.no_grad():
            metrics = self.test(self.model)
        self.model.train()
        best = self.selection.best
        selected = f"{best['metric']} on validation"
        self.log({"kind": "test", "epoch": best["epoch"], "selected_by": selected, **metrics})
        return metrics

    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` (continuing from the newest checkpoint when
        ``resume``); evaluate every ``eval.every`` epochs and after the last; return the log."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not (resume and self.resume()) and self.processes.is_main:
            (self.out_dir / METRICS_LOG).unlink(missing_ok=True)
            (self.out_dir / "config.json").write_text(self.config.to_json(), encoding="utf-8")
        every = self.config.eval.every
        while self.epoch < self.config.epochs:
            summary = self.train_epoch()
            self.epoch += 1
            self.log({"kind": "epoch", "epoch": self.epoch, **summary})
            last = self.epoch == self.config.epochs
            if last or (every > 0 and self.epoch % every == 0):
                self.run_evaluation()
            self.save()
        selected = self.test is not None and self.evaluate is not None
        if selected and self.processes.is_main:
            if not any(r["kind"] == "test" for r in self.history()):
                self.run_test()
        self.processes.barrier()  # the other ranks wait for rank 0's last writes
        return self.history()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (empty when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
