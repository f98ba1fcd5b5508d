"""Chapter 8's triplet-weights view: one trace per anchor, weights that sum to 1 on each side,
the losses in the title agree with reidkit.losses, and bad input is refused."""

import math

import pytest
import torch

from reidkit.losses import batch_hard_triplet, weighted_triplet
from reidkit.viz.losses import anchor_summary, triplet_weights_figure

POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 0.0], [2.0, 2.0]])
LABELS = torch.tensor([0, 0, 0, 1, 1])


def test_anchor_summary_by_hand():
    s = anchor_summary(POINTS, LABELS, 0, margin=1.0)
    # positives at 1 and 3: weights e^1, e^3 over their sum; negatives at 2 and sqrt(8)
    e1, e3 = math.exp(1), math.exp(3)
    assert s["weights"][1] == pytest.approx(e1 / (e1 + e3), abs=1e-5)
    assert s["d_p"] == pytest.approx((e1 + 3 * e3) / (e1 + e3), abs=1e-5)
    n1, n2 = math.exp(-2), math.exp(-math.sqrt(8))
    assert s["d_n"] == pytest.approx((2 * n1 + math.sqrt(8) * n2) / (n1 + n2), abs=1e-5)
    assert s["hinge"] == pytest.approx(max(0, s["d_p"] - s["d_n"] + 1), abs=1e-6)
    assert s["batch_hard"] == pytest.approx(3 - 2 + 1, abs=1e-5)
    assert s["positive"] == [False, True, True, False, False]


def test_summaries_average_to_the_library_losses():
    summaries = [anchor_summary(POINTS, LABELS, a, margin=0.5) for a in range(len(POINTS))]
    for s in summaries:
        pos = sum(w for w, p in zip(s["weights"], s["positive"]) if p)
        neg = sum(w for w, p in zip(s["weights"], s["positive"]) if not p)
        assert pos == pytest.approx(1.0) and neg == pytest.approx(1.0)
    mean = lambda key: sum(s[key] for s in summaries) / len(summaries)  # noqa: E731
    assert mean("hinge") == pytest.approx(float(weighted_triplet(POINTS, LABELS, 0.5)[0]))
    assert mean("soft") == pytest.approx(float(weighted_triplet(POINTS, LABELS)[0]))
    assert mean("batch_hard") == pytest.approx(float(batch_hard_triplet(POINTS, LABELS, 0.5)))


def test_figure_has_one_trace_and_one_slider_step_per_anchor():
    fig = triplet_weights_figure(POINTS, LABELS)
    assert len(fig.data) == len(fig.layout.sliders[0].steps) == len(POINTS)
    assert [t.visible for t in fig.data] == [True] + [False] * 4
    step = fig.layout.sliders[0].steps[3]
    assert step.args[0]["visible"] == [False, False, False, True, False]
    assert step.args[1]["title.text"].startswith("anchor 3: d_p =")
    assert fig.data[0].marker.symbol[0] == "star"


def test_an_anchor_alone_in_its_identity_is_said_not_to_count():
    fig = triplet_weights_figure(POINTS, torch.tensor([0, 0, 0, 0, 1]))
    assert "does not count" in fig.layout.sliders[0].steps[4].args[1]["title.text"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"2-D points \(B, 2\), got \(5, 3\)"):
        triplet_weights_figure(torch.zeros(5, 3), LABELS)
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        triplet_weights_figure(POINTS, LABELS[:4])
