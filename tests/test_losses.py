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


def test_center_loss_hand_case():
    from reidkit.losses import CenterLoss, center_loss

    # Centers c0 = (0, 0), c1 = (1, 1). Features (3, 4) of class 0: |.|^2 = 25;
    # (1, 2) of class 1: |(0, 1)|^2 = 1; (0, 0) of class 1: 2. L = (25 + 1 + 2) / (2 * 3).
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    features = torch.tensor([[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    assert center_loss(features, labels, centers).item() == pytest.approx(28 / 6, abs=1e-6)
    module = CenterLoss(num_classes=2, dim=2)
    with torch.no_grad():
        module.centers.copy_(centers)
    loss = module(features, labels)
    assert loss.item() == pytest.approx(28 / 6, abs=1e-6)
    # d L / d c_k = sum over class k of (c_k - f_i) / B: c1 gets ((0, -1) + (1, 1)) / 3.
    loss.backward()
    assert module.centers.grad.tolist() == [
        pytest.approx([-1.0, -4 / 3], abs=1e-6),
        pytest.approx([1 / 3, 0.0], abs=1e-6),
    ]
    assert "num_classes=2, dim=2" in repr(module)


def test_center_loss_bad_input():
    from reidkit.losses import center_loss

    centers = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="same D"):
        center_loss(torch.zeros(2, 5), torch.tensor([0, 1]), centers)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        center_loss(torch.zeros(2, 4), torch.tensor([0, 1, 2]), centers)
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        center_loss(torch.zeros(2, 4), torch.tensor([0, 3]), centers)


def per_anchor_weighted_triplet(features, labels, margin):
    """An independent reference for eq. 15: one anchor at a time, plain Python sums."""
    losses = []
    for a in range(len(labels)):
        d = [torch.dist(features[a], features[j]).item() for j in range(len(labels))]
        pos = [d[j] for j in range(len(labels)) if j != a and labels[j] == labels[a]]
        neg = [d[j] for j in range(len(labels)) if labels[j] != labels[a]]
        if not pos or not neg:
            continue  # documented: such an anchor contributes nothing
        d_p = sum(math.exp(x) * x for x in pos) / sum(math.exp(x) for x in pos)
        d_n = sum(math.exp(-x) * x for x in neg) / sum(math.exp(-x) for x in neg)
        gap = d_p - d_n
        losses.append(math.log1p(math.exp(gap)) if margin is None else max(0.0, gap + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("margin", [None, 1.0, 0.3])
def test_adaptive_weight_triplet_matches_a_per_anchor_loop(margin):
    torch.manual_seed(3)
    # Mixed modality batch: 3 identities x (2 visible + 2 infrared) plus one lone identity
    # (no positive) whose image is still everybody else's negative.
    features = torch.randn(13, 6)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3])
    loss, _, _ = weighted_triplet(features, labels, margin)
    expected = per_anchor_weighted_triplet(features, labels, margin)
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_anchors_without_positives_or_negatives_contribute_nothing():
    # Identity 1 has one image: that anchor is left out; d_p reports 0 for it.
    points = torch.tensor([[0.0], [2.0], [7.0]])
    labels = torch.tensor([0, 0, 1])
    loss, d_p, d_n = weighted_triplet(points, labels, margin=1.0)
    # Anchor 0: d_p = 2, d_n = 7 -> 0; anchor 1: d_p = 2, d_n = 5 -> 0.
    assert loss.item() == 0.0 and d_p[2].item() == 0.0
    assert d_n.tolist() == pytest.approx(
        [7.0, 5.0, (7 * math.exp(-7) + 5 * math.exp(-5)) / (math.exp(-7) + math.exp(-5))], abs=1e-5
    )
    # Batch-hard, margin 4: anchor 0 gives [2 - 7 + 4]_+ = 0, anchor 1 [2 - 5 + 4]_+ = 1.
    assert batch_hard_triplet(points, labels, 4.0).item() == pytest.approx(0.5, abs=1e-6)
