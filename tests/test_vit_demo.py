"""Chapter 3's short identity-classification run and its figure."""

from __future__ import annotations

import pytest
import torch

from reidkit.data.records import Record
from reidkit.data.synth import VISIBLE_CAMERAS, SyntheticPeople
from reidkit.models import create_vit
from reidkit.models.vit_demo import identity_batches, train_identity_classifier
from reidkit.profiles import get_profile
from reidkit.viz.vit_demo import classifier_curve_figure


def test_identity_batches_show_every_identity_once_per_epoch() -> None:
    records = [Record(f"x{i}", pid, 1, "visible") for i, pid in enumerate([0, 0, 1, 2, 2, 2, 3])]
    batches = list(identity_batches(records, 2, 3, torch.Generator().manual_seed(0)))
    assert len(batches) == 2 and all(len(b) == 6 for b in batches)
    pids = [[records[i].pid for i in b] for b in batches]
    assert sorted(p for b in pids for p in set(b)) == [0, 1, 2, 3]
    for b in pids:  # K images of each of the P identities, in blocks
        assert b[0] == b[1] == b[2] and b[3] == b[4] == b[5]


def test_short_run_records_every_step_and_learns_a_tiny_set() -> None:
    profile = get_profile("smoke").replace(epochs=8, train_ids=4, ids_per_batch=4, lr=2e-3)
    people = SyntheticPeople(seed=0, profile=profile)
    records = people.records(people.train_pids, cameras=VISIBLE_CAMERAS)
    torch.manual_seed(0)
    model = create_vit(profile.vit, img_size=profile.img_size, num_classes=4)
    seen = []
    history = train_identity_classifier(model, records, profile, callback=seen.append)
    assert seen == history and len(history) == 8
    assert [r["step"] for r in history] == list(range(1, 9))
    first, last = history[0]["loss"], sum(r["loss"] for r in history[-2:]) / 2
    assert last < first
    assert not model.training
    fig = classifier_curve_figure(history)
    assert list(fig.data[0].y) == [r["loss"] for r in history]
    with pytest.raises(ValueError, match="5 classes but the records hold 4"):
        train_identity_classifier(create_vit("vit_nano", (64, 32), 5), records, profile)
