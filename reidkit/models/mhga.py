"""MHGA: multi-relational heterogeneous graph attention over patch tokens (CSET, eq. 4-7).

The nodes are the patch tokens of both modalities: the visible image's N = h * w patches, then
the infrared image's N, in the row-major grid order of ``reidkit.models.vit`` (no CLS token).
Every node attends to every node; how strongly two nodes are related by their grid positions
scales their attention score:

    R_ij  = λ1 same position, λ2 grid neighbours, λ3 otherwise     (4)  relation_matrix
    e_ij  = LeakyReLU(a^T [W h_i ‖ W h_j]) · R_ij                  (5)  scores
    α_ij  = exp(e_ij) / Σ_k exp(e_ik)                              (6)  attend
    h'_i  = Σ_j α_ij W h_j                                         (7)  attend

with several heads (W's output split into heads, one attention vector a per head), an output
projection, and a residual and LayerNorm around it: out = LN(h + proj(h')).

**Neighbours.** The paper's eq. 4 takes |pos(i) - pos(j)| = 1 on the position index. Read on
the row-major sequence, that would make the last patch of a row a neighbour of the first patch
of the next row, and the patches above and below not neighbours at all. We read the index as
the grid position it stands for: two patches are neighbours when they are 8-neighbours on the
h x w grid (Chebyshev distance 1, diagonals included). The relation ignores the modality:
"same position" covers i = j and the patch at the same place in the other image.

**Test time.** Inference sees one image at a time, so ``forward(visible, None)`` (or
``forward(None, infrared)``) builds the graph of that modality's N nodes alone, with R's N x N
block; the cross-modal edges exist only when both modalities are given (training).

**The two paths** (``fused``, switched with ``reidkit.models.vit.set_fused_attention``):

* ``fused=True`` (default, for training) is the memory-lean path. a = [a_i; a_j] splits over
  the concatenation, a^T [W h_i ‖ W h_j] = a_i·W h_i + a_j·W h_j, so the (B, heads, n, n)
  scores are a broadcast sum of two (B, heads, n) vectors and no tensor of node pairs is
  formed. It does not return the weights.
* ``fused=False`` spells eq. 5 out as printed: it builds every pair's concatenation
  (B, heads, n, n, 2 * head_dim) and multiplies it by a, and it returns α. It is for plots on a
  few images (that pair tensor is 2 * head_dim times larger than the scores).

Neither calls ``F.scaled_dot_product_attention``: SDPA computes softmax(q k^T / sqrt(d) + mask),
and LeakyReLU of a sum, times R_ij, is not a product q_i · k_j. The scores could only enter SDPA
as a finished additive mask with an empty query, which still needs the whole (n, n) score
matrix and so saves nothing; "fused" here means "without the pair tensor", not "SDPA".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LAMBDAS = (1.0, 0.7, 0.3)  # λ1, λ2, λ3 of the paper's experiments


def check_grid(grid: tuple[int, int]) -> tuple[int, int]:
    """A patch grid (h, w) of positive integers, as a tuple."""
    if len(grid) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in grid):
        raise ValueError(f"grid must be two positive integers (h, w), got {grid!r}")
    return int(grid[0]), int(grid[1])


def relation_matrix(
    grid: tuple[int, int],
    lambdas: tuple[float, float, float] = LAMBDAS,
    modalities: int = 2,
) -> Tensor:
    """Eq. 4: the relation R ((modalities * N), (modalities * N)) of the patches of an h x w
    grid, N = h * w, nodes ordered as all visible patches (row-major) then all infrared ones.

    R_ij = λ1 when nodes i and j lie at the same grid position (i = j included, and the same
    position in the other modality), λ2 when they are 8-neighbours (Chebyshev distance 1),
    λ3 otherwise. The λ must be positive: they scale scores, and a zero or negative one would
    erase or flip them."""
    h, w = check_grid(grid)
    if len(lambdas) != 3 or not all(math.isfinite(v) and v > 0 for v in lambdas):
        raise ValueError(f"lambdas must be three positive numbers (λ1, λ2, λ3), got {lambdas!r}")
    if modalities not in (1, 2):
        raise ValueError(f"modalities must be 1 or 2, got {modalities!r}")
    rows = torch.arange(h).repeat_interleave(w).repeat(modalities)  # (n,) grid row of each node
    cols = torch.arange(w).repeat(h * modalities)  # (n,) grid column of each node
    row_gap = (rows[:, None] - rows[None, :]).abs()  # (n, n)
    col_gap = (cols[:, None] - cols[None, :]).abs()  # (n, n)
    distance = torch.maximum(row_gap, col_gap)  # (n, n) Chebyshev distance on the grid
    same, neighbour, other = (float(v) for v in lambdas)
    relation = torch.full(distance.shape, other)  # (n, n), λ3 everywhere
    relation[distance == 1] = neighbour
    relation[distance == 0] = same
    return relation


class HeterogeneousGraphAttention(nn.Module):
    """MHGA (eq. 4-7): graph attention over the patch tokens of one or both modalities, scores
    scaled by the grid relation R, several heads, output projection, residual and LayerNorm.

    ``forward(visible, infrared)`` takes patch tokens (B, N, D) of the ``grid`` (no CLS token),
    either of them None for a modality not given (one modality: its own N nodes only, the test-
    time graph). ``dropout`` acts on the weights α and after the projection. The module's
    docstring explains the neighbourhood and the ``fused`` switch."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        lambdas: tuple[float, float, float] = LAMBDAS,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.grid = check_grid(grid)
        self.num_patches = self.grid[0] * self.grid[1]
        self.lambdas = tuple(float(v) for v in lambdas)
        self.negative_slope = negative_slope
        self.fused = True
        self.W = nn.Linear(
            dim, dim, bias=False
        )  # W of eq. 5, shared by all nodes; heads side by side
        self.a_i = nn.Parameter(torch.empty(num_heads, self.head_dim))  # a's half for W h_i
        self.a_j = nn.Parameter(torch.empty(num_heads, self.head_dim))  # a's half for W h_j
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # Derived from grid and lambdas, so not saved in state dicts (persistent=False).
        relation = relation_matrix(self.grid, lambdas, modalities=2)  # (2N, 2N)
        self.register_buffer("relation", relation, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W Xavier-uniform and a ~ N(0, 1 / head_dim), so that at initialisation the scores
        a·W h are about as large as the tokens; the projection as a ViT's (std 0.02)."""
        nn.init.xavier_uniform_(self.W.weight)
        nn.init.normal_(self.a_i, std=self.head_dim**-0.5)
        nn.init.normal_(self.a_j, std=self.head_dim**-0.5)
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def heads(self, nodes: Tensor) -> Tensor:
        """Node features h (B, n, D) -> W h split into heads (B, heads, n, head_dim)."""
        B, n, _ = nodes.shape
        wh = self.W(nodes).reshape(B, n, self.num_heads, self.head_dim)  # (B, n, heads, hd)
        return wh.transpose(1, 2)  # (B, heads, n, head_dim)

    def scores(self, wh: Tensor, relation: Tensor, explicit: bool) -> Tensor:
        """Eq. 5: e_ij = LeakyReLU(a^T [W h_i ‖ W h_j]) · R_ij, (B, heads, n, n), from W h
        (B, heads, n, head_dim) and R (n, n); ``explicit`` forms the concatenations."""
        if explicit:
            n = wh.shape[2]
            w_hi = wh[:, :, :, None].expand(-1, -1, -1, n, -1)  # (B, heads, n, n, hd): W h_i
            w_hj = wh[:, :, None].expand(-1, -1, n, -1, -1)  # (B, heads, n, n, hd): W h_j
            pairs = torch.cat([w_hi, w_hj], dim=-1)  # (B, heads, n, n, 2 hd): [W h_i ‖ W h_j]
            a = torch.cat([self.a_i, self.a_j], dim=-1)  # (heads, 2 hd)
            raw = torch.einsum("bhijc,hc->bhij", pairs, a)  # (B, heads, n, n)
        else:
            from_i = torch.einsum("bhnc,hc->bhn", wh, self.a_i)  # (B, heads, n): a_i·W h_i
            from_j = torch.einsum("bhnc,hc->bhn", wh, self.a_j)  # (B, heads, n): a_j·W h_j
            raw = from_i[..., :, None] + from_j[..., None, :]  # (B, heads, n, n), broadcast
        return F.leaky_relu(raw, self.negative_slope) * relation.to(raw.dtype)

    def attend(
        self, nodes: Tensor, relation: Tensor, return_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Eq. 5-7 on a graph of n nodes (B, n, D) with relation R (n, n), all heads, then
        LN(h + proj(h')). Returns (B, n, D) and α (B, heads, n, n), or None for α on the fused
        path; ``return_weights=True`` takes the explicit path for this call."""
        if nodes.dim() != 3 or nodes.shape[-1] != self.dim:
            raise ValueError(f"nodes: expected (B, n, D={self.dim}), got {tuple(nodes.shape)}")
        B, n, D = nodes.shape
        if tuple(relation.shape) != (n, n):
            raise ValueError(
                f"relation: expected ({n}, {n}) for {n} nodes, got {tuple(relation.shape)}"
            )
        explicit = return_weights or not self.fused
        wh = self.heads(nodes)  # (B, heads, n, head_dim)
        alpha = self.scores(wh, relation, explicit).softmax(dim=-1)  # eq. 6, over neighbours j
        aggregated = self.attn_drop(alpha) @ wh  # eq. 7: (B, heads, n, head_dim)
        aggregated = aggregated.transpose(1, 2).reshape(B, n, D)  # (B, n, heads * head_dim)
        out = self.norm(nodes + self.proj_drop(self.proj(aggregated)))  # residual, LayerNorm
        return out, (alpha if explicit else None)

    def check_tokens(self, name: str, tokens: Tensor) -> None:
        h, w = self.grid
        expected = (self.num_patches, self.dim)
        if tokens.dim() == 3 and tuple(tokens.shape[1:]) == expected:
            return
        hint = ""
        if tokens.dim() == 3 and tokens.shape[1] == self.num_patches + 1:
            hint = "; pass the patch tokens only, without the CLS token (tokens[:, 1:])"
        raise ValueError(
            f"{name}: expected patch tokens (B, N={self.num_patches}, D={self.dim}) of the "
            f"{h}x{w} grid, got shape {tuple(tokens.shape)}{hint}"
        )

    def forward(
        self, visible: Tensor | None, infrared: Tensor | None, return_weights: bool = False
    ) -> tuple[Tensor | None, ...]:
        """Patch tokens (B, N, D) of one or both modalities -> ``(visible_out, infrared_out)``,
        each (B, N, D) or None for a modality not given; with ``return_weights`` also α
        (B, heads, n, n), n = 2N (visible nodes first) or N. One modality: its own graph."""
        given = [
            (name, t) for name, t in (("visible", visible), ("infrared", infrared)) if t is not None
        ]
        if not given:
            raise ValueError("pass the patch tokens of at least one modality (visible, infrared)")
        for name, tokens in given:
            self.check_tokens(name, tokens)
        if len(given) == 2 and visible.shape[0] != infrared.shape[0]:
            raise ValueError(
                f"visible and infrared must pair image k with image k: batch sizes "
                f"{visible.shape[0]} and {infrared.shape[0]} differ"
            )
        nodes = torch.cat([tokens for _, tokens in given], dim=1)  # (B, n, D), visible first
        n = nodes.shape[1]
        out, weights = self.attend(nodes, self.relation[:n, :n], return_weights)
        parts = iter(out.split(self.num_patches, dim=1))  # each (B, N, D)
        visible_out = next(parts) if visible is not None else None
        infrared_out = next(parts) if infrared is not None else None
        if return_weights:
            return visible_out, infrared_out, weights
        return visible_out, infrared_out

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, grid={self.grid}, "
            f"lambdas={self.lambdas}, fused={self.fused}"
        )
