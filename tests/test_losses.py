"""Losses against cases worked out by hand (numbers in the comments)."""

import math

import pytest
import torch
import torch.nn.functional as F

from reidkit.losses import (
    BatchHardTripletLoss,
    LabelSmoothingCrossEntropy,
    WeightedRegularizationTripletLoss,
    batch_hard_triplet,
    label_smoothing_cross_entropy,
    pairwise_euclidean,
    weighted_triplet,
)


def test_label_smoothing_hand_case():
    # logits (ln 2, 0, 0): p = (1/2, 1/4, 1/4). True class 0, eps 0.1, C 3:
    # q = (0.9 + 0.1/3, 0.1/3, 0.1/3); loss = q0 ln 2 + (q1 + q2) ln 4
    #   = 0.93333 * 0.693147 + 0.066667 * 1.386294 = 0.739357
    logits = torch.tensor([[math.log(2.0), 0.0, 0.0]])
    loss = label_smoothing_cross_entropy(logits, torch.tensor([0]), epsilon=0.1)
    assert loss.item() == pytest.approx(0.739357, abs=1e-5)
    # Without smoothing it is plain cross-entropy: -ln(1/2).
    plain = label_smoothing_cross_entropy(logits, torch.tensor([0]), epsilon=0.0)
    assert plain.item() == pytest.approx(math.log(2.0), abs=1e-6)
    # Uniform logits: every q gives ln 3.
    uniform = LabelSmoothingCrossEntropy(0.1)(torch.zeros(2, 3), torch.tensor([1, 2]))
    assert uniform.item() == pytest.approx(math.log(3.0), abs=1e-6)


def test_label_smoothing_matches_torch_definition():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    ours = label_smoothing_cross_entropy(logits, targets, 0.1)
    theirs = F.cross_entropy(logits, targets, label_smoothing=0.1)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)


def test_label_smoothing_bad_shapes():
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\)"):
        label_smoothing_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="epsilon"):
        label_smoothing_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), epsilon=1.0)


def test_pairwise_euclidean_hand_case():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    d = pairwise_euclidean(points)
    assert d[0, 1].item() == pytest.approx(5.0, abs=1e-5)
    assert d[0, 2].item() == pytest.approx(1.0, abs=1e-5)
    assert d[1, 2].item() == pytest.approx(math.sqrt(18.0), abs=1e-5)
    assert torch.allclose(d, d.t())
    with pytest.raises(ValueError, match="same D"):
        pairwise_euclidean(points, torch.zeros(2, 3))


# A 1-D batch (second coordinate 0): identity 0 at x = 0, 1, 3 and identity 1 at x = 5.
LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
LINE_LABELS = torch.tensor([0, 0, 0, 1])


def test_batch_hard_hand_case():
    # Anchor x=0: hardest positive 3, hardest negative 5 -> max(0, 3 - 5 + 0.3) = 0
    # Anchor x=1: positives at distance 1 and 2 -> 2; negative 4 -> max(0, -1.7) = 0
    # Anchor x=3: positives 3 and 2 -> 3; negative 2 -> 3 - 2 + 0.3 = 1.3
    # Anchor x=5: no positive, left out. Mean over three anchors: 1.3 / 3.
    loss = batch_hard_triplet(LINE, LINE_LABELS, margin=0.3)
    assert loss.item() == pytest.approx(1.3 / 3, abs=1e-5)


