"""Several processes, one model: the trainer under Hugging Face Accelerate (DDP).

Run any configuration on several devices with Accelerate's launcher; nothing else changes::

    accelerate launch --num_processes 2 -m reidkit train configs/synthetic.yaml  # 2 GPUs
    accelerate launch --multi_gpu --num_processes 2 -m reidkit train CONFIG      # 2 CPU processes

On a machine without CUDA, ``--multi_gpu`` is only Accelerate's name for "start the processes
with torchrun": they find no GPU and talk over gloo (``--cpu`` with several processes expects
MPI and, without ``mpirun``, starts just one). ``--resume`` works the same way.

Without a launcher (``WORLD_SIZE`` unset or 1) :func:`current_processes` is a single process,
every method of :class:`Processes` does nothing, Accelerate is not even imported, and a run
is exactly what it was before this module existed.

Under ``W`` processes (one rank each):

* Accelerate's ``PartialState`` starts the process group (NCCL on GPUs, gloo on CPUs) and
  gives each rank its device. The model is wrapped in ``DistributedDataParallel`` for the
  training steps only; methods never see the wrapper (evaluation, checkpoints and
  ``num_classes`` use the model itself). ``find_unused_parameters`` is on, so a method whose
  loss leaves a head unused (a triplet-only ablation) still trains; torch warns once per rank
  when a model has none. Mixed precision is ``optim.amp``'s, not Accelerate's
  ``--mixed_precision``.
* The P x K sampler's epoch is dealt out batch by batch: rank ``r`` takes batches ``r, r+W,
  r+2W, ...`` (:func:`shard_batches`), so each rank's batch keeps its whole identity blocks
  and every rank takes the same number of steps, ``ceil(n/W)`` for ``n`` batches; the last
  round is padded with the epoch's first batches, so every image is still seen each epoch.
* One optimisation step therefore sees ``W`` batches: the effective batch is ``W*P``
  identities, ``W*P*K`` images per modality (DDP averages the gradients); an epoch has about
  ``1/W`` of the steps, and the schedule (in epochs) is unchanged. The learning rate is not
  scaled for you: the linear rule would multiply ``optim.lr`` by ``W`` (``--set
  optim.lr=...``). Batch-hard triplet mining stays within each rank's ``P`` identities.
* Each rank draws its own augmentation and drop-path noise (seeded from ``(seed, rank)``).
  Logged losses are averaged over the ranks, so a log line is the loss of the whole step.
* Only rank 0 writes: the metrics log, checkpoints, the selected model. A checkpoint holds
  every rank's RNG state, and the sampler position (the same on every rank); on ``--resume``
  every rank loads it, with the same number of processes as the run that wrote it.
* Evaluation, model selection and the final test run on rank 0; the other ranks wait for it
  (in the checkpoint's gathering of RNG states, and at a barrier after the test), so the
  process group's timeout (torch's default: 10 minutes with NCCL, 30 with gloo) bounds one
  evaluation.
* Rank 0 prepares the data first (the synthetic data is written once), then the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from reidkit.data.samplers import ResumableBatchSampler
from reidkit.utils import seed_everything


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """Batches ``rank, rank + world_size, ...`` of ``batches`` padded cyclically to a multiple
    of ``world_size``: every rank gets ``ceil(n / world_size)`` whole batches."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    if not batches:
        raise ValueError("the sampler dealt no batches for this epoch; there is nothing to shard")
    rounds = -(-len(batches) // world_size)
    padded = [batches[i % len(batches)] for i in range(rounds * world_size)]
    return padded[rank::world_size]


class ShardedBatchSampler(ResumableBatchSampler):
    """This rank's share of ``sampler``'s batches (:func:`shard_batches`), epoch by epoch.

    Its state is the usual seed, epoch and position, the position counting this rank's
    batches; it is the same on every rank, as every rank takes the same number of steps."""

    def __init__(self, sampler: ResumableBatchSampler, rank: int, world_size: int) -> None:
        super().__init__(sampler.seed)
        self.sampler = sampler
        self.rank, self.world_size = rank, world_size

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        return shard_batches(self.sampler.batches(epoch), self.rank, self.world_size)


@dataclass(frozen=True)
class Processes:
    """The processes of this run: ``Processes()`` is one process, where everything here is
    a no-op. ``device`` is this rank's device when several processes were launched."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None

    @property
    def launched(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes logs and checkpoints and evaluates."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.launched:
            torch.distributed.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. writing generated data), then the others."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` (which makes all ranks' weights rank 0's),
        or ``model`` itself in one process."""
        if not self.launched:
            return model
        on_gpu = self.device is not None and self.device.type == "cuda"
        ids = [self.device.index] if on_gpu else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def shard(self, sampler: Any) -> Any:
        """This rank's :class:`ShardedBatchSampler`, or ``sampler`` itself in one process."""
        if not self.launched:
            return sampler
        if not isinstance(sampler, ResumableBatchSampler):
            raise TypeError(
                f"several processes need a ResumableBatchSampler to shard, got "
                f"{type(sampler).__name__}"
            )
        return ShardedBatchSampler(sampler, self.rank, self.world_size)

    def seed_rank(self, seed: int) -> None:
        """Give each rank its own random stream, derived from ``(seed, rank)``."""
        if self.launched:
            seed_everything(int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0]))

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks (every rank passes the same keys)."""
        if not self.launched:
            return values
        stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(stacked)  # the sum over ranks, (len(values),)
        return dict(zip(values, (stacked / self.world_size).tolist()))

    def rank_states(self, rng: dict[str, Any]) -> dict[str, Any]:
        """What a checkpoint adds under several processes: the number of processes and every
        rank's RNG state, ``rng`` gathered from all ranks (a collective: every rank calls it).
        Empty in one process."""
        if not self.launched:
            return {}
        states: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(states, rng)
        return {"world_size": self.world_size, "rng_ranks": states}

    def rng_of_rank(self, state: dict[str, Any], path: str | Path) -> dict[str, Any]:
        """This rank's RNG state from a checkpoint's ``state`` (read from ``path``); a
        ValueError when it was written by a different number of processes."""
        saved = int(state.get("world_size", 1))
        if saved != self.world_size:
            raise ValueError(
                f"{path} was written by a run of {saved} process(es), this run has "
                f"{self.world_size}: resume with the same number of processes (the sampler "
                f"position and the RNG states are per process)"
            )
        return state["rng_ranks"][self.rank] if self.launched else state["rng"]


def launched_world_size() -> int:
    """The number of processes a launcher (``accelerate launch``, torchrun) started: 1 when
    there is none."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={value!r}: expected a number of processes") from None


def current_processes(device: torch.device) -> Processes:
    """One process unless a launcher started several; then Accelerate starts the process group
    (on the CPU, with gloo, when ``device`` is the CPU) and says this rank's place and device."""
    if launched_world_size() <= 1:
        return Processes()
    return _launched(device.type == "cpu")


@functools.cache
def _launched(cpu: bool) -> Processes:
    from accelerate import PartialState  # imported only when several processes run

    state = PartialState(cpu=cpu)
    if state.num_processes != launched_world_size():
        raise RuntimeError(
            f"WORLD_SIZE is {launched_world_size()} but Accelerate started "
            f"{state.num_processes} process(es) ({state.distributed_type}); launch with "
            f"`accelerate launch --num_processes N` (add --multi_gpu on a CPU-only machine)"
        )
    device = state.device
    if device.type == "cpu":  # Accelerate numbers CPUs by rank ("cpu:1"); tensors live on "cpu"
        device = torch.device("cpu")
    return Processes(state.process_index, state.num_processes, device)
