"""Chapter 3's short identity-classification run and its figure."""

from __future__ import annotations

import pytest
import torch

from reidkit.data.records import Record
from reidkit.data.samplers import IdentityBalancedSampler
from reidkit.data.synth import VISIBLE_CAMERAS, SyntheticPeople
from reidkit.models import create_vit
from reidkit.profiles import get_profile
from reidkit.train.classifier import (
    batch_stream,
    evaluate_identity_classifier,
    train_identity_classifier,
)
from reidkit.viz.classifier import classifier_curve_figure


def test_the_stream_runs_the_sampler_epochs_one_after_the_other() -> None:
    records = [Record(f"x{i}", pid, 1, "visible") for i, pid in enumerate([0, 0, 1, 2, 2, 2, 3])]
    sampler = IdentityBalancedSampler(records, 2, 2, seed=4)
    expected = sampler.batches(0) + sampler.batches(1) + sampler.batches(2)[:1]
    stream = batch_stream(sampler)
    assert [next(stream) for _ in range(len(expected))] == expected
    assert (sampler.epoch, sampler.position) == (2, 1)


def test_short_run_records_every_step_and_learns_a_tiny_set() -> None:
    profile = get_profile("smoke").replace(epochs=8, train_ids=4, ids_per_batch=4, lr=2e-3)
    people = SyntheticPeople(seed=0, profile=profile)
    records = people.records(people.train_pids, cameras=VISIBLE_CAMERAS)
    torch.manual_seed(0)
    model = create_vit(profile.vit, img_size=profile.img_size, num_classes=4)
    seen = []
    history = train_identity_classifier(model, records, profile, callback=seen.append)
    assert seen == history and len(history) == 8  # 4 identities // P=4: one step an epoch
    assert [r["step"] for r in history] == list(range(1, 9))
    assert [r["epoch"] for r in history] == list(range(1, 9))
    lrs = [r["lr"] for r in history]  # warm-up over 0.8 epochs, then cosine down
    assert lrs[0] < lrs[1] and lrs[1] == pytest.approx(3e-4, rel=0.05)
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:]))
    first, last = history[0]["loss"], sum(r["loss"] for r in history[-2:]) / 2
    assert last < first
    assert not model.training
    fig = classifier_curve_figure(history)
    assert list(fig.data[0].y) == [r["loss"] for r in history]
    with pytest.raises(ValueError, match="5 classes but the records hold 4"):
        train_identity_classifier(create_vit("vit_nano", (64, 32), 5), records, profile)
    with pytest.raises(ValueError, match="at least ids_per_batch=5 identities.*found 4"):
        train_identity_classifier(model, records, profile.replace(ids_per_batch=5))


def test_a_run_of_given_steps_learns_and_held_out_images_are_scored() -> None:
    profile = get_profile("smoke").replace(epochs=4, ids_per_batch=2, images_per_camera=3)
    people = SyntheticPeople(seed=0, profile=profile)
    pids = people.train_pids[:2]
    records = people.records(pids, cameras=VISIBLE_CAMERAS, images=range(2))
    held_out = people.records(pids, cameras=VISIBLE_CAMERAS, images=[2])
    assert {r.path for r in records}.isdisjoint(r.path for r in held_out)
    assert len(records) == 2 * len(held_out)
    torch.manual_seed(0)
    model = create_vit(profile.vit, img_size=profile.img_size, num_classes=2)
    before = evaluate_identity_classifier(model, held_out, pids, profile.img_size, batch_size=3)
    history = train_identity_classifier(model, records, profile, lr=2e-3, steps=10)
    assert len(history) == 10 and history[-1]["step"] == 10
    # 10 steps shown as 4 epochs of 2.5 steps: 3, 2, 3, 2 steps
    assert [r["epoch"] for r in history] == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4]
    after = evaluate_identity_classifier(model, held_out, pids, profile.img_size)
    assert after["loss"] < before["loss"]
    assert 0.0 <= after["accuracy"] <= 1.0 and not model.training
    with pytest.raises(ValueError, match="steps must be a positive"):
        train_identity_classifier(model, records, profile, steps=0)
    with pytest.raises(ValueError, match=r"identities \[5\] that are not among the classes"):
        evaluate_identity_classifier(model, people.records([5]), pids, profile.img_size)
    with pytest.raises(ValueError, match=r"images: indices must lie in 0..2"):
        people.records(pids, images=[3])
