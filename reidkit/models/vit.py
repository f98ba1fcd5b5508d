"""A Vision Transformer for re-identification, written to be read (seed 002, eq. 1-4).

The modules come in reading order: patch embedding, attention, MLP, block, the whole model.
With patch stride equal to the patch size, parameter names and numerics match timm's
``VisionTransformer``, so a timm state dict loads strictly (``tests/test_vit.py`` checks it).

    z_0 = [x_cls; x_patch] + E_pos          (1)  VisionTransformer.embed
    z'_l = MSA(LN(z_{l-1})) + z_{l-1}       (2)  Block.forward
    z_l = MLP(LN(z'_l)) + z'_l              (3)  Block.forward
    y = LN(z_L^0)                           (4)  VisionTransformer.forward_features / pool

Outputs: ``forward_features`` -> normalised tokens (B, 1+N, D); ``forward_embedding`` -> the
CLS embedding y (B, D) used for re-id; ``forward_head`` -> logits (B, num_classes), or y when the
model has no classifier (``num_classes=0``); ``forward_intermediates`` -> every block's tokens
and, on request, its attention maps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.models.stem import ConvStem, check_image_size


@dataclass(frozen=True)
class ViTConfig:
    """The shape of a ViT; everything else (image size, classes, dropout) is an argument."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    stem_widths: tuple[int, ...] = ()  # non-empty: a hybrid ViT whose tokens come from a CNN


VIT_CONFIGS: dict[str, ViTConfig] = {
    "vit_nano": ViTConfig(embed_dim=64, depth=2, num_heads=2, patch_size=8),  # smoke, 64x32
    "vit_cpu": ViTConfig(embed_dim=192, depth=4, num_heads=3),  # quick, 128x64 on a CPU
    # Hybrids (reidkit.models.stem): what the profiles train from scratch.
    "vit_hybrid_nano": ViTConfig(64, 2, 2, patch_size=8, stem_widths=(16, 32, 64)),
    "vit_hybrid_cpu": ViTConfig(192, 4, 3, stem_widths=(32, 64, 128, 256)),
    # full's from-scratch backbone when no ImageNet weights can be had: fewer FLOPs than ViT-S
    "vit_hybrid_gpu": ViTConfig(384, 6, 6, stem_widths=(32, 64, 128, 256)),
    "vit_tiny": ViTConfig(embed_dim=192, depth=12, num_heads=3),
    "vit_small": ViTConfig(embed_dim=384, depth=12, num_heads=6),
    "vit_base": ViTConfig(embed_dim=768, depth=12, num_heads=12),
}


def pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class PatchEmbed(nn.Module):
    """Cut the image into patches and project each to D numbers with one strided convolution.

    ``stride < patch_size`` gives overlapping patches (TransReID uses patch 16, stride 12).
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int,
        stride: int,
        in_chans: int,
        embed_dim: int,
    ) -> None:
        super().__init__()
        height, width = img_size
        if height < patch_size or width < patch_size:
            raise ValueError(f"img_size {img_size} is smaller than one {patch_size}px patch")
        self.img_size = img_size
        self.grid_size = ((height - patch_size) // stride + 1, (width - patch_size) // stride + 1)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        check_image_size(x, self.img_size)
        x = self.proj(x)  # (B, D, grid_h, grid_w)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), patches in row-major order


class Attention(nn.Module):
    """Multi-head self-attention, softmax(q k^T / sqrt(head_dim)) v, computed one of two ways.

    ``fused=True`` calls ``F.scaled_dot_product_attention`` (fast, no weights); ``fused=False``
    spells the computation out and also returns the attention weights (B, heads, N, N).
    Switch a whole model with ``set_fused_attention``.
    """

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
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = True
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        weights = None
        if self.fused:
            drop = self.attn_drop.p if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, heads, N, hd)
        else:
            scores = (q * self.scale) @ k.transpose(-2, -1)  # (B, heads, N, N)
            weights = scores.softmax(dim=-1)  # each row sums to 1 over the N keys
            x = self.attn_drop(weights) @ v  # (B, heads, N, head_dim)
        x = x.transpose(1, 2).reshape(B, N, D)  # (B, N, heads * head_dim), heads side by side
        return self.proj_drop(self.proj(x)), weights


class Mlp(nn.Module):
    """The feed-forward part of a block: Linear -> GELU -> Linear, hidden width D * mlp_ratio."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for a random subset of samples
    (probability ``p``) and scale the kept ones by 1 / (1 - p); identity in evaluation."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, 1)
        return x * mask / keep


