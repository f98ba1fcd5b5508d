"""CMSN's CRIA and semi-positive triplet losses against cases worked out by hand."""

import math

import pytest
import torch

from reidkit.losses import cria_loss, semi_positive_triplet


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def unit(row: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in row))
    return [v / norm for v in row]


def spt_by_definition(image, text, labels, margin=0.3, semi_margin=0.1) -> float:
    """The semi-positive triplet written out anchor by anchor, in plain Python."""
    image = [unit(r) for r in image.tolist()]
    text = [unit(r) for r in text.tolist()]
    labels = labels.tolist()
    b = len(labels)

    def direction(anchors, items):
        total = 0.0
        for i in range(b):
            s = [sum(x * y for x, y in zip(anchors[i], items[j])) for j in range(b)]
            negatives = [s[n] for n in range(b) if labels[n] != labels[i]]
            if not negatives:
                continue
            h = max(negatives)
            loss = max(0.0, margin - s[i] + h)
            semis = [j for j in range(b) if j != i and labels[j] == labels[i]]
            if semis:
                loss += sum(max(0.0, semi_margin - s[j] + h) for j in semis) / len(semis)
            total += loss
        return total / b

    return direction(image, text) + direction(text, image)


# --- CRIA ---------------------------------------------------------------------------------


def test_cria_two_identities_by_hand():
    # Identity 5, two rows; identity 9, a single row. Inputs are NOT unit length: after
    # normalisation image = (1, 0), (0, 1), (0.6, 0.8); text = (1, 0), (1, 0), (0.8, 0.6);
    # combined = (0, 1), (0, 1), (0.6, 0.8).
    image = t([[3, 0], [0, 2], [3, 4]])
    text = t([[0.5, 0], [2, 0], [4, 3]])
    combined = t([[0, 7], [0, 1], [6, 8]])
    labels = torch.tensor([5, 5, 9])
    # Identity 5: c_img = (0.5, 0.5), c_txt = (1, 0), c_comb = (0, 1)
    #   |c_img - c_txt|^2 = 0.25 + 0.25 = 0.5; |c_img - c_comb|^2 = 0.5; |c_txt - c_comb|^2 = 2
    #   -> 3.0
    # Identity 9: c_img = (0.6, 0.8), c_txt = (0.8, 0.6), c_comb = (0.6, 0.8)
    #   0.04 + 0.04 = 0.08; 0; 0.08 -> 0.16
    # Mean over the two identities (not over the three rows): (3.0 + 0.16) / 2 = 1.58.
    loss = cria_loss(image, text, combined, labels)
    assert loss.item() == pytest.approx(1.58, abs=1e-6)
    # Weighting by rows would give (2 * 3.0 + 0.16) / 3 = 2.053; without normalisation the
    # raw centres of identity 5 alone are already (1.5, 1), (1.25, 0), (0, 4): far more.
    assert abs(loss.item() - (2 * 3.0 + 0.16) / 3) > 0.4


def test_cria_is_zero_when_the_centres_agree():
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    assert cria_loss(x, 2 * x, 0.5 * x, labels).item() == pytest.approx(0.0, abs=1e-7)
    # The centres agree although no row matches across modalities: the captions are swapped
    # within the identity, so only the centres, not the items, are aligned.
    image = t([[1, 0], [0, 1]])
    text = t([[0, 1], [1, 0]])
    labels = torch.tensor([3, 3])
    assert cria_loss(image, text, image, labels).item() == pytest.approx(0.0, abs=1e-7)
    # ... and with two identities the same swap is not allowed: c_img = (1, 0) vs c_txt = (0, 1)
    # for the first, the reverse for the second: 2 + 2 (the two pairs involving text) each.
    assert cria_loss(image, text, image, torch.tensor([3, 4])).item() == pytest.approx(4.0)


def test_cria_matches_a_loop_over_identities():
    torch.manual_seed(1)
    image, text, combined = torch.randn(7, 3), torch.randn(7, 3), torch.randn(7, 3)
    labels = torch.tensor([2, 0, 2, 5, 0, 2, 7])
    rows = [[unit(r) for r in x.tolist()] for x in (image, text, combined)]
    total = 0.0
    ids = sorted(set(labels.tolist()))
    for k in ids:
        members = [i for i in range(7) if labels[i].item() == k]
        c = [[sum(m[i][d] for i in members) / len(members) for d in range(3)] for m in rows]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            total += sum((c[a][d] - c[b][d]) ** 2 for d in range(3))
    expected = total / len(ids)
    assert cria_loss(image, text, combined, labels).item() == pytest.approx(expected, rel=1e-5)


# --- Semi-positive triplet ----------------------------------------------------------------


