"""The cross-modal identity-balanced sampler: balance, coverage, determinism, state."""

from collections import Counter

import pytest

from reidkit.data.records import Record
from reidkit.data.samplers import CrossModalIdentitySampler


def make_records(counts: dict[int, tuple[int, int]]) -> list[Record]:
    """``counts[pid] = (visible, infrared)`` images; modalities interleaved on purpose."""
    records = []
    for pid, (visible, infrared) in counts.items():
        records += [Record(f"v{pid}_{i}.jpg", pid, 1, "visible") for i in range(visible)]
        records += [Record(f"i{pid}_{i}.jpg", pid, 3, "infrared") for i in range(infrared)]
    return records


# Uneven on purpose: different sizes per identity and per modality, some below K.
COUNTS = {pid: (3 + pid % 5, 2 + (3 * pid) % 7) for pid in range(13)}
RECORDS = make_records(COUNTS)


def test_every_batch_is_balanced():
    sampler = CrossModalIdentitySampler(RECORDS, ids_per_batch=4, images_per_id=3, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) > 0
        for batch in batches:
            assert len(batch) == sampler.batch_size == 4 * 2 * 3
            pids = [RECORDS[i].pid for i in batch]
            assert len(set(pids)) == 4
            for start in range(0, len(batch), 6):  # K visible then K infrared per identity
                chunk = [RECORDS[i] for i in batch[start : start + 6]]
                assert len({r.pid for r in chunk}) == 1
                assert [r.modality for r in chunk] == ["visible"] * 3 + ["infrared"] * 3


def test_an_epoch_covers_every_image():
    sampler = CrossModalIdentitySampler(RECORDS, ids_per_batch=4, images_per_id=3, seed=5)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        seen = Counter(i for batch in sampler for i in batch)
        assert set(seen) == set(range(len(RECORDS)))


def test_order_is_fixed_by_seed_and_epoch():
    a = CrossModalIdentitySampler(RECORDS, 4, 2, seed=3)
    b = CrossModalIdentitySampler(RECORDS, 4, 2, seed=3)
    c = CrossModalIdentitySampler(RECORDS, 4, 2, seed=4)
    assert list(a) == list(b)
    assert list(a.batches(0)) != list(c.batches(0))
    assert a.batches(0) != a.batches(1)


def test_state_resumes_mid_epoch():
    sampler = CrossModalIdentitySampler(RECORDS, 4, 2, seed=7)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2)
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(3)]
    state = sampler.state_dict()
    assert state == {"seed": 7, "epoch": 2, "position": 3}
    resumed = CrossModalIdentitySampler(RECORDS, 4, 2, seed=7)
    resumed.load_state_dict(state)
    assert head + list(resumed) == full
    with pytest.raises(ValueError, match="seed 7"):
        CrossModalIdentitySampler(RECORDS, 4, 2, seed=8).load_state_dict(state)


def test_identities_with_one_modality_are_skipped_and_too_few_is_an_error():
    records = make_records({0: (2, 2), 1: (2, 0), 2: (2, 2)})
    sampler = CrossModalIdentitySampler(records, ids_per_batch=2, images_per_id=1)
    assert sampler.skipped_ids == [1]
    with pytest.raises(ValueError, match="at least ids_per_batch=3 identities"):
        CrossModalIdentitySampler(records, ids_per_batch=3, images_per_id=1)
