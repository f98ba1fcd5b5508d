"""Similarity exchange (CSET eq. 1-3): J by hand and its range, S against its formula, the soft
exchange's limits (beta = 0, tau -> 0), the hard top-r exchange, directions, CLS, gradients."""

import math

import pytest
import torch

from reidkit.models.exchange import (
    SimilarityExchange,
    exchanged_count,
    hard_matching,
    matching_weights,
    tanimoto_distance,
    within_modality_attention,
)


def tokens(B: int = 2, N: int = 6, D: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(B, N, D, generator=torch.Generator().manual_seed(seed))


def test_tanimoto_distance_by_hand():
    # J = 1 - a.b / (|a|^2 + |b|^2 - a.b); a0 = (1, 0), a1 = (1, 2); b0 = (1, 1), b1 = (3, -1),
    # b2 = (-1, -2).
    # a0,b0: a.b = 1, 1 + 2 - 1 = 2   -> 1 - 1/2  = 1/2
    # a0,b1: a.b = 3, 1 + 10 - 3 = 8  -> 1 - 3/8  = 5/8
    # a0,b2: a.b = -1, 1 + 5 + 1 = 7  -> 1 + 1/7  = 8/7
    # a1,b0: a.b = 3, 5 + 2 - 3 = 4   -> 1 - 3/4  = 1/4
    # a1,b1: a.b = 1, 5 + 10 - 1 = 14 -> 1 - 1/14 = 13/14
    # a1,b2: a.b = -5, 5 + 5 + 5 = 15 -> 1 + 1/3  = 4/3 (b2 = -a1: the largest J can be)
    a = torch.tensor([[[1.0, 0.0], [1.0, 2.0]]])  # (B=1, N=2, D=2)
    b = torch.tensor([[[1.0, 1.0], [3.0, -1.0], [-1.0, -2.0]]])  # (B=1, M=3, D=2)
    J = tanimoto_distance(a, b)
    assert J.shape == (1, 2, 3) and J.dtype == torch.float32
    expected = [[1 / 2, 5 / 8, 8 / 7], [1 / 4, 13 / 14, 4 / 3]]
    assert J[0].tolist() == [pytest.approx(row, abs=1e-6) for row in expected]


def test_tanimoto_distance_range_identity_and_scale():
    a, b = tokens(3, 5, 16, seed=1), tokens(3, 7, 16, seed=2)
    J = tanimoto_distance(a, b)
    assert J.shape == (3, 5, 7)
    assert J.min() >= 0 and J.max() <= 4 / 3 + 1e-6
    assert torch.allclose(tanimoto_distance(b, a), J.transpose(1, 2), atol=1e-6)  # symmetric
    same = tanimoto_distance(a, a)
    assert torch.allclose(torch.diagonal(same, dim1=1, dim2=2), torch.zeros(3, 5), atol=1e-6)
    assert (same + torch.eye(5) > 1e-3).all()  # only identical tokens are at distance 0
    # Not scale-invariant (unlike the cosine): J(a, 2a) = 1 - 2/(1 + 4 - 2) = 1/3.
    doubled = torch.diagonal(tanimoto_distance(a, 2 * a), dim1=1, dim2=2)
    assert torch.allclose(doubled, torch.full((3, 5), 1 / 3), atol=1e-6)
    opposite = torch.diagonal(tanimoto_distance(a, -a), dim1=1, dim2=2)
    assert torch.allclose(opposite, torch.full((3, 5), 4 / 3), atol=1e-6)  # the largest J
    zero = torch.zeros(1, 2, 4)
    assert tanimoto_distance(zero, zero).tolist() == [[[1.0, 1.0], [1.0, 1.0]]]  # clamped at eps


def test_tanimoto_distance_stays_exact_under_bf16_autocast():
    a = tokens(2, 4, 32, seed=3) * 10
    with torch.autocast("cpu", dtype=torch.bfloat16):
        J = tanimoto_distance(a.bfloat16(), a.bfloat16())
    assert J.dtype == torch.float32
    assert torch.diagonal(J, dim1=1, dim2=2).abs().max() < 1e-6


def test_within_modality_attention_against_its_formula():
    f = tokens(2, 5, 8, seed=4)
    A = within_modality_attention(f, temperature=0.5)
    expected = torch.softmax(torch.einsum("bnd,bmd->bnm", f, f) / (math.sqrt(8) * 0.5), dim=-1)
    assert A.shape == (2, 5, 5) and torch.allclose(A, expected, atol=1e-6)
    assert torch.allclose(A.sum(-1), torch.ones(2, 5), atol=1e-6)
    sharper = within_modality_attention(f, temperature=0.1)
    assert (sharper.amax(-1) >= A.amax(-1) - 1e-6).all()  # a lower temperature concentrates


def slow_matching_weights(q, o, alpha, temperature):
    """Eq. 3 one entry at a time."""
    B, N, D = q.shape
    S = torch.zeros(B, N, N)
    for b in range(B):
        for i in range(N):
            logits = torch.tensor([float(q[b, i] @ q[b, k]) for k in range(N)])
            attention = torch.exp(logits / (math.sqrt(D) * temperature))
            attention = attention / attention.sum()
            for j in range(N):
                dot = float(q[b, i] @ o[b, j])
                jaccard = 1 - dot / (float(q[b, i] @ q[b, i]) + float(o[b, j] @ o[b, j]) - dot)
                S[b, i, j] = alpha * (1 - jaccard) + (1 - alpha) * attention[j]
    return S


@pytest.mark.parametrize("alpha, temperature", [(0.7, 1.0), (0.3, 2.0), (0.0, 1.0), (1.0, 1.0)])
def test_matching_weights_against_its_formula(alpha, temperature):
    q, o = tokens(2, 4, 6, seed=5), tokens(2, 4, 6, seed=6)
    S = matching_weights(q, o, alpha=alpha, temperature=temperature)
    assert S.shape == (2, 4, 4)
    assert torch.allclose(S, slow_matching_weights(q, o, alpha, temperature), atol=1e-5)


def test_matching_weights_default_alpha_is_the_papers():
    q, o = tokens(1, 4, 6, seed=7), tokens(1, 4, 6, seed=8)
    J, A = tanimoto_distance(q, o), within_modality_attention(q, 1.0)
    assert torch.allclose(matching_weights(q, o), 0.7 * (1 - J) + 0.3 * A, atol=1e-6)


def with_cls(patches: torch.Tensor, seed: int) -> torch.Tensor:
    cls = torch.randn(
        patches.shape[0], 1, patches.shape[2], generator=torch.Generator().manual_seed(seed)
    )
    return torch.cat([cls, patches], dim=1)  # (B, 1+N, D)


def pair(B: int = 2, N: int = 8, D: int = 16):
    return with_cls(tokens(B, N, D, seed=10), 11), with_cls(tokens(B, N, D, seed=12), 13)


def test_soft_exchange_against_its_formula():
    visible, infrared = pair()
    se = SimilarityExchange("i2v", "soft", alpha=0.7, beta=0.5, tau=0.1)
    v_out, i_out, weights = se(visible, infrared, return_weights=True)
    S = matching_weights(infrared[:, 1:], visible[:, 1:], 0.7)  # S_{I->V}
    W = torch.softmax(S / 0.1, dim=-1)
    assert torch.allclose(weights["i2v"], W, atol=1e-6) and weights["v2i"] is None
    expected = infrared[:, 1:] + 0.5 * W @ visible[:, 1:]
    assert torch.allclose(i_out[:, 1:], expected, atol=1e-5)
    assert torch.equal(v_out, visible)


def test_beta_zero_is_the_identity():
    visible, infrared = pair()
    for mode in ("soft", "hard"):
        v_out, i_out = SimilarityExchange("both", mode, beta=0.0)(visible, infrared)
        assert torch.equal(v_out, visible) and torch.equal(i_out, infrared)


def test_soft_exchange_tends_to_the_hard_argmax_exchange_as_tau_goes_to_zero():
    visible, infrared = pair()
    hard = SimilarityExchange("both", "hard", top_r=1.0)(visible, infrared)
    far = SimilarityExchange("both", "soft", tau=1.0)(visible, infrared)
    assert not torch.allclose(far[1], hard[1], atol=1e-2)
    gaps = []
    for tau in (1e-1, 1e-2, 1e-5):
        soft = SimilarityExchange("both", "soft", tau=tau)(visible, infrared)
        gaps.append(max((s - h).abs().max().item() for s, h in zip(soft, hard)))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5


def test_hard_exchange_changes_exactly_the_top_r_fraction():
    visible, infrared = pair(B=3, N=8)
    S = matching_weights(infrared[:, 1:], visible[:, 1:], 0.7)  # (B, N, N)
    best, partner = S.max(dim=-1)
    for top_r, count in [(0.125, 1), (0.25, 2), (0.5, 4), (0.8, 6), (1.0, 8)]:
        se = SimilarityExchange("i2v", "hard", beta=0.5, top_r=top_r)
        _, i_out, weights = se(visible, infrared, return_weights=True)
        changed = (i_out[:, 1:] != infrared[:, 1:]).any(dim=-1)  # (B, N)
        assert changed.sum(dim=1).tolist() == [count] * 3
        top = best.topk(count, dim=1).indices
        assert all(
            set(top[b].tolist()) == set(changed[b].nonzero().flatten().tolist()) for b in range(3)
        )
        took = visible[:, 1:][torch.arange(3)[:, None], partner]  # (B, N, D): argmax partners
        expected = torch.where(changed[..., None], infrared[:, 1:] + 0.5 * took, infrared[:, 1:])
        assert torch.allclose(i_out[:, 1:], expected, atol=1e-6)
        assert weights["i2v"].sum(dim=-1).tolist() == changed.float().tolist()  # one-hot rows


def test_exchanged_count_and_hard_matching():
    assert [exchanged_count(10, r) for r in (0.01, 0.25, 0.5, 0.75, 1.0)] == [1, 3, 5, 8, 10]
    scores = torch.tensor([[[0.1, 0.9, 0.0], [0.8, 0.2, 0.3], [0.0, 0.1, 0.2]]])  # best .9 .8 .2
    assert hard_matching(scores, 0.5).tolist() == [[[0, 1, 0], [1, 0, 0], [0, 0, 0]]]


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_directions_leave_the_other_modality_untouched_and_the_cls_alone(mode):
    visible, infrared = pair()
    i2v = SimilarityExchange("i2v", mode)(visible, infrared, return_weights=True)
    v2i = SimilarityExchange("v2i", mode)(visible, infrared, return_weights=True)
    both = SimilarityExchange("both", mode)(visible, infrared, return_weights=True)
    assert torch.equal(i2v[0], visible) and not torch.equal(i2v[1], infrared)
    assert torch.equal(v2i[1], infrared) and not torch.equal(v2i[0], visible)
    assert i2v[2]["v2i"] is None and v2i[2]["i2v"] is None
    # Both directions read the tokens from before the exchange: each equals its one-way result.
    assert torch.equal(both[0], v2i[0]) and torch.equal(both[1], i2v[1])
    for out in (*i2v[:2], *v2i[:2], *both[:2]):
        assert out.shape == visible.shape
    for out, original in [(both[0], visible), (both[1], infrared)]:
        assert torch.equal(out[:, 0], original[:, 0])  # the CLS is never exchanged


def test_the_cls_token_does_not_take_part_in_the_matching():
    visible, infrared = pair()
    se = SimilarityExchange("both")
    moved = visible.clone()
    moved[:, 0] = 100.0  # a wildly different CLS token changes nothing else
    for a, b in zip(se(visible, infrared), se(moved, infrared)):
        assert torch.allclose(a[:, 1:], b[:, 1:])


def test_gradients_flow_through_the_soft_exchange():
    visible, infrared = (t.double().requires_grad_() for t in pair(B=1, N=4, D=6))
    se = SimilarityExchange("both", "soft", tau=0.5)
    assert torch.autograd.gradcheck(lambda v, i: se(v, i), (visible, infrared))
    _, i_out = SimilarityExchange("i2v", "soft")(visible, infrared)
    i_out[:, 1:].square().sum().backward()
    assert visible.grad[:, 1:].abs().sum() > 0  # infrared's loss reaches visible patches
    assert visible.grad[:, 0].abs().sum() == 0  # but not the visible CLS
    # The gradient also runs through the weights W = softmax(S / tau), not only through W F_V.
    v, i = (t.detach().requires_grad_() for t in (visible, infrared))
    W = SimilarityExchange("i2v", "soft").weights(i[:, 1:], v[:, 1:])
    W.sum(dim=(0, 1))[0].backward()
    assert i.grad.abs().sum() > 0 and v.grad.abs().sum() > 0


def test_no_parameters_and_a_readable_repr():
    se = SimilarityExchange("v2i", "hard", top_r=0.25)
    assert list(se.parameters()) == []
    assert "direction='v2i', mode='hard'" in repr(se) and "top_r=0.25" in repr(se)


def test_bad_input_gets_a_clear_error():
    visible, infrared = pair()
    with pytest.raises(ValueError, match="direction must be one of"):
        SimilarityExchange("x2y")
    with pytest.raises(ValueError, match="mode must be one of"):
        SimilarityExchange(mode="argmax")
    with pytest.raises(ValueError, match=r"alpha must lie in \[0.0, 1.0\], got 1.5"):
        SimilarityExchange(alpha=1.5)
    with pytest.raises(ValueError, match=r"tau must lie in \(0.0, inf\], got 0"):
        SimilarityExchange(tau=0)
    with pytest.raises(ValueError, match="top_r must lie in"):
        SimilarityExchange(top_r=0.0)
    with pytest.raises(ValueError, match="beta must lie in"):
        SimilarityExchange(beta=-1.0)
    se = SimilarityExchange()
    with pytest.raises(ValueError, match=r"infrared: expected tokens \(B, 1\+N, D\)"):
        se(visible, infrared[0])
    with pytest.raises(ValueError, match=r"visible: expected tokens .* got \(2, 1, 16\)"):
        se(visible[:, :1], infrared)
    with pytest.raises(ValueError, match=r"visible \(2, 9, 16\) and infrared \(2, 7, 16\)"):
        se(visible, infrared[:, :7])
    with pytest.raises(ValueError, match="same batch size B and token width D"):
        tanimoto_distance(tokens(2, 3, 4), tokens(2, 3, 5))
    with pytest.raises(ValueError, match=r"a: expected tokens \(B, N, D\)"):
        tanimoto_distance(torch.ones(3, 4), tokens(1, 3, 4))
    with pytest.raises(ValueError, match="same grid"):
        matching_weights(tokens(1, 3, 4), tokens(1, 5, 4))
    with pytest.raises(ValueError, match="temperature must lie in"):
        within_modality_attention(tokens(), temperature=-1.0)
    with pytest.raises(ValueError, match=r"scores: expected \(B, N, M\)"):
        hard_matching(torch.ones(3, 3), 0.5)
