"""MHGA (eq. 4-7): the relation R by hand, the scores against a per-pair reference, R applied
before the softmax, one modality at test time, fused = explicit, gradients, bad input."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from reidkit.models.mhga import HeterogeneousGraphAttention, relation_matrix
from reidkit.models.vit import attention_path, create_vit, set_fused_attention

L1, L2, L3 = 1.0, 0.7, 0.3


def test_relation_of_a_2x2_grid_by_hand():
    # In a 2x2 grid every two different cells are 8-neighbours (diagonals included).
    block = torch.tensor(
        [
            [L1, L2, L2, L2],
            [L2, L1, L2, L2],
            [L2, L2, L1, L2],
            [L2, L2, L2, L1],
        ]
    )
    R = relation_matrix((2, 2))
    assert R.shape == (8, 8) and R.dtype == torch.float32
    expected = torch.cat([torch.cat([block, block], 1), torch.cat([block, block], 1)], 0)
    assert torch.equal(R, expected)  # the other modality's cell at the same place is λ1 too
    assert torch.equal(relation_matrix((2, 2), modalities=1), block)


def test_relation_of_a_1x3_row_and_a_3x3_grid_by_hand():
    # 1x3: cells 0 and 2 are two apart -> λ3.
    row = torch.tensor([[L1, L2, L3], [L2, L1, L2], [L3, L2, L1]])
    assert torch.equal(relation_matrix((1, 3), modalities=1), row)
    R = relation_matrix((3, 3), lambdas=(3.0, 2.0, 1.0), modalities=1)
    # The centre (cell 4) neighbours all 8 others; corner 0 neighbours cells 1, 3 and 4.
    assert R[4].tolist() == [2.0] * 4 + [3.0] + [2.0] * 4
    assert R[0].tolist() == [3.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    # Row-major wrap: cell 2 (end of row 0) and cell 3 (start of row 1) are not neighbours.
    assert R[2, 3] == 1.0


def test_relation_against_a_loop_symmetric_three_values():
    h, w = 4, 3
    R = relation_matrix((h, w), modalities=2)
    n = 2 * h * w
    assert R.shape == (n, n) and torch.equal(R, R.T)
    assert R.unique().tolist() == pytest.approx([L3, L2, L1])  # sorted, exactly three
    for i, j in itertools.product(range(n), repeat=2):
        (ri, ci), (rj, cj) = divmod(i % (h * w), w), divmod(j % (h * w), w)
        gap = max(abs(ri - rj), abs(ci - cj))
        assert R[i, j].item() == pytest.approx({0: L1, 1: L2}.get(gap, L3)), (i, j)
    # The one-modality relation is the visible-visible block (and every other block).
    single = relation_matrix((h, w), modalities=1)
    N = h * w
    for rows, cols in itertools.product((slice(0, N), slice(N, n)), repeat=2):
        assert torch.equal(R[rows, cols], single)


def test_relation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="two positive integers"):
        relation_matrix((0, 4))
    with pytest.raises(ValueError, match="three positive numbers"):
        relation_matrix((2, 2), lambdas=(1.0, 0.0, 0.3))
    with pytest.raises(ValueError, match="three positive numbers"):
        relation_matrix((2, 2), lambdas=(1.0, 0.7))
    with pytest.raises(ValueError, match="modalities must be 1 or 2"):
        relation_matrix((2, 2), modalities=3)


def module(dim=8, heads=2, grid=(2, 3), **kwargs) -> HeterogeneousGraphAttention:
    torch.manual_seed(0)
    return HeterogeneousGraphAttention(dim, heads, grid, **kwargs).eval()


def tokens(B=2, N=6, D=8, seed=1):
    return torch.randn(B, N, D, generator=torch.Generator().manual_seed(seed))


def test_shapes_with_two_and_one_modality():
    mhga = module()
    v, i = tokens(seed=1), tokens(seed=2)
    out_v, out_i, alpha = mhga(v, i, return_weights=True)
    assert out_v.shape == out_i.shape == (2, 6, 8) and alpha.shape == (2, 2, 12, 12)
    only_v, none_i, alpha_v = mhga(v, None, return_weights=True)
    assert only_v.shape == (2, 6, 8) and none_i is None and alpha_v.shape == (2, 2, 6, 6)
    none_v, only_i = mhga(None, i)
    assert none_v is None and only_i.shape == (2, 6, 8)
    assert len(mhga(v, i)) == 2  # no weights unless asked
    # LayerNorm at the end: each output token has mean 0 and variance 1 (weight 1, bias 0).
    assert torch.allclose(out_v.mean(-1), torch.zeros(2, 6), atol=1e-5)
    assert torch.allclose(out_v.var(-1, unbiased=False), torch.ones(2, 6), atol=1e-3)


def reference(mhga: HeterogeneousGraphAttention, nodes: torch.Tensor, relation: torch.Tensor):
    """Eq. 5-7 one pair and one head at a time, written from the equations."""
    B, n, D = nodes.shape
    hd = mhga.head_dim
    wh = nodes @ mhga.W.weight.T  # (B, n, D)
    alpha = torch.zeros(B, mhga.num_heads, n, n)
    out = torch.zeros(B, n, D)
    for b, k in itertools.product(range(B), range(mhga.num_heads)):
        part = wh[b, :, k * hd : (k + 1) * hd]  # (n, hd): head k of W h
        a = torch.cat([mhga.a_i[k], mhga.a_j[k]])  # (2 hd,)
        e = torch.zeros(n, n)
        for i, j in itertools.product(range(n), repeat=2):
            pair = torch.cat([part[i], part[j]])  # [W h_i ‖ W h_j]
            e[i, j] = F.leaky_relu(a @ pair, mhga.negative_slope) * relation[i, j]
        alpha[b, k] = torch.exp(e) / torch.exp(e).sum(1, keepdim=True)
        out[b, :, k * hd : (k + 1) * hd] = alpha[b, k] @ part
    return mhga.norm(nodes + mhga.proj(out)), alpha


@pytest.mark.parametrize("fused", [True, False])
def test_against_a_per_pair_reference(fused):
    mhga = module(grid=(2, 2))
    mhga.fused = fused
    v, i = tokens(N=4, seed=3), tokens(N=4, seed=4)
    with torch.no_grad():
        out_v, out_i = mhga(v, i)
        _, _, alpha = mhga(v, i, return_weights=True)
        expected, expected_alpha = reference(mhga, torch.cat([v, i], 1), relation_matrix((2, 2)))
    assert torch.allclose(alpha, expected_alpha, atol=1e-6)
    assert torch.allclose(torch.cat([out_v, out_i], 1), expected, atol=1e-5)


def hand_module() -> HeterogeneousGraphAttention:
    """One head, D = 2, W = identity, a_i = (1, 0), a_j = (0, 1): a^T[W h_i ‖ W h_j] is
    h_i[0] + h_j[1]."""
    mhga = module(dim=2, heads=1, grid=(1, 2))
    with torch.no_grad():
        mhga.W.weight.copy_(torch.eye(2))
        mhga.a_i.copy_(torch.tensor([[1.0, 0.0]]))
        mhga.a_j.copy_(torch.tensor([[0.0, 1.0]]))
    return mhga


def test_relation_scales_the_scores_before_the_softmax():
    # A 1x2 grid, one modality: R = [[1, 0.7], [0.7, 1]]. h_0 = (1, 1), h_1 = (0, 2).
    # Node 0: raw scores (1 + 1, 1 + 2) = (2, 3) -> e = (2, 2.1).
    # Node 1: raw scores (0 + 1, 0 + 2) = (1, 2) -> e = (0.7, 2).
    mhga = hand_module()
    h = torch.tensor([[[1.0, 1.0], [0.0, 2.0]]])
    _, _, alpha = mhga(h, None, return_weights=True)
    expected = torch.stack(
        [torch.tensor([2.0, 2.1]).softmax(0), torch.tensor([0.7, 2.0]).softmax(0)]
    )
    assert torch.allclose(alpha[0, 0], expected, atol=1e-6)
    # Neither R after the softmax (renormalised) nor no R at all gives these numbers.
    after = torch.tensor([2.0, 3.0]).softmax(0) * torch.tensor([1.0, 0.7])
    assert not torch.allclose(alpha[0, 0, 0], after / after.sum(), atol=1e-3)
    assert not torch.allclose(alpha[0, 0, 0], torch.tensor([2.0, 3.0]).softmax(0), atol=1e-3)
    # LeakyReLU before R: raw scores -1 and -2 give e = 0.2 * (-1, -2 * 0.7) for node 0.
    h = torch.tensor([[[-1.0, -1.0], [0.0, -2.0]]])  # raw (-1 - 1, -1 - 2) = (-2, -3)
    _, _, alpha = mhga(h, None, return_weights=True)
    e = 0.2 * torch.tensor([-2.0 * 1.0, -3.0 * 0.7])
    assert torch.allclose(alpha[0, 0, 0], e.softmax(0), atol=1e-6)


def test_zero_scores_give_uniform_weights_whatever_R():
    # With a = 0 every e_ij = 0 * R_ij = 0: R scales scores, it is not a bias, so the weights
    # are uniform. (R applied to the weights after the softmax would make them follow R.)
    mhga = module(grid=(3, 2))
    with torch.no_grad():
        mhga.a_i.zero_()
        mhga.a_j.zero_()
    _, _, alpha = mhga(tokens(N=6), tokens(N=6, seed=2), return_weights=True)
    assert torch.allclose(alpha, torch.full_like(alpha, 1 / 12), atol=1e-7)


def test_weights_are_a_softmax_over_the_neighbours():
    mhga = module(grid=(3, 2))
    _, _, alpha = mhga(tokens(N=6), tokens(N=6, seed=2), return_weights=True)
    assert torch.allclose(alpha.sum(-1), torch.ones(2, 2, 12), atol=1e-6)
    assert (alpha > 0).all()


def test_one_modality_is_its_own_subgraph():
    mhga = module(grid=(3, 2))
    v, i = tokens(N=6, seed=5), tokens(N=6, seed=6)
    out_v, out_i, both = mhga(v, i, return_weights=True)
    alone, _, alpha = mhga(v, None, return_weights=True)
    # A softmax over a subset of the nodes is the full softmax restricted and renormalised.
    block = both[..., :6, :6]  # visible queries, visible neighbours
    assert torch.allclose(alpha, block / block.sum(-1, keepdim=True), atol=1e-6)
    # ... and the output is the graph of the visible nodes alone (the per-pair reference).
    with torch.no_grad():
        expected, _ = reference(mhga, v, relation_matrix((3, 2), modalities=1))
    assert torch.allclose(alone, expected, atol=1e-5)
    # The same for infrared alone.
    _, alone_i = mhga(None, i)
    with torch.no_grad():
        expected_i, _ = reference(mhga, i, relation_matrix((3, 2), modalities=1))
    assert torch.allclose(alone_i, expected_i, atol=1e-5)
    # With both, the cross-modal edges are real: the visible output depends on infrared tokens.
    assert not torch.allclose(out_v, alone, atol=1e-3)
    changed, _ = mhga(v, i + 1.0)
    assert not torch.allclose(changed, out_v, atol=1e-3)
    # Alone, nothing of the other modality enters: a single image gives the same output as
    # the same image inside a batch (no mixing across the batch either).
    first, _ = mhga(v[:1], None)
    assert torch.allclose(first, alone[:1], atol=1e-6)


@pytest.mark.parametrize("pair", [True, False], ids=["both modalities", "one modality"])
def test_fused_equals_explicit(pair):
    mhga = module(dim=48, heads=3, grid=(4, 2))
    v, i = tokens(3, 8, 48, seed=7) * 2, tokens(3, 8, 48, seed=8) * 2
    infrared = i if pair else None
    mhga.fused = True
    fused = mhga(v, infrared)
    mhga.fused = False
    explicit = mhga(v, infrared)
    for a, b in zip(fused, explicit):
        if a is None:
            assert b is None
        else:
            assert a.dtype == torch.float32 and torch.allclose(a, b, atol=1e-5)
    # The explicit scores are not trivially the fused ones: they differ at float rounding.
    wh = mhga.heads(torch.cat([v, i], 1) if pair else v)
    relation = mhga.relation[: wh.shape[2], : wh.shape[2]]
    assert torch.allclose(
        mhga.scores(wh, relation, explicit=True),
        mhga.scores(wh, relation, explicit=False),
        atol=1e-5,
    )


def test_the_one_switch_reaches_mhga():
    model = torch.nn.ModuleDict({"vit": create_vit("vit_nano", (32, 16)), "mhga": module()})
    set_fused_attention(model, False)
    assert model["mhga"].fused is False
    with attention_path(model, fused=True):
        assert model["mhga"].fused is True
    assert model["mhga"].fused is False


def test_gradients_reach_inputs_and_every_parameter():
    mhga = module(dim=16, heads=2, grid=(2, 2)).train()
    v = tokens(2, 4, 16, seed=9).requires_grad_()
    i = tokens(2, 4, 16, seed=10).requires_grad_()
    out_v, out_i = mhga(v, i)
    (out_v * torch.randn_like(out_v)).sum().add((out_i * torch.randn_like(out_i)).sum()).backward()
    for name, parameter in mhga.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert v.grad.abs().sum() > 0 and i.grad.abs().sum() > 0
    # Only the visible output: the infrared tokens still get gradients (cross-modal edges).
    i.grad = None
    out_v, _ = mhga(v, i)
    out_v.pow(3).sum().backward()
    assert i.grad.abs().sum() > 0


def test_dropout_only_in_training():
    mhga = module(dropout=0.5)
    v = tokens()
    assert torch.equal(mhga(v, None)[0], mhga(v, None)[0])
    mhga.train()
    torch.manual_seed(1)
    first = mhga(v, None)[0]
    assert not torch.allclose(first, mhga(v, None)[0])


def test_relation_buffer_follows_the_module_and_is_not_saved():
    mhga = module(grid=(2, 3), lambdas=(2.0, 1.0, 0.5))
    assert torch.equal(mhga.relation, relation_matrix((2, 3), (2.0, 1.0, 0.5)))
    assert "relation" not in mhga.state_dict()
    assert mhga.double().relation.dtype == torch.float64
    assert "grid=(2, 3)" in repr(mhga) and "fused=True" in repr(mhga)


def test_bad_inputs_name_the_argument_and_the_expected_shape():
    mhga = module(dim=8, heads=2, grid=(2, 3))
    v = tokens()
    with pytest.raises(
        ValueError, match=r"infrared: expected patch tokens \(B, N=6, D=8\) of the 2x3"
    ):
        mhga(v, tokens(N=5))
    with pytest.raises(
        ValueError, match=r"visible: .* got shape \(2, 7, 8\); pass the patch tokens only"
    ):
        mhga(tokens(N=7), None)
    with pytest.raises(ValueError, match=r"visible: .*D=8.* got shape \(2, 6, 4\)"):
        mhga(tokens(D=4), None)
    with pytest.raises(ValueError, match=r"got shape \(6, 8\)"):
        mhga(v[0], None)
    with pytest.raises(ValueError, match="at least one modality"):
        mhga(None, None)
    with pytest.raises(ValueError, match="batch sizes 2 and 3 differ"):
        mhga(v, tokens(B=3))
    with pytest.raises(ValueError, match=r"relation: expected \(6, 6\)"):
        mhga.attend(v, torch.ones(12, 12))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        HeterogeneousGraphAttention(10, 3, (2, 2))
    with pytest.raises(ValueError, match="two positive integers"):
        HeterogeneousGraphAttention(8, 2, (2,))
