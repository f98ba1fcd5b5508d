"""Chapter 10 exercises: the relation R (eq. 4), the graph attention weights (eq. 5-6) and the
whole MHGA layer (eq. 5-7 with heads, projection, residual and LayerNorm), checked against
``reidkit.models.mhga``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from reidkit.exercises.checking import Case, CheckResult, generator, keep_random_state, run_check


def _seeded_mhga(dim: int, heads: int, seed: int, negative_slope: float = 0.2) -> nn.Module:
    from reidkit.models.mhga import HeterogeneousGraphAttention

    with keep_random_state():  # building the module draws its initial weights
        module = HeterogeneousGraphAttention(dim, heads, (1, 1), negative_slope=negative_slope)
    g = generator(seed)
    with torch.no_grad():  # weights from the case's generator, not the global random state
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g) * 0.5)
    return module.eval()


def check_relation_matrix(
    fn: Callable[[tuple[int, int], tuple[float, float, float], int], Tensor],
) -> CheckResult:
    """``fn(grid, lambdas, modalities)`` returns eq. 4's R ((m * N), (m * N)) for the patches
    of an (h, w) ``grid`` (N = h * w, row-major), m = ``modalities`` (1 or 2, visible nodes
    first): λ1 at the same grid position (in either modality), λ2 for 8-neighbours on the
    grid (diagonals too), λ3 otherwise."""
    from reidkit.models.mhga import LAMBDAS, relation_matrix

    cases = [
        Case("a 2x2 grid, two modalities: diagonal cells are neighbours", ((2, 2), LAMBDAS, 2)),
        Case("a 1x3 row, one modality: the ends are two apart", ((1, 3), LAMBDAS, 1)),
        Case("a 3x3 grid, λ = (3, 2, 1), one modality", ((3, 3), (3.0, 2.0, 1.0), 1)),
        Case(
            "a 2x4 grid, two modalities: the end of row 0 is not next to the start of row 1",
            ((2, 4), LAMBDAS, 2),
        ),
        Case("a 4x2 grid, λ = (2, 1, 0.5), two modalities", ((4, 2), (2.0, 1.0, 0.5), 2)),
    ]
    return run_check(
        "relation_matrix", fn, relation_matrix, cases, "reidkit.models.mhga.relation_matrix"
    )


def reference_graph_attention_weights(
    wh: Tensor, a_i: Tensor, a_j: Tensor, relation: Tensor, negative_slope: float
) -> Tensor:
    heads, head_dim = a_i.shape
    module = _seeded_mhga(heads * head_dim, heads, 0, negative_slope)
    with torch.no_grad():
        module.a_i.copy_(a_i)
        module.a_j.copy_(a_j)
        return module.scores(wh, relation, explicit=False).softmax(dim=-1)


def weight_cases(seed: int) -> list[Case]:
    from reidkit.models.mhga import relation_matrix

    g = generator(seed)

    def case(description: str, B: int, heads: int, hd: int, grid, modalities: int, shift=0.0):
        n = modalities * grid[0] * grid[1]
        wh = torch.randn(B, heads, n, hd, generator=g) + shift  # (B, heads, n, head_dim)
        a_i, a_j = torch.randn(2, heads, hd, generator=g)  # (heads, head_dim) each
        relation = relation_matrix(grid, modalities=modalities)  # (n, n)
        return Case(description, (wh, a_i, a_j, relation, 0.2))

    return [
        case("2 pairs, 2 heads, a 2x2 grid in both modalities", 2, 2, 4, (2, 2), 2),
        case("1 image, 1 head, a 3x2 grid, one modality", 1, 1, 8, (3, 2), 1),
        case("3 pairs, 3 heads, a 2x3 grid, large positive scores", 3, 3, 2, (2, 3), 2, 2.0),
        case("2 images, 2 heads, a 4x2 grid, one modality", 2, 2, 4, (4, 2), 1),
    ]


def check_graph_attention_weights(
    fn: Callable[[Tensor, Tensor, Tensor, Tensor, float], Tensor],
) -> CheckResult:
    """``fn(wh, a_i, a_j, relation, negative_slope)`` returns eq. 6's weights α
    (B, heads, n, n) from W h split into heads (B, heads, n, head_dim) and the two halves of
    each head's attention vector a = [a_i; a_j], (heads, head_dim) each: the score
    e_ij = LeakyReLU(a_i·W h_i + a_j·W h_j) · R_ij (eq. 5), then a softmax over j."""
    return run_check(
        "graph_attention_weights",
        fn,
        reference_graph_attention_weights,
        weight_cases(30),
        "reidkit.models.mhga.HeterogeneousGraphAttention.scores",
        atol=1e-5,
    )


def reference_graph_attention_layer(mhga: nn.Module, nodes: Tensor, relation: Tensor) -> Tensor:
    with torch.no_grad():
        return mhga.attend(nodes, relation)[0]


def layer_cases(seed: int) -> list[Case]:
    from reidkit.models.mhga import relation_matrix

    g = generator(seed)
    cases = []
    for k, (description, B, dim, heads, grid, modalities) in enumerate(
        [
            ("2 pairs, D = 8, 2 heads, a 2x2 grid, both modalities", 2, 8, 2, (2, 2), 2),
            ("1 image, D = 12, 3 heads, a 3x2 grid, one modality (test time)", 1, 12, 3, (3, 2), 1),
            ("3 pairs, D = 6, 1 head, a 1x3 row, both modalities", 3, 6, 1, (1, 3), 2),
        ]
    ):
        nodes = torch.randn(B, modalities * grid[0] * grid[1], dim, generator=g)  # (B, n, D)
        relation = relation_matrix(grid, modalities=modalities)
        cases.append(Case(description, (_seeded_mhga(dim, heads, seed + k), nodes, relation)))
    return cases


def check_graph_attention_layer(fn: Callable[[nn.Module, Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(mhga, nodes, relation)`` returns the MHGA layer's output (B, n, D) for node
    features h (B, n, D) and R (n, n), using the parameters of ``mhga`` (a
    ``HeterogeneousGraphAttention``): W h = ``mhga.W(h)`` split into ``mhga.num_heads`` heads,
    α from ``mhga.a_i``, ``mhga.a_j`` and ``mhga.negative_slope`` (eq. 5-6), h'_i = Σ_j α_ij W h_j
    per head (eq. 7), heads side by side, then ``mhga.norm(h + mhga.proj(h'))``."""
    return run_check(
        "graph_attention_layer",
        fn,
        reference_graph_attention_layer,
        layer_cases(40),
        "reidkit.models.mhga.HeterogeneousGraphAttention.attend",
        atol=1e-5,
    )
