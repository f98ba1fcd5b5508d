"""Identity-balanced batch samplers for every task, resumable in the middle of an epoch.

A batch holds ``P`` distinct identities and ``K`` images of each (per modality for the
cross-modal samplers), so every anchor of a triplet loss has positives and negatives in its
own batch. Use a sampler as ``DataLoader(dataset, batch_sampler=sampler)``.

Layouts (``P = ids_per_batch``, ``K`` = the per-identity count):

* ``IdentityBalancedSampler``: ``P`` blocks of ``K`` images of any modality; ``P*K`` indices.
* ``ImageCaptionSampler``: ``P`` blocks of ``K`` (image, caption) records; ``P*K`` indices.
* ``CrossModalIdentitySampler``: ``P`` blocks of ``K`` images of ``modalities[0]`` followed by
  ``K`` of ``modalities[1]``; ``2*P*K`` indices.
* ``PairedCrossModalSampler``: the same batches, read as pairs: the k-th image of each half of
  a block form a pair.

One epoch: each identity's images (each modality's separately) are shuffled and cut into
chunks of ``K``; a short last chunk, or a modality with fewer images, is filled by re-drawing
from the identity's own images. The identity gets as many blocks as its largest group needs,
and the blocks are dealt into batches of ``P`` distinct identities. When fewer than ``P``
identities still have blocks, the batch is topped up with freshly drawn blocks of identities
that are done. So every image appears at least once per epoch and every batch is balanced.

The order depends only on ``(seed, epoch)``; ``state_dict()`` holds the epoch and the number of
batches already handed out, so a resumed run continues with exactly the batches it would have
seen. Identities that lack what a sampler needs are listed in ``skipped_ids``, never dropped
silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from reidkit.data.records import MODALITIES, Record

VISIBLE, INFRARED = "visible", "infrared"


class ResumableBatchSampler(Sampler[list[int]]):
    """Seed, epoch and position: a subclass says what the batches of an epoch are
    (``_epoch_batches``) and how many indices a batch holds (``batch_size``)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.epoch = 0
        self.position = 0  # batches of this epoch already handed out
        self._cache: tuple[int, list[list[int]]] | None = None

    @property
    def batch_size(self) -> int:
        raise NotImplementedError

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        raise NotImplementedError

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """All batches of ``epoch`` (default: the current one), in order."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, self._epoch_batches(epoch))
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        """The current epoch's batches from ``position`` on; the position advances as they go."""
        batches = self.batches()
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch

    def __len__(self) -> int:
        """Batches in the current epoch."""
        return len(self.batches())

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch."""
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        missing = [key for key in ("seed", "epoch", "position") if key not in state]
        if missing:
            raise ValueError(f"sampler state lacks {missing}; it has {sorted(state)}")
        if int(state["seed"]) != self.seed:
            raise ValueError(
                f"sampler state was saved with seed {state['seed']}, this sampler has {self.seed}"
            )
        epoch, position = int(state["epoch"]), int(state["position"])
        if not 0 <= position <= len(self.batches(epoch)):
            raise ValueError(
                f"sampler state position {position} is outside 0..{len(self.batches(epoch))} "
                f"(the batches of epoch {epoch})"
            )
        self.epoch, self.position = epoch, position


def check_batch_shape(ids_per_batch: int, per_id: int, per_id_name: str) -> None:
    """``P >= 2`` (a batch needs negatives) and ``K >= 1``, or a ValueError naming the value."""
    if ids_per_batch < 2:
        raise ValueError(
            f"ids_per_batch must be at least 2 (a batch needs negatives), got {ids_per_batch}"
        )
    if per_id < 1:
        raise ValueError(f"{per_id_name} must be at least 1, got {per_id}")


def draw_chunks(
    rng: np.random.Generator, indices: np.ndarray, count: int, k: int
) -> list[np.ndarray]:
    """``count`` chunks of ``k`` indices: a shuffled pass over ``indices``, then re-draws."""
    order = rng.permutation(indices)
    need = count * k
    if need > len(order):
        order = np.concatenate([order, rng.choice(indices, need - len(order))])
    return [order[i * k : (i + 1) * k] for i in range(count)]


class GroupedIdentitySampler(ResumableBatchSampler):
    """The P x K engine of every sampler here, on index groups made by the caller.

    ``groups[pid]`` lists the index arrays (each non-empty) that a block of identity ``pid``
    takes ``K`` indices from, in block order: one array for an identity-balanced sampler, one
    per modality for a cross-modal one; every identity has the same number of groups ``G``. A
    batch is ``P`` blocks of ``G*K`` indices, one distinct identity per block. ``needs`` says
    in the error what an identity must have; ``skipped_ids`` are the identities the caller left
    out (reported in that error and kept on the sampler).
    """

    def __init__(
        self,
        groups: dict[int, list[np.ndarray]],
        ids_per_batch: int,
        images_per_id: int,
        seed: int = 0,
        skipped_ids: Sequence[int] = (),
        needs: str = "images",
    ) -> None:
        super().__init__(seed)
        check_batch_shape(ids_per_batch, images_per_id, "images_per_id")
        sizes = {len(g) for g in groups.values()}
        if len(sizes) > 1 or any(len(ix) == 0 for g in groups.values() for ix in g):
            raise ValueError(
                f"every identity needs the same number of non-empty index groups, got {sizes}"
            )
        self.ids_per_batch = ids_per_batch
        self.images_per_id = images_per_id
        self.groups = {pid: groups[pid] for pid in sorted(groups)}
        self.skipped_ids = sorted(skipped_ids)
        if len(groups) < ids_per_batch:
            skipped = (
                f"; {len(skipped_ids)} skipped: {self.skipped_ids[:10]}" if skipped_ids else ""
            )
            raise ValueError(
                f"the sampler needs at least ids_per_batch={ids_per_batch} identities with "
                f"{needs}, found {len(groups)}{skipped}"
            )

    @property
    def batch_size(self) -> int:
        return len(next(iter(self.groups.values()))) * self.ids_per_batch * self.images_per_id

    def _block(self, rng: np.random.Generator, pid: int) -> list[int]:
        """A fresh block of ``pid`` (for topping up a batch): one chunk from each group."""
        chunks = [draw_chunks(rng, ix, 1, self.images_per_id)[0] for ix in self.groups[pid]]
        return [index for chunk in chunks for index in chunk.tolist()]

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        k, p = self.images_per_id, self.ids_per_batch
        blocks: dict[int, list[list[int]]] = {}
        for pid, groups in self.groups.items():
            count = max(-(-len(ix) // k) for ix in groups)  # chunks the largest group needs
            per_group = [draw_chunks(rng, ix, count, k) for ix in groups]
            # block j of an identity: chunk j of its first group, then of its second, ...
            blocks[pid] = [
                [i for chunk in chunks for i in chunk.tolist()] for chunks in zip(*per_group)
            ]
        batches: list[list[int]] = []
        pids = list(self.groups)
        while any(blocks.values()):
            available = [pid for pid in pids if blocks[pid]]
            if len(available) >= p:  # identities with more blocks left go first more often
                left = np.asarray([len(blocks[pid]) for pid in available], dtype=np.float64)
                chosen = rng.choice(available, p, replace=False, p=left / left.sum()).tolist()
                batch = [blocks[pid].pop() for pid in chosen]
            else:  # top up with fresh blocks of identities that are done for this epoch
                others = [pid for pid in pids if not blocks[pid]]
                extra = rng.choice(others, p - len(available), replace=False).tolist()
                batch = [blocks[pid].pop() for pid in available]
                batch += [self._block(rng, pid) for pid in extra]
            batches.append([index for block in batch for index in block])
        return batches


class IdentityBalancedSampler(GroupedIdentitySampler):
    """``P`` identities x ``K`` images of any modality: a batch is ``P`` blocks of ``K``
    indices, one identity per block. Every record is used, so ``skipped_ids`` is empty."""

    def __init__(
        self,
        records: Sequence[Record],
        ids_per_batch: int,
        images_per_id: int,
        seed: int = 0,
    ) -> None:
        check_batch_shape(ids_per_batch, images_per_id, "images_per_id")
        by_id: dict[int, list[int]] = {}
        for index, record in enumerate(records):
            by_id.setdefault(record.pid, []).append(index)
        groups = {pid: [np.asarray(ix, dtype=np.int64)] for pid, ix in by_id.items()}
        super().__init__(groups, ids_per_batch, images_per_id, seed)


class ImageCaptionSampler(IdentityBalancedSampler):
    """Text-image training: ``P`` identities x ``K`` (image, caption) records, ``P`` blocks of
    ``K`` indices. The records are one per (image, caption) (``reidkit.data.pedes``); a record
    without a caption is an error, so ``skipped_ids`` is empty."""

    def __init__(
        self,
        records: Sequence[Record],
        ids_per_batch: int,
        captions_per_id: int,
        seed: int = 0,
    ) -> None:
        check_batch_shape(ids_per_batch, captions_per_id, "captions_per_id")
        bare = [i for i, record in enumerate(records) if not record.caption]
        if bare:
            raise ValueError(
                f"{len(bare)} of {len(records)} records have no caption (first: index {bare[0]}, "
                f"{records[bare[0]].path!r}); text-image training needs one caption per record"
            )
        super().__init__(records, ids_per_batch, captions_per_id, seed)
        self.captions_per_id = captions_per_id


class CrossModalIdentitySampler(GroupedIdentitySampler):
    """``P`` identities x (``K`` images of ``modalities[0]`` + ``K`` of ``modalities[1]``).

    A batch is ``P`` blocks of ``2K`` indices: block ``j`` (one identity) holds its ``K``
    first-modality indices at ``[2Kj, 2Kj+K)`` and its ``K`` second-modality ones at
    ``[2Kj+K, 2K(j+1))``. Identities with images of only one of the two modalities are listed
    in ``skipped_ids``; records of any other modality are not used.
    """

    def __init__(
        self,
        records: Sequence[Record],
        ids_per_batch: int,
        images_per_id: int,
        seed: int = 0,
        modalities: tuple[str, str] = (VISIBLE, INFRARED),
    ) -> None:
        check_batch_shape(ids_per_batch, images_per_id, "images_per_id")
        first, second = modalities
        if first == second or not {first, second} <= set(MODALITIES):
            raise ValueError(
                f"modalities must be two different ones of {MODALITIES}, got {modalities}"
            )
        self.modalities = (first, second)
        by_id: dict[int, dict[str, list[int]]] = {}
        for index, record in enumerate(records):
            if record.modality in self.modalities:
                by_id.setdefault(record.pid, {first: [], second: []})[record.modality].append(index)
        groups = {
            pid: [np.asarray(ix[first], dtype=np.int64), np.asarray(ix[second], dtype=np.int64)]
            for pid, ix in by_id.items()
            if ix[first] and ix[second]
        }
        skipped = [pid for pid in by_id if pid not in groups]  # one of the two modalities only
        needs = f"both {first} and {second} images"
        super().__init__(groups, ids_per_batch, images_per_id, seed, skipped, needs)


class PairedCrossModalSampler(CrossModalIdentitySampler):
    """Paired cross-modal batches for CSET's similarity exchange (book/methods.md).

    The layout of ``CrossModalIdentitySampler`` (the same batches for the same arguments),
    read as pairs: in block ``j`` the ``k``-th ``modalities[0]`` image, at position
    ``2Kj + k``, pairs with the ``k``-th ``modalities[1]`` image of the same identity, at
    ``2Kj + K + k`` (``K = pairs_per_id``). ``pair_positions()`` gives these positions and
    ``pairs(batch)`` the dataset indices.
    """

    def __init__(
        self,
        records: Sequence[Record],
        ids_per_batch: int,
        pairs_per_id: int,
        seed: int = 0,
        modalities: tuple[str, str] = (VISIBLE, INFRARED),
    ) -> None:
        check_batch_shape(ids_per_batch, pairs_per_id, "pairs_per_id")
        super().__init__(records, ids_per_batch, pairs_per_id, seed, modalities)
        self.pairs_per_id = pairs_per_id

    def pair_positions(self) -> tuple[list[int], list[int]]:
        """Batch positions ``(first, second)``: row ``first[n]`` pairs with row ``second[n]``;
        ``P*K`` pairs, identity by identity."""
        k = self.pairs_per_id
        first = [2 * k * j + i for j in range(self.ids_per_batch) for i in range(k)]
        return first, [position + k for position in first]

    def pairs(self, batch: Sequence[int]) -> list[tuple[int, int]]:
        """The (``modalities[0]``, ``modalities[1]``) dataset-index pairs of ``batch``."""
        if len(batch) != self.batch_size:
            raise ValueError(
                f"a batch of this sampler has {self.batch_size} indices, got {len(batch)}"
            )
        first, second = self.pair_positions()
        return [(int(batch[a]), int(batch[b])) for a, b in zip(first, second)]
