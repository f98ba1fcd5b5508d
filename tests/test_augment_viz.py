"""Chapter 5's gallery: seeded draws, one slider step per augmentation, grey kept grey."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.augment import is_grey
from reidkit.viz.augment import augmentation_draws, augmentation_gallery

SIZE = (32, 16)


def images():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    grey = np.repeat(rng.integers(0, 256, (*SIZE, 1), dtype=np.uint8), 3, axis=2)
    return {"visible": Image.fromarray(colour), "infrared": Image.fromarray(grey)}


def test_draws_are_seeded_and_leave_the_global_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    first = augmentation_draws(images()["visible"], "trivial_augment", SIZE, draws=5, seed=1)
    assert torch.equal(torch.rand(2), expected)
    again = augmentation_draws(images()["visible"], "trivial_augment", SIZE, draws=5, seed=1)
    assert first.shape == (5, 3, *SIZE) and torch.equal(first, again)
    assert len({tuple(d.flatten()[:32].tolist()) for d in first}) > 1  # draws differ
    selected = augmentation_draws(images()["visible"], "channel_select", SIZE, draws=3)
    assert is_grey(selected, atol=1e-6)  # probability 1 in the gallery
    with pytest.raises(ValueError, match="draws must be >= 1"):
        augmentation_draws(images()["visible"], "flip", SIZE, draws=0)


def test_gallery_has_one_slider_step_per_augmentation():
    names = ["flip", "channel_select", "erasing"]
    fig = augmentation_gallery(images(), names, SIZE, draws=3)
    assert len(fig.data) == 2 + 3 * 2 * 3 and all(t.type == "image" for t in fig.data)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == names
    for n, step in enumerate(steps):
        visible = step.args[0]["visible"]
        assert visible[:2] == [True, True]  # the un-augmented images stay
        shown = [t.name for t, v in zip(fig.data, visible) if v][2:]
        assert len(shown) == 6 and all(s.startswith(names[n]) for s in shown)
    hovers = {t.name: t.hovertemplate for t in fig.data[2:]}
    assert "grey (R = G = B)" in hovers["channel_select infrared 1"]
    assert "colour" in hovers["erasing infrared 1"]  # torchvision's erasing colours infrared
    with pytest.raises(ValueError, match="at least one image"):
        augmentation_gallery({}, names, SIZE)
