"""CrossViT's fusion: one branch's CLS token reads the other branch's patch tokens (seed 002,
eq. 5-8; METHODS.md section 3).

In reading order: the CLS-only cross-attention (eq. 6), the block that adds it to the projected
CLS (eq. 7), and the multi-scale block that runs both branches' transformer blocks, then fuses
(eq. 5 and 8). For branch C (the other one is F):

    z^C      = [P^C(x_cls^C); x_patch^F]                 (5)  MultiScaleBlock.fuse
    CrossA   = softmax(q k^T / sqrt(e / h)) v,            (6)  CrossAttention.forward
               q = x_cls^C W_q, k = z^C W_k, v = z^C W_v
    z_cls^C  = P^C(x_cls^C) + MultiCrossA(LN(z^C))        (7)  CrossAttentionBlock.forward
    Z^C      = [BP^C(z_cls^C); x_patch^C]                 (8)  MultiScaleBlock.fuse

P^C is LN -> GELU -> Linear to the other branch's width, BP^C the same back. Eq. 8 as printed
puts the *other* branch's patches after the CLS; we keep the branch's own patches (as the
CrossViT paper and timm do), so each branch keeps its own token count. Parameter names follow
timm's ``crossvit.py`` so that its state dicts load strictly (``tests/test_crossvit.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.models.vit import Block, DropPath

# A module applied to one branch's patch tokens: (patches (B, N, C), grid (h, w)) -> (B, N, C).
PatchModule = Callable[[Tensor, tuple[int, int]], Tensor]


class CrossAttention(nn.Module):
    """Eq. 6: only the first token (the projected CLS) asks; every token (itself and the other
    branch's patches) answers. Output (B, 1, D), and the weights (B, heads, 1, N) on the
    explicit path (``fused=False``); ``fused=True`` uses ``F.scaled_dot_product_attention``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"cross-attention width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5  # 1 / sqrt(e / h) of eq. 6
        self.fused = True
        self.wq = nn.Linear(dim, dim, bias=qkv_bias)
        self.wk = nn.Linear(dim, dim, bias=qkv_bias)
        self.wv = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def heads(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, heads, N, head_dim)."""
        B, N, _ = x.shape
        return x.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """Eq. 6: the first token of ``z`` (B, N, D) asks, all N answer: (B, 1, D), weights."""
        return self.attend(z[:, :1], z)

    def attend(self, queries: Tensor, context: Tensor) -> tuple[Tensor, Tensor | None]:
        """Each of the M ``queries`` (B, M, D) reads the N ``context`` tokens (B, N, D): output
        (B, M, D), and the weights (B, heads, M, N) on the explicit path (CSET's CA asks with
        every token, chapter 11)."""
        B, M, D = queries.shape
        q = self.heads(self.wq(queries))  # (B, heads, M, head_dim)
        k, v = self.heads(self.wk(context)), self.heads(self.wv(context))  # (B, heads, N, hd)
        weights = None
        if self.fused:
            drop = self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, heads, M, hd)
        else:
            weights = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, h, M, N)
            x = self.attn_drop(weights) @ v  # (B, heads, M, head_dim)
        x = x.transpose(1, 2).reshape(B, M, D)  # (B, M, heads * head_dim)
        return self.proj_drop(self.proj(x)), weights


class CrossAttentionBlock(nn.Module):
    """Eq. 7: the projected CLS plus the cross-attention of the normalised [CLS; patches]."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """[P(x_cls); x_patch^other] (B, 1+N, D) -> the new CLS (B, 1, D), weights."""
        attended, weights = self.attn(self.norm1(z))
        return z[:, :1] + self.drop_path(attended), weights


def projection(in_dim: int, out_dim: int) -> nn.Sequential:
    """P and BP of eq. 5 and 8: LayerNorm -> GELU -> Linear from one width to the other."""
    return nn.Sequential(nn.LayerNorm(in_dim, eps=1e-6), nn.GELU(), nn.Linear(in_dim, out_dim))


class MultiScaleBlock(nn.Module):
    """Each branch's transformer blocks (``depths[b]`` of them), then the CLS fusion of eq. 5-8
    in both directions, both computed from the pre-fusion tokens."""

    def __init__(
        self,
        dims: tuple[int, int],
        depths: tuple[int, int],
        num_heads: tuple[int, int],
        mlp_ratios: tuple[float, float],
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_paths: tuple[float, ...] = (0.0,),
    ) -> None:
        """``drop_paths[i]``: stochastic depth of the i-th block of each branch; the fusion
        takes the last one (timm's schedule)."""
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                Block(dim, heads, ratio, qkv_bias, proj_drop, attn_drop, drop_paths[i])
                for i in range(depth)
            )
            for dim, depth, heads, ratio in zip(dims, depths, num_heads, mlp_ratios)
        )
        other = (1, 0)
        self.projs = nn.ModuleList(projection(dims[b], dims[other[b]]) for b in (0, 1))
        self.fusion = nn.ModuleList(  # branch b's CLS attends at the other branch's width
            CrossAttentionBlock(
                dims[other[b]], num_heads[other[b]], qkv_bias, proj_drop, attn_drop, drop_paths[-1]
            )
            for b in (0, 1)
        )
        self.revert_projs = nn.ModuleList(projection(dims[other[b]], dims[b]) for b in (0, 1))
        # Optional per-branch modules on the patch tokens, after the branch blocks and before
        # the fusion (where chapter 7's CSA goes); see CrossViT.add_patch_modules.
        self.patch_modules: nn.ModuleList | None = None

    def fuse(self, tokens: list[Tensor]) -> tuple[list[Tensor], list[Tensor | None]]:
        """Eq. 5-8 for both branches: tokens [(B, 1+N_0, D_0), (B, 1+N_1, D_1)] -> the same
        shapes with new CLS tokens, and each branch's cross-attention weights (B, heads, 1,
        1+N_other) (None on the fused path). Both directions read the pre-fusion ``tokens``."""
        fused, weights = [], []
        for b, (proj, fusion, revert) in enumerate(zip(self.projs, self.fusion, self.revert_projs)):
            other = tokens[1 - b]
            z = torch.cat([proj(tokens[b][:, :1]), other[:, 1:]], dim=1)  # eq. 5: (B, 1+N_o, D_o)
            cls, w = fusion(z)  # eq. 6-7: (B, 1, D_other)
            cls = revert(cls)  # BP of eq. 8: (B, 1, D_b)
            fused.append(torch.cat([cls, tokens[b][:, 1:]], dim=1))  # eq. 8: (B, 1+N_b, D_b)
            weights.append(w)
        return fused, weights

    def forward(
        self, tokens: list[Tensor], grids: list[tuple[int, int]]
    ) -> tuple[list[Tensor], list[Tensor | None]]:
        """Branch blocks, the optional patch modules, then ``fuse``; ``grids`` are the
        branches' patch grids (h, w), which the patch modules need."""
        outs = []
        for b, blocks in enumerate(self.blocks):
            z = tokens[b]
            for block in blocks:
                z, _ = block(z)
            if self.patch_modules is not None:
                patches = self.patch_modules[b](z[:, 1:], grids[b])  # (B, N_b, D_b)
                z = torch.cat([z[:, :1], patches], dim=1)  # (B, 1+N_b, D_b)
            outs.append(z)
        return self.fuse(outs)
