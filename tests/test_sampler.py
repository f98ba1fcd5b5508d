"""The batch samplers: pinned batches, balance, coverage, determinism, exact resume, errors."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from reidkit.data.records import Record
from reidkit.data.samplers import (
    CrossModalIdentitySampler,
    IdentityBalancedSampler,
    ImageCaptionSampler,
    PairedCrossModalSampler,
    ResumableBatchSampler,
)


def make_records(counts: dict[int, tuple[int, int]], second: str = "infrared") -> list[Record]:
    """``counts[pid] = (visible, second-modality)`` images, identity by identity."""
    records = []
    for pid, (visible, other) in counts.items():
        records += [Record(f"v{pid}_{i}.jpg", pid, 1, "visible") for i in range(visible)]
        records += [Record(f"o{pid}_{i}.jpg", pid, 3, second) for i in range(other)]
    return records


def make_caption_records(images: dict[int, int]) -> list[Record]:
    """``images[pid]`` images per identity, 1 to 3 captions each: one record per caption."""
    records = []
    for pid, count in images.items():
        for image in range(count):
            path = f"p{pid}_{image}.jpg"
            records += [
                Record(path, pid, 0, "visible", f"caption {c} of {path}")
                for c in range(1 + (pid + image) % 3)
            ]
    return records


# Uneven on purpose: different sizes per identity and per modality, some below K.
COUNTS = {pid: (3 + pid % 5, 2 + (3 * pid) % 7) for pid in range(13)}
RECORDS = make_records(COUNTS)
XRAY_RECORDS = make_records(COUNTS, second="xray")
CAPTION_RECORDS = make_caption_records({pid: 1 + pid % 4 for pid in range(11)})
# Modality-agnostic: visible, infrared and X-ray images of identities of 1 to 9 images.
MIXED_RECORDS = RECORDS[: len(RECORDS) // 2] + make_records(
    {20 + p: (p, 1) for p in range(9)}, "xray"
)


def hash_batches(sampler: ResumableBatchSampler, epochs: Sequence[int]) -> str:
    digest = hashlib.sha256()
    for epoch in epochs:
        digest.update(json.dumps(sampler.batches(epoch)).encode())
    return digest.hexdigest()


def test_cross_modal_batches_are_pinned() -> None:
    """The demo's metrics depend on these batches: they must never change.

    Both digests were computed with the sampler as it was at commit 112d22c (before the
    samplers shared a base class), by running exactly this test's code on that version.
    """
    extra = RECORDS + make_records({13: (2, 0), 14: (0, 3)}) + [Record("x.jpg", 2, 1, "xray")]
    sampler = CrossModalIdentitySampler(extra, 3, 2, seed=11)
    assert sampler.skipped_ids == [13, 14]
    assert hash_batches(sampler, (0, 5)) == (
        "a27841cdd04957386a308254968f825067114c1faad413f7b0bd873db6e1a6e1"
    )
    chained = hashlib.sha256()
    for p, k, seed in [(4, 3, 1), (4, 2, 7), (2, 1, 0), (6, 4, 3)]:
        sampler = CrossModalIdentitySampler(RECORDS, p, k, seed=seed)
        for epoch in range(3):
            chained.update(json.dumps(sampler.batches(epoch)).encode())
    assert chained.hexdigest() == (
        "c9f36f5cd17bb8168161a7615dd479087861005fc42a0b3d47f84bfaab11d1a0"
    )


class Case:
    """One sampler on its records, with what one identity's block of a batch must look like."""

    def __init__(
        self,
        name: str,
        records: list[Record],
        make: Callable[..., ResumableBatchSampler],
        pattern: Callable[[int], list[str]],
        used: Callable[[Record], bool] = lambda record: True,
    ) -> None:
        self.name, self.records, self.make = name, records, make
        self.pattern = pattern  # K -> the modalities of a block, in order
        self.used = used  # which records an epoch must cover

    def __repr__(self) -> str:
        return self.name


def cross_modal_pattern(second: str) -> Callable[[int], list[str]]:
    return lambda k: ["visible"] * k + [second] * k