def test_spt_two_identities_by_hand():
    # labels 0, 0, 1, 1. Unit vectors; cosines s[i][j] = image_i . text_j:
    image = t([[1, 0], [0.6, 0.8], [0, 1], [0.8, 0.6]])
    text = t([[0.8, 0.6], [0, 1], [0.6, 0.8], [1, 0]])
    #            txt0  txt1  txt2  txt3
    # img0      0.8   0     0.6   1
    # img1      0.96  0.8   1     0.6
    # img2      0.6   1     0.8   0
    # img3      1     0.6   0.96  0.8
    # image -> text (rows), m = 0.3, m_sp = 0.1; every hardest negative is 1:
    #   img0: [0.3 - 0.8 + 1]+ = 0.5, semi txt1: [0.1 - 0 + 1]+ = 1.1     -> 1.6
    #   img1: 0.5, semi txt0: [0.1 - 0.96 + 1]+ = 0.14                    -> 0.64
    #   img2: 0.5, semi txt3: 1.1 -> 1.6;  img3: 0.5, semi txt2: 0.14   -> 0.64
    #   mean (1.6 + 0.64 + 1.6 + 0.64) / 4 = 1.12
    # text -> image (columns): txt0: 0.5 + semi img1 0.14 = 0.64; txt1: 0.5 + semi img0 1.1
    #   = 1.6; txt2: 0.5 + semi img3 0.14 = 0.64; txt3: 0.5 + semi img2 1.1 = 1.6 -> 1.12
    loss = semi_positive_triplet(image, text, torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx(1.12 + 1.12, abs=1e-5)


def test_spt_averages_the_semi_positives_and_counts_single_rows():
    # labels 0, 0, 0, 1 and image = text = (1, 0), (0.8, 0.6), (0.6, 0.8), (0, 1), so the
    # cosine matrix is symmetric and both directions are equal:
    #        0     1     2     3
    # 0     1     0.8   0.6   0
    # 1     0.8   1     0.96  0.6
    # 2     0.6   0.96  1     0.8
    # 3     0     0.6   0.8   1
    x = t([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]])
    # anchor 0: negative 0 -> [0.3 - 1 + 0]+ = 0; semis [0.1 - 0.8]+, [0.1 - 0.6]+ = 0 -> 0
    # anchor 1: negative 0.6 -> [0.3 - 1 + 0.6]+ = 0; semis [0.1 - 0.8 + 0.6]+ = 0,
    #           [0.1 - 0.96 + 0.6]+ = 0 -> 0
    # anchor 2: negative 0.8 -> [0.3 - 1 + 0.8]+ = 0.1; semis [0.1 - 0.6 + 0.8]+ = 0.3 and
    #           [0.1 - 0.96 + 0.8]+ = 0, averaged: 0.15 -> 0.25
    # anchor 3 (alone): negatives 0, 0.6, 0.8 -> [0.3 - 1 + 0.8]+ = 0.1; no semi -> 0.1
    # one direction: (0 + 0 + 0.25 + 0.1) / 4 = 0.0875; both: 0.175
    loss = semi_positive_triplet(x, x, torch.tensor([0, 0, 0, 1]))
    assert loss.item() == pytest.approx(2 * 0.0875, abs=1e-5)


def test_spt_semi_positive_margin_is_the_smaller_one():
    # labels 0, 0, 1, 1. Each identity's two images sit on its axis, its two captions 37 deg
    # either side: identity 0 at 0 deg, identity 1 at 90 deg.
    image = t([[1, 0], [1, 0], [0, 1], [0, 1]])
    text = t([[0.8, 0.6], [0.8, -0.6], [0.6, 0.8], [-0.6, 0.8]])
    # image -> text: every image sees its pair AND its semi-positive at cosine 0.8, its hardest
    # negative at 0.6: positive [0.3 - 0.8 + 0.6]+ = 0.1, semi [0.1 - 0.8 + 0.6]+ = 0 -> 0.1
    # each, mean 0.1.
    # text -> image: txt0 (0.8, 0.6) sees images 0.8, 0.8, 0.6, 0.6 -> 0.1 as above;
    #   txt1 (0.8, -0.6) sees its negatives at -0.6 -> [0.3 - 0.8 - 0.6]+ = 0;
    #   txt2 (0.6, 0.8): 0.6, 0.6, 0.8, 0.8 -> 0.1;  txt3 (-0.6, 0.8): -0.6, -0.6, .. -> 0
    #   mean (0.1 + 0 + 0.1 + 0) / 4 = 0.05
    labels = torch.tensor([0, 0, 1, 1])
    loss = semi_positive_triplet(image, text, labels)
    assert loss.item() == pytest.approx(0.1 + 0.05, abs=1e-6)
    # The semi-positives are exactly as close as the positives: only the margin tells them
    # apart. With m_sp = m = 0.3 each active anchor adds [0.3 - 0.8 + 0.6]+ = 0.1 more:
    # image -> text 0.2, text -> image (0.2 + 0 + 0.2 + 0) / 4 = 0.1.
    same_margin = semi_positive_triplet(image, text, labels, margin=0.3, semi_margin=0.3)
    assert same_margin.item() == pytest.approx(0.2 + 0.1, abs=1e-6)


