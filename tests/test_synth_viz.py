"""Chapter 1's figures and widget."""

from __future__ import annotations

import pytest

from reidkit.data.synth import SyntheticPeople
from reidkit.eval import modality_gap, raw_pixel_extractor
from reidkit.viz.synth import (
    attribute_counts,
    attribute_figure,
    identity_browser_figure,
    identity_widget,
    image_grid_figure,
    retrieval_figure,
)


@pytest.fixture(scope="module")
def people():
    return SyntheticPeople(seed=0, profile="smoke")


def test_identity_browser_has_one_slider_step_per_identity(people):
    fig = identity_browser_figure(people, [0, 1, 2])
    assert len(fig.data) == 18 and all(t.type == "image" for t in fig.data)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "1", "2"]
    for n, step in enumerate(steps):
        visible = step.args[0]["visible"]
        assert sum(visible) == 6 and all(visible[6 * n : 6 * n + 6])
        assert step.args[1]["title.text"].startswith(f"#{n}:")
    assert [t.visible for t in fig.data[:7]] == [True] * 6 + [False]
    assert fig.data[0].source.startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        identity_browser_figure(people, [])


def test_identity_widget_updates_on_the_slider(people):
    box = identity_widget(people, [0, 1])
    controls, images, text = box.children
    pid_slider = controls.children[0]
    before = [column.children[1].value for column in images.children]
    caption_before = text.value
    pid_slider.value = 1
    after = [column.children[1].value for column in images.children]
    assert before != after and text.value != caption_before and "#1:" in text.value


def test_attribute_and_retrieval_figures(people):
    counts = attribute_counts(people, people.train_pids)
    assert sum(counts["bag"].values()) == people.train_ids
    assert len(attribute_figure(people, people.train_pids).data) == len(counts)
    result = modality_gap(raw_pixel_extractor((64, 32)), people.test_records())
    fig = retrieval_figure(result)
    assert len(fig.data) == 4 and list(fig.data[0].x) == ["V->V", "IR->V", "IR->IR"]
    assert fig.data[0].y[0] == pytest.approx(100 * result["V->V"]["R1"])
    assert fig.data[1].y[1] == pytest.approx(100 * result["IR->V"]["chance_R1"])


def test_image_grid_figure(people):
    images = [people.render(0, cam) for cam in (1, 3)]
    assert len(image_grid_figure(images, ["a", "b"], cols=2).data) == 2
    with pytest.raises(ValueError, match="as many titles"):
        image_grid_figure(images, ["a"], cols=2)


def test_label_map_image_and_folder_tree(people, tmp_path):
    import numpy as np

    from reidkit.data.synth.body import NUM_LABELS
    from reidkit.viz.synth import folder_tree, label_map_image

    labels = np.arange(NUM_LABELS, dtype=np.uint8).reshape(1, -1).repeat(2, axis=0)
    assert label_map_image(labels).size == (NUM_LABELS, 2)
    with pytest.raises(ValueError, match="labels"):
        label_map_image(labels + NUM_LABELS)
    for name in ("b", "a", "c"):
        (tmp_path / "top" / name).mkdir(parents=True)
    (tmp_path / "top" / "a" / "x.txt").write_text("x")
    assert folder_tree(tmp_path / "top", limit=2).splitlines() == [
        "top/",
        "    a/",
        "        x.txt",
        "    b/",
        "    ... (1 more)",
    ]