CASES = [
    Case(
        "identity_balanced",
        MIXED_RECORDS,
        lambda seed=0, p=4, k=3: IdentityBalancedSampler(MIXED_RECORDS, p, k, seed=seed),
        lambda k: [],
    ),
    Case(
        "image_caption",
        CAPTION_RECORDS,
        lambda seed=0, p=3, k=2: ImageCaptionSampler(CAPTION_RECORDS, p, k, seed=seed),
        lambda k: ["visible"] * k,
    ),
    Case(
        "cross_modal",
        RECORDS,
        lambda seed=0, p=4, k=3: CrossModalIdentitySampler(RECORDS, p, k, seed=seed),
        cross_modal_pattern("infrared"),
    ),
    Case(
        "cross_modal_xray",
        XRAY_RECORDS + RECORDS[:5],  # a few infrared records, which it must leave out
        lambda seed=0, p=4, k=3: CrossModalIdentitySampler(
            XRAY_RECORDS + RECORDS[:5], p, k, seed=seed, modalities=("visible", "xray")
        ),
        cross_modal_pattern("xray"),
        used=lambda record: record.modality != "infrared",
    ),
    Case(
        "paired",
        RECORDS,
        lambda seed=0, p=3, k=2: PairedCrossModalSampler(RECORDS, p, k, seed=seed),
        cross_modal_pattern("infrared"),
    ),
]