def test_batch_hard_two_dimensional_case():
    # (0,0),(3,4) are identity 0; (0,1),(0,-2) identity 1. Distances: 5, 1, 2, sqrt 18,
    # sqrt 45, 3. Per anchor: 5-1+.3 = 4.3; 5-sqrt18+.3; 3-1+.3 = 2.3; 3-2+.3 = 1.3.
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [0.0, -2.0]])
    expected = (4.3 + (5.3 - math.sqrt(18.0)) + 2.3 + 1.3) / 4
    loss = BatchHardTripletLoss(0.3)(points, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_weighted_triplet_hand_case():
    e = math.e
    # Anchor x=0: positives at 1 and 3, weights e^1 and e^3 (softmax of d) -> d_p below;
    # its only negative is at 5 -> d_n = 5.
    dp0 = (1 * e + 3 * e**3) / (e + e**3)  # = 2.761594
    # Anchor x=1: positives at 1 and 2; negative at 4.
    dp1 = (1 * e + 2 * e**2) / (e + e**2)  # = 1.731059
    # Anchor x=3: positives at 3 and 2; negative at 2.
    dp2 = (3 * e**3 + 2 * e**2) / (e**3 + e**2)  # = 2.731059
    assert dp0 == pytest.approx(2.761594, abs=1e-6)
    loss, d_p, d_n = weighted_triplet(LINE, LINE_LABELS)
    assert d_p[:3].tolist() == pytest.approx([dp0, dp1, dp2], abs=1e-5)
    assert d_n[:3].tolist() == pytest.approx([5.0, 4.0, 2.0], abs=1e-5)
    soft = [math.log1p(math.exp(dp - dn)) for dp, dn in zip([dp0, dp1, dp2], [5, 4, 2])]
    assert loss.item() == pytest.approx(sum(soft) / 3, abs=1e-5)
    hinge = WeightedRegularizationTripletLoss(margin=0.3)(LINE, LINE_LABELS)
    hinges = [max(0.0, dp - dn + 0.3) for dp, dn in zip([dp0, dp1, dp2], [5, 4, 2])]
    assert hinge.item() == pytest.approx(sum(hinges) / 3, abs=1e-5)


def test_weighted_triplet_negative_weights_favour_near_negatives():
    # Anchor (0,0) of identity 0, its positive at (1,0); negatives at distance 1 and 2:
    # weights e^-1 : e^-2, so d_n = (1 e^-1 + 2 e^-2) / (e^-1 + e^-2) = 1.268941.
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -2.0]])
    _, _, d_n = weighted_triplet(points, torch.tensor([0, 0, 1, 2]))
    assert d_n[0].item() == pytest.approx(1.268941, abs=1e-5)


def test_triplet_losses_need_positives_and_negatives():
    with pytest.raises(ValueError, match="both a positive and a negative"):
        batch_hard_triplet(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="both a positive and a negative"):
        weighted_triplet(torch.randn(3, 4), torch.tensor([0, 0, 0]))


def test_triplet_gradients_are_finite_with_duplicate_points():
    features = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    (batch_hard_triplet(features, labels) + weighted_triplet(features, labels)[0]).backward()
    assert torch.isfinite(features.grad).all()


def test_weighted_triplet_anchor_as_its_own_positive():
    e = math.e
    # Chapter 4's example. Anchor x=0 without itself: positives at 1 and 3 -> d_p = 2.7616;
    # with itself (AGW's public code) positives at 0, 1 and 3, weights e^0, e^1, e^3:
    dp0 = (0 * 1 + 1 * e + 3 * e**3) / (1 + e + e**3)  # = 2.645579
    assert dp0 == pytest.approx(2.6456, abs=5e-5)
    _, without, _ = weighted_triplet(LINE, LINE_LABELS)
    loss, d_p, d_n = weighted_triplet(LINE, LINE_LABELS, anchor_as_positive=True)
    assert without[0].item() == pytest.approx(2.7616, abs=5e-5)
    assert d_p[0].item() == pytest.approx(dp0, abs=1e-5)
    # Anchor x=1: positives at 0 (itself), 1 and 2; x=3: at 0, 2 and 3.
    dp1 = (1 * e + 2 * e**2) / (1 + e + e**2)  # = 1.575210
    dp2 = (2 * e**2 + 3 * e**3) / (1 + e**2 + e**3)  # = 2.635146
    # Anchor x=5 is alone in identity 1: d_p = 0 (itself), and now it counts; its negatives
    # at 5, 4 and 2 get weights e^-5, e^-4, e^-2.
    dn3 = (5 * e**-5 + 4 * e**-4 + 2 * e**-2) / (e**-5 + e**-4 + e**-2)  # = 2.354421
    assert d_p.tolist() == pytest.approx([dp0, dp1, dp2, 0.0], abs=1e-5)
    assert d_n.tolist() == pytest.approx([5.0, 4.0, 2.0, dn3], abs=1e-5)
    soft = [math.log1p(math.exp(p - n)) for p, n in zip([dp0, dp1, dp2, 0], [5, 4, 2, dn3])]
    assert loss.item() == pytest.approx(sum(soft) / 4, abs=1e-5)
    module = WeightedRegularizationTripletLoss(margin=1.0, anchor_as_positive=True)
    hinges = [max(0.0, p - n + 1.0) for p, n in zip([dp0, dp1, dp2, 0], [5, 4, 2, dn3])]
    assert module(LINE, LINE_LABELS).item() == pytest.approx(sum(hinges) / 4, abs=1e-5)
    assert "anchor_as_positive=True" in repr(module)