class Block(nn.Module):
    """One pre-norm encoder layer: eq. 2 (attention) then eq. 3 (MLP), each with a residual."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.attn(self.norm1(z))
        z = z + self.drop_path1(attended)  # eq. 2: z'_l = MSA(LN(z_{l-1})) + z_{l-1}
        z = z + self.drop_path2(self.mlp(self.norm2(z)))  # eq. 3: z_l = MLP(LN(z'_l)) + z'_l
        return z, weights


@dataclass
class Intermediates:
    """What ``forward_intermediates`` collects; ``tokens[i]`` is block i's output (B, 1+N, D),
    ``attentions[i]`` its weights (B, heads, 1+N, 1+N), ``features`` the final normalised tokens."""

    tokens: list[Tensor]
    features: Tensor
    attentions: list[Tensor] = field(default_factory=list)


class VisionTransformer(nn.Module):
    """Seed 002's ViT: eq. 1 in ``embed``, eq. 2-3 in the blocks, eq. 4 in ``forward_features``
    and ``pool``. Build named sizes with ``create_vit``, pretrained ones with ``from_timm``."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = (256, 128),
        patch_size: int = 16,
        stride: int | None = None,
        in_chans: int = 3,
        num_classes: int = 0,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        stem_widths: tuple[int, ...] = (),
        global_pool: str = "token",
    ) -> None:
        """``stride`` defaults to ``patch_size`` (no overlap); ``num_classes=0``: no classifier;
        ``drop_rate`` before the head, ``pos_drop_rate`` after eq. 1, ``proj_drop_rate`` after
        the attention projection and the MLP layers, ``attn_drop_rate`` on attention weights,
        ``drop_path_rate`` the stochastic depth of the last block (rising linearly from 0).
        ``stem_widths`` non-empty makes a hybrid: tokens from a ``ConvStem`` of these widths.
        ``global_pool``: ``"token"`` (eq. 4, the CLS token) or ``"avg"`` (mean of the patch
        tokens), as timm names them."""
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}")
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.global_pool = global_pool
        self.patch_embed: PatchEmbed | ConvStem
        if stem_widths:
            if stride not in (None, patch_size):
                raise ValueError("a hybrid ViT's conv stem has no patch stride option")
            self.patch_embed = ConvStem(
                pair(img_size), patch_size, in_chans, embed_dim, tuple(stem_widths)
            )
        else:
            self.patch_embed = PatchEmbed(
                pair(img_size), patch_size, stride or patch_size, in_chans, embed_dim
            )
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, embed_dim))
        self.pos_drop = nn.Dropout(pos_drop_rate)
        drop_paths = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # 0 -> rate
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, proj_drop_rate, attn_drop_rate, p)
            for p in drop_paths
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's initialisation: truncated normal (std 0.02) for weights and E_pos."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def embed(self, x: Tensor, patch_embed: nn.Module | None = None) -> Tensor:
        """Eq. 1: z_0 = [x_cls; x_patch] + E_pos, images (B, C, H, W) -> tokens (B, 1+N, D).

        ``patch_embed`` replaces the model's own for this call (a modality's own stem)."""
        patches = (patch_embed or self.patch_embed)(x)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        z = torch.cat([cls, patches], dim=1) + self.pos_embed  # (B, 1+N, D)
        return self.pos_drop(z)

    def forward_features(self, x: Tensor, patch_embed: nn.Module | None = None) -> Tensor:
        """Images (B, C, H, W) -> normalised tokens (B, 1+N, D); token 0 is y of eq. 4."""
        z = self.embed(x, patch_embed)
        for block in self.blocks:
            z, _ = block(z)
        return self.norm(z)

    def pool(self, features: Tensor) -> Tensor:
        """Eq. 4 picks the CLS token (or averages the patch tokens): (B, 1+N, D) -> (B, D)."""
        if self.global_pool == "avg":
            return features[:, 1:].mean(dim=1)
        return features[:, 0]

    def forward_embedding(self, x: Tensor) -> Tensor:
        """Images -> the re-id embedding y (B, D)."""
        return self.pool(self.forward_features(x))

    def forward_head(self, features: Tensor, pre_logits: bool = False) -> Tensor:
        """Normalised tokens (B, 1+N, D) -> logits (B, num_classes), or y when ``pre_logits``."""
        y = self.head_drop(self.pool(features))
        return y if pre_logits else self.head(y)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: Tensor, return_attention: bool = False) -> Intermediates:
        """Run the model and keep every block's output tokens (for multi-scale features and
        visualisation); ``return_attention=True`` takes the explicit path for this call."""
        tokens, attentions = [], []
        with attention_path(self, fused=not return_attention):
            z = self.embed(x)
            for block in self.blocks:
                z, weights = block(z)
                tokens.append(z)
                if return_attention:
                    attentions.append(weights)
        return Intermediates(tokens=tokens, features=self.norm(z), attentions=attentions)


def two_path_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` that declare both attention paths: any module with a boolean
    ``fused`` attribute (``Attention`` here; CrossViT's cross-attention, MHGA, GLAA later)."""
    return [m for m in model.modules() if isinstance(getattr(m, "fused", None), bool)]


def set_fused_attention(model: nn.Module, fused: bool) -> None:
    """The one switch: every attention module of ``model`` that declares the two paths takes
    the fused one (True) or the explicit one that returns the weights (False)."""
    for module in two_path_modules(model):
        module.fused = fused


@contextlib.contextmanager
def attention_path(model: nn.Module, fused: bool) -> Iterator[None]:
    """``set_fused_attention`` for the duration of a ``with`` block, then restore."""
    layers = two_path_modules(model)
    before = [m.fused for m in layers]
    set_fused_attention(model, fused)
    try:
        yield
    finally:
        for layer, was in zip(layers, before):
            layer.fused = was


def create_vit(
    name: str,
    img_size: int | tuple[int, int] = (256, 128),
    num_classes: int = 0,
    **overrides: object,
) -> VisionTransformer:
    """A ViT from a named configuration (``VIT_CONFIGS``); ``overrides`` change any argument
    of ``VisionTransformer``, e.g. ``stride=12`` or ``drop_path_rate=0.1``."""
    if name not in VIT_CONFIGS:
        raise ValueError(f"unknown ViT configuration {name!r}; expected one of {list(VIT_CONFIGS)}")
    config = VIT_CONFIGS[name]
    kwargs: dict[str, object] = {
        "embed_dim": config.embed_dim,
        "depth": config.depth,
        "num_heads": config.num_heads,
        "patch_size": config.patch_size,
        "mlp_ratio": config.mlp_ratio,
        "qkv_bias": config.qkv_bias,
        "stem_widths": config.stem_widths,
    }
    kwargs.update(overrides)
    return VisionTransformer(img_size=img_size, num_classes=num_classes, **kwargs)
