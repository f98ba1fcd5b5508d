"""SDM, CMPM and the shared-classifier ID loss against cases worked out by hand."""

import math

import pytest
import torch

from reidkit.losses import cmpm_loss, id_loss, match_distribution, sdm_loss

LOG_EPS = math.log(1e-8)


def kl_row(logits: list[float], q: list[float], eps: float = 1e-8) -> float:
    """sum_j p_j (log p_j - log(q_j + eps)), p = softmax(logits): the definition, one row."""
    z = sum(math.exp(v) for v in logits)
    p = [math.exp(v) / z for v in logits]
    return sum(pj * (math.log(pj) - math.log(qj + eps)) for pj, qj in zip(p, q))


def test_sdm_two_pairs_of_one_identity_by_hand():
    # image = text = the unit axes, both pairs of ONE identity, tau = 1: S = I, so every row
    # (both directions) is p = (e, 1) / (e + 1) against q = (1/2, 1/2):
    # KL = log 2 + p log p + (1-p) log(1-p), p = 0.731059
    #    = 0.693147 - 0.229013 - 0.353190 = 0.110944; two rows averaged, two directions summed.
    axes = torch.eye(2)
    loss = sdm_loss(axes, axes, torch.tensor([7, 7]), temperature=1.0)
    assert loss.item() == pytest.approx(2 * 0.110944, abs=1e-5)


def test_sdm_cosines_and_temperature_by_hand():
    # image (1, 0), (0, 1); text (1, 0), (1, 1) -> unit (1, 0), (1, 1)/sqrt 2.
    # S = [[1, r], [0, r]] with r = 1/sqrt 2; distinct identities (q = I); tau = 0.5.
    r = 1 / math.sqrt(2)
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    i2t = (kl_row([2, 2 * r], [1, 0]) + kl_row([0, 2 * r], [0, 1])) / 2  # rows of S / tau
    t2i = (kl_row([2, 0], [1, 0]) + kl_row([2 * r, 2 * r], [0, 1])) / 2  # rows of S^T / tau
    # Row 0 of S/tau written out: p = (1, e^(2r-2)) / (1 + e^(2r-2)) = (0.642398, 0.357602);
    # 0.642398 ln 0.642398 + 0.357602 (ln 0.357602 + 18.420681) = 5.935246.
    assert kl_row([2, 2 * r], [1, 0]) == pytest.approx(5.935246, abs=1e-5)
    loss = sdm_loss(image, text, torch.tensor([0, 1]), temperature=0.5)
    assert loss.item() == pytest.approx(i2t + t2i, rel=1e-5)
    # Scaling the features changes nothing: SDM only sees cosines.
    assert sdm_loss(3 * image, 0.5 * text, torch.tensor([0, 1]), 0.5).item() == pytest.approx(
        loss.item(), rel=1e-5
    )


def test_repeated_identities_spread_the_target():
    q = match_distribution(torch.tensor([0, 0, 1, 0]))
    third = 1 / 3
    expected = [
        [third, third, 0, third],
        [third, third, 0, third],
        [0, 0, 1, 0],
        [third, third, 0, third],
    ]
    assert torch.allclose(q, torch.tensor(expected))
    # Three pairs, the first two of one person; tau = 1 and a 3x3 S written out by hand.
    image = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # S[i, j] = image_i . text_j: rows (1, 1, 0), (0, 0, 0), (0, 0, 1).
    s = [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    q_rows = [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]]
    i2t = sum(kl_row(s[i], q_rows[i]) for i in range(3)) / 3
    t2i = sum(kl_row([s[j][i] for j in range(3)], q_rows[i]) for i in range(3)) / 3
    loss = sdm_loss(image, text, torch.tensor([4, 4, 9]), temperature=1.0)
    assert loss.item() == pytest.approx(i2t + t2i, rel=1e-5)


def test_sdm_is_zero_for_perfect_matches_and_never_negative():
    axes = torch.eye(4)
    labels = torch.arange(4)
    assert abs(sdm_loss(axes, axes, labels).item()) < 1e-6  # tau 0.02: p = q up to e^-50
    assert sdm_loss(axes, axes, labels, temperature=1.0).item() > 1.0  # a soft p is far from q
    # Two captions of one person that both match the image equally: p = q exactly.
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert abs(sdm_loss(same, same, torch.tensor([0, 0])).item()) < 1e-6
    assert sdm_loss(same, same, torch.tensor([0, 1])).item() > 10  # other people: wrong
    torch.manual_seed(0)
    for _ in range(5):
        image, text = torch.randn(6, 8), torch.randn(6, 8)
        labels = torch.randint(0, 3, (6,))
        assert sdm_loss(image, text, labels).item() >= -6 * 1e-8  # KL up to -log(1 + B eps)