def test_spt_is_zero_when_identities_are_well_separated():
    # Identity 0 points along +x, identity 1 along -x: positives and semi-positives at
    # cosine 1, negatives at -1: [0.3 - 1 - 1]+ = [0.1 - 1 - 1]+ = 0.
    image = t([[1, 0], [2, 0], [-1, 0], [-3, 0]])
    text = t([[1, 0], [1, 0], [-1, 0], [-1, 0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert semi_positive_triplet(image, text, labels).item() == 0.0
    # Closer, at 90 deg (negatives at cosine 0): [0.3 - 1 + 0]+ = 0 still.
    text = t([[1, 0], [1, 0], [0, 1], [0, 1]])
    image = t([[1, 0], [1, 0], [0, 1], [0, 1]])
    assert semi_positive_triplet(image, text, labels).item() == 0.0


def test_spt_one_identity_batch_gives_zero_and_finite_gradients():
    # No anchor has a negative: each contributes 0, although its hinge against "no negative"
    # would otherwise be judged against a similarity of 0.
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    text = torch.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    loss = semi_positive_triplet(image, text, torch.tensor([4, 4]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(image.grad, torch.zeros(2, 2)) and torch.equal(text.grad, torch.zeros(2, 2))


def test_spt_matches_a_loop_over_the_definition():
    torch.manual_seed(2)
    image, text = torch.randn(7, 4), torch.randn(7, 4)
    labels = torch.tensor([1, 1, 0, 2, 1, 0, 3])  # identity 1 has three rows, 2 and 3 one each
    for m, m_sp in ((0.3, 0.1), (0.5, 0.2)):
        expected = spt_by_definition(image, text, labels, m, m_sp)
        loss = semi_positive_triplet(image, text, labels, m, m_sp)
        assert loss.item() == pytest.approx(expected, rel=1e-5)
    # The two directions differ on random data, so swapping the modalities changes nothing
    # only because both are summed.
    swapped = semi_positive_triplet(text, image, labels)
    assert swapped.item() == pytest.approx(semi_positive_triplet(image, text, labels).item())


# --- Both ---------------------------------------------------------------------------------


def test_batch_order_does_not_matter():
    torch.manual_seed(3)
    image, text, combined = torch.randn(8, 6), torch.randn(8, 6), torch.randn(8, 6)
    labels = torch.tensor([0, 1, 0, 2, 2, 1, 0, 3])
    order = torch.randperm(8)
    assert not torch.equal(order, torch.arange(8))
    cria = cria_loss(image, text, combined, labels)
    cria_shuffled = cria_loss(image[order], text[order], combined[order], labels[order])
    assert cria_shuffled.item() == pytest.approx(cria.item(), rel=1e-6)
    spt = semi_positive_triplet(image, text, labels)
    spt_shuffled = semi_positive_triplet(image[order], text[order], labels[order])
    assert spt_shuffled.item() == pytest.approx(spt.item(), rel=1e-6)
    assert spt.item() > 0 and cria.item() > 0


def test_gradients_reach_every_input():
    torch.manual_seed(4)
    labels = torch.tensor([0, 0, 1, 1, 2])
    image, text, combined = (torch.randn(5, 4, requires_grad=True) for _ in range(3))
    cria_loss(image, text, combined, labels).backward()
    for grad in (image.grad, text.grad, combined.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    image, text = (torch.randn(5, 4, requires_grad=True) for _ in range(2))
    semi_positive_triplet(image, text, labels).backward()
    for grad in (image.grad, text.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_give_the_float32_result(dtype):
    torch.manual_seed(5)
    image, text, combined = (torch.randn(6, 8).to(dtype) for _ in range(3))
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    for low, full in (
        (
            cria_loss(image, text, combined, labels),
            cria_loss(image.float(), text.float(), combined.float(), labels),
        ),
        (
            semi_positive_triplet(image, text, labels),
            semi_positive_triplet(image.float(), text.float(), labels),
        ),
    ):
        assert low.dtype == torch.float32
        assert low.item() == pytest.approx(full.item(), rel=1e-6)
        assert full.item() > 0


def test_bad_shapes_are_refused():
    x, labels = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="cria_loss: combined must have the shape"):
        cria_loss(x, x, torch.zeros(2, 4), labels)
    with pytest.raises(ValueError, match="cria_loss: image and text"):
        cria_loss(x, torch.zeros(3, 3), x, labels)
    with pytest.raises(ValueError, match=r"cria_loss: labels must have shape \(2,\)"):
        cria_loss(x, x, x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="semi_positive_triplet: image and text"):
        semi_positive_triplet(torch.zeros(6), torch.zeros(6), labels)
    with pytest.raises(ValueError, match=r"semi_positive_triplet: labels must have shape"):
        semi_positive_triplet(x, x, torch.tensor([[0, 1]]))