def blocks(case: Case, sampler, batch: list[int]) -> list[list[Record]]:
    """A batch cut into its ``P`` identity blocks."""
    size = len(batch) // sampler.ids_per_batch
    return [[case.records[i] for i in batch[s : s + size]] for s in range(0, len(batch), size)]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_batch_is_balanced(case: Case) -> None:
    sampler = case.make(seed=1)
    k = sampler.images_per_id
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == len(sampler.batches(epoch)) > 0
        for batch in batches:
            assert len(batch) == sampler.batch_size
            parts = blocks(case, sampler, batch)
            assert len(parts) == sampler.ids_per_batch
            assert len({part[0].pid for part in parts}) == sampler.ids_per_batch  # distinct
            for part in parts:
                assert {r.pid for r in part} == {part[0].pid}
                assert len(part) == max(k, len(case.pattern(k)))
                if case.pattern(k):
                    assert [r.modality for r in part] == case.pattern(k)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_an_epoch_covers_every_record(case: Case) -> None:
    sampler = case.make(seed=5)
    expected = {i for i, r in enumerate(case.records) if case.used(r)}
    for epoch in range(3):
        sampler.set_epoch(epoch)
        assert {i for batch in sampler for i in batch} == expected


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_order_is_fixed_by_seed_and_epoch(case: Case) -> None:
    a, b, c = case.make(seed=3), case.make(seed=3), case.make(seed=4)
    assert list(a) == list(b) == a.batches(0)
    assert a.batches(1) == b.batches(1)
    assert a.batches(0) != c.batches(0)
    assert a.batches(0) != a.batches(1)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_state_resumes_exactly_mid_epoch(case: Case) -> None:
    sampler = case.make(seed=7)
    sampler.set_epoch(2)
    full = list(sampler)
    assert len(full) >= 3
    for cut in (0, 1, len(full) // 2, len(full) - 1, len(full)):
        sampler.set_epoch(2)
        iterator = iter(sampler)
        head = [next(iterator) for _ in range(cut)]
        state = sampler.state_dict()
        assert state == {"seed": 7, "epoch": 2, "position": cut}
        resumed = case.make(seed=7)
        resumed.load_state_dict(state)
        assert len(resumed) == len(full)
        assert head + list(resumed) == full
        assert resumed.position == len(full)  # the epoch is used up until set_epoch
        assert list(resumed) == []
    with pytest.raises(ValueError, match="saved with seed 7, this sampler has 8"):
        case.make(seed=8).load_state_dict(state)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_sizes_and_too_few_identities_are_named(case: Case) -> None:
    name = {"image_caption": "captions_per_id", "paired": "pairs_per_id"}.get(
        case.name, "images_per_id"
    )
    with pytest.raises(ValueError, match="ids_per_batch must be at least 2.*got 1"):
        case.make(p=1, k=2)
    with pytest.raises(ValueError, match=f"{name} must be at least 1, got 0"):
        case.make(p=2, k=0)
    identities = len({r.pid for r in case.records if case.used(r)})
    with pytest.raises(
        ValueError, match=f"at least ids_per_batch=40 identities.*found {identities}"
    ):
        case.make(p=40, k=2)


def test_loading_a_state_checks_the_position_against_its_own_epoch() -> None:
    sampler = CrossModalIdentitySampler(RECORDS, 4, 2, seed=7)
    long, short = len(sampler.batches(0)), len(sampler.batches(1))
    assert long == short + 1  # these two epochs differ in length (top-ups vary)
    sampler.set_epoch(1)
    sampler.load_state_dict({"seed": 7, "epoch": 0, "position": long})
    assert (sampler.epoch, sampler.position, len(sampler)) == (0, long, long)
    with pytest.raises(ValueError, match=f"position {long} is outside 0..{short}.*epoch 1"):
        sampler.load_state_dict({"seed": 7, "epoch": 1, "position": long})
    with pytest.raises(ValueError, match=r"lacks \['position'\]"):
        sampler.load_state_dict({"seed": 7, "epoch": 1})


def test_cross_modal_skips_identities_with_one_modality_and_names_them() -> None:
    records = make_records({0: (2, 2), 1: (2, 0), 2: (2, 2), 3: (0, 1)})
    sampler = CrossModalIdentitySampler(records, ids_per_batch=2, images_per_id=1)
    assert sampler.skipped_ids == [1, 3]
    assert {records[i].pid for i in sampler.batches(0)[0]} <= {0, 2}
    with pytest.raises(
        ValueError, match=r"visible and infrared images, found 2; 2 skipped: \[1, 3\]"
    ):
        CrossModalIdentitySampler(records, ids_per_batch=3, images_per_id=1)
    with pytest.raises(ValueError, match="two different ones of"):
        CrossModalIdentitySampler(records, 2, 1, modalities=("visible", "visible"))
    with pytest.raises(ValueError, match="two different ones of"):
        CrossModalIdentitySampler(records, 2, 1, modalities=("visible", "thermal"))


def test_paired_sampler_pairs_the_kth_images_of_an_identity() -> None:
    sampler = PairedCrossModalSampler(RECORDS, ids_per_batch=2, pairs_per_id=2, seed=3)
    assert sampler.pair_positions() == ([0, 1, 4, 5], [2, 3, 6, 7])
    # the same batches as the cross-modal sampler: the layout already pairs k-th with k-th
    assert sampler.batches(4) == CrossModalIdentitySampler(RECORDS, 2, 2, seed=3).batches(4)
    for batch in sampler.batches(0):
        pairs = sampler.pairs(batch)
        assert len(pairs) == 2 * 2
        assert pairs == [
            (batch[0], batch[2]),
            (batch[1], batch[3]),
            (batch[4], batch[6]),
            (batch[5], batch[7]),
        ]
        for first, second in pairs:
            assert RECORDS[first].pid == RECORDS[second].pid
            assert (RECORDS[first].modality, RECORDS[second].modality) == ("visible", "infrared")
    with pytest.raises(ValueError, match="has 8 indices, got 3"):
        sampler.pairs([0, 1, 2])


def test_identity_balanced_redraws_for_small_identities_and_skips_nobody() -> None:
    sampler = IdentityBalancedSampler(MIXED_RECORDS, ids_per_batch=4, images_per_id=3)
    assert sampler.skipped_ids == [] and sampler.batch_size == 12
    lonely = [i for i, r in enumerate(MIXED_RECORDS) if r.pid == 20]  # one image only
    assert len(lonely) == 1
    blocks_of_20 = [b[s : s + 3] for b in sampler.batches(0) for s in range(0, 12, 3)]
    assert [lonely * 3] == [block for block in blocks_of_20 if MIXED_RECORDS[block[0]].pid == 20]
    # every modality is used, as the records give them
    assert {MIXED_RECORDS[i].modality for b in sampler.batches(0) for i in b} == {
        "visible",
        "infrared",
        "xray",
    }


def test_image_caption_sampler_needs_a_caption_on_every_record() -> None:
    records = CAPTION_RECORDS + [Record("bare.jpg", 0, 0, "visible")]
    with pytest.raises(ValueError, match="1 of .* records have no caption.*'bare.jpg'"):
        ImageCaptionSampler(records, 3, 2)
    sampler = ImageCaptionSampler(CAPTION_RECORDS, ids_per_batch=3, captions_per_id=2)
    assert sampler.batch_size == 6 and sampler.captions_per_id == 2
    used = Counter(i for b in sampler.batches(0) for i in b)
    assert set(used) == set(range(len(CAPTION_RECORDS)))