def test_both_losses_sum_both_directions():
    torch.manual_seed(1)
    image, text, labels = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 1, 0, 2, 1])
    for loss in (sdm_loss, cmpm_loss):
        forward, swapped = loss(image, text, labels), loss(text, image, labels)
        assert forward.item() == pytest.approx(swapped.item(), rel=1e-6)
    # One direction alone is not symmetric: the t2i half differs from the i2t half.
    q = match_distribution(labels).tolist()
    s = torch.nn.functional.normalize(image, dim=1) @ torch.nn.functional.normalize(text, dim=1).T
    i2t = sum(kl_row((s[i] / 0.02).tolist(), q[i]) for i in range(5)) / 5
    t2i = sum(kl_row((s[:, i] / 0.02).tolist(), q[i]) for i in range(5)) / 5
    assert abs(i2t - t2i) > 1e-3
    assert sdm_loss(image, text, labels).item() == pytest.approx(i2t + t2i, rel=1e-5)


def test_cmpm_projections_by_hand():
    # image (2, 0), (0, 1); text (3, 0), (0, 4): unit text = unit image = the axes.
    # i2t logits = image @ unit(text)^T = [[2, 0], [0, 1]]; t2i = text @ unit(image)^T =
    # [[3, 0], [0, 4]]: the projected side keeps its norm. Distinct identities: q = I.
    image = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[3.0, 0.0], [0.0, 4.0]])
    # Row 0 of i2t: p = (e^2, 1) / (e^2 + 1) = (0.880797, 0.119203);
    # 0.880797 ln 0.880797 + 0.119203 (ln 0.119203 + 18.420681) = 1.830465.
    assert kl_row([2, 0], [1, 0]) == pytest.approx(1.830465, abs=1e-5)
    i2t = (kl_row([2, 0], [1, 0]) + kl_row([0, 1], [0, 1])) / 2
    t2i = (kl_row([3, 0], [1, 0]) + kl_row([0, 4], [0, 1])) / 2
    loss = cmpm_loss(image, text, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(i2t + t2i, rel=1e-5)
    # Longer features sharpen the softmax: unlike SDM, CMPM sees the norms.
    assert cmpm_loss(10 * image, 10 * text, torch.tensor([0, 1])).item() < loss.item() / 10


def test_cmpm_matches_a_loop_over_the_definition():
    torch.manual_seed(2)
    image, text, labels = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([1, 1, 0, 2])
    q = match_distribution(labels).tolist()

    def direction(a, b):  # rows a_i . b_j / |b_j|, element by element, then the KL rows
        a, b = a.tolist(), b.tolist()
        norms = [math.sqrt(sum(v * v for v in row)) for row in b]
        rows = [
            [sum(x * y for x, y in zip(a[i], b[j])) / norms[j] for j in range(4)] for i in range(4)
        ]
        return sum(kl_row(rows[i], q[i]) for i in range(4)) / 4

    expected = direction(image, text) + direction(text, image)
    assert cmpm_loss(image, text, labels).item() == pytest.approx(expected, rel=1e-5)


def test_id_loss_is_one_cross_entropy_per_modality():
    # image logits (ln 2, 0, 0): p = 1/2 on class 0 -> ln 2; text logits uniform -> ln 3.
    image_logits = torch.tensor([[math.log(2.0), 0.0, 0.0]])
    text_logits = torch.zeros(1, 3)
    loss = id_loss(image_logits, text_logits, torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log(6.0), abs=1e-6)
    with pytest.raises(ValueError, match="one classifier for both"):
        id_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.tensor([0, 1]))


def test_gradients_reach_both_modalities():
    torch.manual_seed(3)
    labels = torch.tensor([0, 1, 1, 2])
    for loss in (sdm_loss, cmpm_loss, id_loss):
        image = torch.randn(4, 5, requires_grad=True)
        text = torch.randn(4, 5, requires_grad=True)
        loss(image, text, labels).backward()
        for grad in (image.grad, text.grad):
            assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_give_the_float32_result(dtype):
    torch.manual_seed(4)
    image, text = torch.randn(6, 8).to(dtype), torch.randn(6, 8).to(dtype)
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    for loss in (sdm_loss, cmpm_loss, id_loss):
        low = loss(image, text, labels)
        assert low.dtype == torch.float32
        full = loss(image.float(), text.float(), labels)  # the same values, already float32
        assert low.item() == pytest.approx(full.item(), rel=1e-6)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        sdm_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        cmpm_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="temperature"):
        sdm_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), temperature=0.0)
