"""The cross-modal identity-balanced batch sampler.

A batch holds ``P`` identities and, for each, ``K`` visible and ``K`` infrared images, so every
anchor of a triplet loss has cross-modal positives and negatives in its own batch, and the
classifier sees both modalities of an identity at once (METHODS.md §6 pairs the k-th visible
image with the k-th infrared one; batches are laid out in that order).

One epoch: every identity's visible and infrared images are shuffled and cut into chunks of
``K`` (a short last chunk, or a modality with fewer images, is filled by re-drawing from the
identity's own images), the identity gets as many slots as its longer modality needs, and the
slots are dealt into batches of ``P`` distinct identities. When fewer than ``P`` identities
still have slots, the batch is topped up with freshly drawn chunks of other identities. So every
image appears at least once per epoch, and every batch is balanced.

The order depends only on ``(seed, epoch)``; ``state_dict()`` holds the epoch and the number of
batches already handed out, so a resumed run continues with exactly the batches it would have
seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from reidkit.data.records import Record

VISIBLE, INFRARED = "visible", "infrared"


class CrossModalIdentitySampler(Sampler[list[int]]):
    """Yields lists of dataset indices: for each of ``P`` identities, ``K`` visible indices
    followed by ``K`` infrared indices. Use as ``DataLoader(..., batch_sampler=sampler)``."""

    def __init__(
        self,
        records: Sequence[Record],
        ids_per_batch: int,
        images_per_id: int,
        seed: int = 0,
    ) -> None:
        if ids_per_batch < 2:
            raise ValueError(
                f"ids_per_batch must be at least 2 (a batch needs negatives), got {ids_per_batch}"
            )
        if images_per_id < 1:
            raise ValueError(f"images_per_id must be at least 1, got {images_per_id}")
        self.ids_per_batch = ids_per_batch
        self.images_per_id = images_per_id
        self.seed = seed
        self.epoch = 0
        self.position = 0  # batches of this epoch already handed out
        by_id: dict[int, dict[str, list[int]]] = {}
        for index, record in enumerate(records):
            if record.modality in (VISIBLE, INFRARED):
                by_id.setdefault(record.pid, {VISIBLE: [], INFRARED: []})[record.modality].append(
                    index
                )
        self.index = {
            pid: {m: np.asarray(ix, dtype=np.int64) for m, ix in groups.items()}
            for pid, groups in sorted(by_id.items())
            if groups[VISIBLE] and groups[INFRARED]
        }
        self.skipped_ids = sorted(set(by_id) - set(self.index))  # one modality only
        if len(self.index) < ids_per_batch:
            raise ValueError(
                f"the sampler needs at least ids_per_batch={ids_per_batch} identities with both "
                f"visible and infrared images, found {len(self.index)}"
            )
        self._cache: tuple[int, list[list[int]]] | None = None

    def _chunks(self, rng: np.random.Generator, indices: np.ndarray, count: int) -> list:
        """``count`` chunks of K indices: a shuffled pass over ``indices``, then re-draws."""
        k = self.images_per_id
        order = rng.permutation(indices)
        need = count * k
        if need > len(order):
            order = np.concatenate([order, rng.choice(indices, need - len(order))])
        return [order[i * k : (i + 1) * k] for i in range(count)]

    def _slot(self, rng: np.random.Generator, pid: int) -> list[int]:
        groups = self.index[pid]
        visible = self._chunks(rng, groups[VISIBLE], 1)[0]
        infrared = self._chunks(rng, groups[INFRARED], 1)[0]
        return [*visible.tolist(), *infrared.tolist()]

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        k, p = self.images_per_id, self.ids_per_batch
        slots: dict[int, list[list[int]]] = {}
        for pid, groups in self.index.items():
            count = max(-(-len(groups[VISIBLE]) // k), -(-len(groups[INFRARED]) // k))
            visible = self._chunks(rng, groups[VISIBLE], count)
            infrared = self._chunks(rng, groups[INFRARED], count)
            slots[pid] = [[*v.tolist(), *i.tolist()] for v, i in zip(visible, infrared)]
        batches: list[list[int]] = []
        pids = list(self.index)
        while any(slots.values()):
            available = [pid for pid in pids if slots[pid]]
            if len(available) >= p:  # identities with more slots left go first more often
                left = np.asarray([len(slots[pid]) for pid in available], dtype=np.float64)
                chosen = rng.choice(available, p, replace=False, p=left / left.sum()).tolist()
                batch = [slots[pid].pop() for pid in chosen]
            else:  # top up with fresh chunks of identities that are done for this epoch
                others = [pid for pid in pids if not slots[pid]]
                extra = rng.choice(others, p - len(available), replace=False).tolist()
                batch = [slots[pid].pop() for pid in available]
                batch += [self._slot(rng, pid) for pid in extra]
            batches.append([index for chunk in batch for index in chunk])
        return batches

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """All batches of ``epoch`` (default: the current one), in order."""
        epoch = self.epoch if epoch is None else epoch
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, self._epoch_batches(epoch))
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch

    def __len__(self) -> int:
        """Batches in the current epoch."""
        return len(self.batches())

    @property
    def batch_size(self) -> int:
        return 2 * self.ids_per_batch * self.images_per_id

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch."""
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(
                f"sampler state was saved with seed {state['seed']}, this sampler has {self.seed}"
            )
        if not 0 <= int(state["position"]) <= len(self):
            raise ValueError(
                f"sampler state position {state['position']} is outside 0..{len(self)}"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
