"""CrossViT: two patch sizes that talk through their CLS tokens (seed 002, eq. 5-8).

Two ViT branches see the same image: branch 0 cuts it into small patches with a narrow
embedding, branch 1 into large patches with a wide one; each has its own CLS token and position
embedding (eq. 1 per branch). ``num_blocks`` multi-scale blocks each run the branches' own
transformer blocks, then swap information through the CLS tokens only
(``reidkit.models.cross_attention``). The re-id embedding is the concatenation of the two final
CLS tokens, each after its branch's LayerNorm: (B, D_0 + D_1).

Image sizes. Each branch sees the input resized (bicubic, as timm) to ``img_scales[b]`` times
its size, rounded down to a multiple of its patch size (``branch_image_sizes``). With timm's
configuration (patches 12 and 16, scales 1 and 224/240) a 240x240 input gives timm's 240x240
and 224x224 branch images, so the features match timm's ``crossvit_*_240`` to float precision.
A 256x128 re-id input gives 252x120 (21x10 patches of 12) and 224x112 (14x7 patches of 16).
Parameter names are timm's, so a timm state dict loads strictly
(``reidkit.models.crossvit_pretrained``).

Hybrids. From scratch a linear patch embedding learns slowly (chapter 4's reason for the CPU
profiles' hybrid ViT), so ``stem_widths`` can replace the two patch embeddings by one small CNN
whose stride-8 and stride-16 maps give the two branches' tokens
(``reidkit.models.stem.ConvPyramid``). ``crossvit_hybrid_nano`` and ``crossvit_hybrid_cpu``
are what ``smoke`` and ``quick`` train, and ``crossvit_hybrid_gpu`` what ``full`` trains when
no ImageNet weights can be had (``profile_crossvit``), so chapter 8 compares a hybrid ViT with
a hybrid CrossViT of the same stem, not a conv stem with a linear one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.models.cross_attention import MultiScaleBlock
from reidkit.models.stem import ConvPyramid
from reidkit.models.vit import PatchEmbed, attention_path, pair


@dataclass(frozen=True)
class CrossViTConfig:
    """The shape of a CrossViT; per-branch pairs are (small patches, large patches)."""

    embed_dims: tuple[int, int]
    depths: tuple[int, int]  # transformer blocks of each branch in one multi-scale block
    num_heads: tuple[int, int]
    num_blocks: int = 3  # multi-scale blocks
    patch_sizes: tuple[int, int] = (12, 16)
    img_scales: tuple[float, float] = (1.0, 224 / 240)
    mlp_ratios: tuple[float, float] = (4.0, 4.0)
    stem_widths: tuple[int, ...] = ()  # non-empty: a hybrid, tokens from one ConvPyramid


CROSSVIT_CONFIGS: dict[str, CrossViTConfig] = {
    # CPU sizes, trained from scratch: patches 8 and 16 divide 64x32 and 128x64 exactly.
    "crossvit_nano": CrossViTConfig((32, 64), (1, 2), (2, 2), 2, (8, 16), (1.0, 1.0)),
    "crossvit_cpu": CrossViTConfig((96, 192), (1, 2), (3, 3), 3, (8, 16), (1.0, 1.0)),
    # Hybrids for quick (and smoke): vit_hybrid_cpu's conv stem, and a large-patch branch of that
    # ViT's width and depth (4 blocks of 192; nano: 2 of 64, as vit_hybrid_nano), so CrossViT
    # adds a small-patch branch and the CLS fusion to the baseline's ViT.
    "crossvit_hybrid_nano": CrossViTConfig(
        (32, 64), (1, 2), (2, 2), 1, (8, 16), (1.0, 1.0), stem_widths=(16, 32, 64, 64)
    ),
    "crossvit_hybrid_cpu": CrossViTConfig(
        (96, 192), (1, 2), (3, 3), 2, (8, 16), (1.0, 1.0), stem_widths=(32, 64, 128, 256)
    ),
    # full's CrossViT when it trains from scratch: vit_hybrid_gpu's stem, and 6 blocks of 384 in
    # the large-patch branch (that ViT's width and depth) beside a 192-wide small-patch branch.
    "crossvit_hybrid_gpu": CrossViTConfig(
        (192, 384), (1, 2), (6, 6), 3, (8, 16), (1.0, 1.0), stem_widths=(32, 64, 128, 256)
    ),
    # METHODS.md section 3 = timm's crossvit_{tiny,small,base}_240 (pretrained weights exist).
    "crossvit_tiny": CrossViTConfig((96, 192), (1, 4), (3, 3)),
    "crossvit_small": CrossViTConfig((192, 384), (1, 4), (6, 6)),
    "crossvit_base": CrossViTConfig((384, 768), (1, 4), (12, 12)),
}
PROFILE_CROSSVIT = {
    "smoke": "crossvit_hybrid_nano",
    "quick": "crossvit_hybrid_cpu",
    "full": "crossvit_small",  # with timm's ImageNet weights; else crossvit_hybrid_gpu
}


def profile_crossvit(profile_name: str, pretrained: str | None) -> str:
    """The CrossViT a profile trains. ``full`` fine-tunes timm's ``crossvit_small`` when its
    (resolved) ``pretrained`` is ``"timm"``; otherwise its CrossViT starts from scratch, and from
    scratch a linear patch embedding stays near chance in a chapter's schedule, so it trains
    ``crossvit_hybrid_gpu`` (as ``full`` falls back from ViT-S to ``vit_hybrid_gpu``)."""
    if profile_name == "full" and pretrained != "timm":
        return "crossvit_hybrid_gpu"
    return PROFILE_CROSSVIT[profile_name]


def branch_image_sizes(
    img_size: tuple[int, int], patch_sizes: tuple[int, int], img_scales: tuple[float, float]
) -> list[tuple[int, int]]:
    """The image size each branch sees: ``int(scale * side)`` (timm's rounding), then down to a
    multiple of the branch's patch size so that the patches tile it exactly."""
    sizes = []
    for patch, scale in zip(patch_sizes, img_scales):
        h, w = (int(side * scale) // patch * patch for side in img_size)
        if h == 0 or w == 0:
            raise ValueError(
                f"img_size {img_size} at scale {scale} is smaller than one {patch}px patch"
            )
        sizes.append((h, w))
    return sizes


@dataclass
class CrossViTIntermediates:
    """``tokens[k][b]``: branch b after multi-scale block k (B, 1+N_b, D_b); ``features``: the
    final normalised tokens; ``cross_attentions[k][b]``: branch b's CLS over [itself; the other
    branch's patches] in block k (B, heads, 1, 1+N_other), when asked for."""

    tokens: list[list[Tensor]]
    features: list[Tensor]
    cross_attentions: list[list[Tensor]] = field(default_factory=list)


class CrossViT(nn.Module):
    """Two-branch multi-scale ViT. ``forward_features`` -> the two branches' normalised tokens,
    ``forward_head(features, pre_logits=True)`` -> the embedding (B, D_0 + D_1)."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = (256, 128),
        patch_sizes: tuple[int, int] = (12, 16),
        img_scales: tuple[float, float] = (1.0, 1.0),
        in_chans: int = 3,
        num_classes: int = 0,
        embed_dims: tuple[int, int] = (96, 192),
        depths: tuple[int, int] = (1, 4),
        num_heads: tuple[int, int] = (3, 3),
        num_blocks: int = 3,
        mlp_ratios: tuple[float, float] = (4.0, 4.0),
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "token",
        stem_widths: tuple[int, ...] = (),
    ) -> None:
        """Arguments as ``VisionTransformer``'s, per branch where they are pairs;
        ``drop_path_rate`` rises linearly over the blocks of the larger branch, as timm's.
        ``stem_widths`` non-empty: both branches' tokens come from one ``ConvPyramid`` of
        these widths (then both branches must see the image at scale 1)."""
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}")
        if len(patch_sizes) != 2 or len(embed_dims) != 2:
            raise ValueError(f"CrossViT has two branches; got patch_sizes {patch_sizes}")
        self.img_size = pair(img_size)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.embed_dims = tuple(embed_dims)
        self.num_features = sum(embed_dims)
        self.patch_sizes = tuple(patch_sizes)
        self.branch_sizes = branch_image_sizes(self.img_size, patch_sizes, img_scales)
        self.patch_embed: nn.ModuleList | ConvPyramid
        if stem_widths:
            if any(size != self.img_size for size in self.branch_sizes):
                raise ValueError(
                    f"a hybrid CrossViT's branches share one stem, so they must see the "
                    f"{self.img_size} image itself; got branch sizes {self.branch_sizes} "
                    f"(img_scales {img_scales}, patch_sizes {patch_sizes})"
                )
            self.patch_embed = ConvPyramid(
                self.img_size, tuple(patch_sizes), in_chans, tuple(embed_dims), tuple(stem_widths)
            )
            self.grids = list(self.patch_embed.grid_sizes)
        else:
            self.patch_embed = nn.ModuleList(
                PatchEmbed(size, p, p, in_chans, d)
                for size, p, d in zip(self.branch_sizes, patch_sizes, embed_dims)
            )
            self.grids = [embed.grid_size for embed in self.patch_embed]
        for b, (grid, dim) in enumerate(zip(self.grids, embed_dims)):  # timm's names
            self.register_parameter(f"cls_token_{b}", nn.Parameter(torch.zeros(1, 1, dim)))
            pos = nn.Parameter(torch.zeros(1, 1 + grid[0] * grid[1], dim))
            self.register_parameter(f"pos_embed_{b}", pos)
        self.pos_drop = nn.Dropout(pos_drop_rate)
        per_block = max(depths)
        rates = torch.linspace(0, drop_path_rate, per_block * num_blocks).tolist()
        self.blocks = nn.ModuleList(
            MultiScaleBlock(
                tuple(embed_dims),
                tuple(depths),
                tuple(num_heads),
                tuple(mlp_ratios),
                qkv_bias,
                proj_drop_rate,
                attn_drop_rate,
                tuple(rates[k * per_block : (k + 1) * per_block]),
            )
            for k in range(num_blocks)
        )
        self.norm = nn.ModuleList(nn.LayerNorm(d, eps=1e-6) for d in embed_dims)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.ModuleList(
            nn.Linear(d, num_classes) if num_classes > 0 else nn.Identity() for d in embed_dims
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's initialisation: truncated normal (std 0.02) for linear weights, E_pos, CLS."""
        for b in range(2):
            nn.init.trunc_normal_(self.pos_embed(b), std=0.02)
            nn.init.trunc_normal_(self.cls_token(b), std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def cls_token(self, branch: int) -> nn.Parameter:
        return getattr(self, f"cls_token_{branch}")

    def pos_embed(self, branch: int) -> nn.Parameter:
        return getattr(self, f"pos_embed_{branch}")

    def add_patch_modules(
        self,
        make: Callable[[int, int, tuple[int, int]], nn.Module],
        blocks: Iterable[int] | None = None,
    ) -> None:
        """Insert ``make(branch, dim, grid)`` modules on the patch tokens of the multi-scale
        blocks ``blocks`` (default: the last), after the branch blocks and before the fusion,
        so the CLS tokens read the modules' output. Each module maps (patches (B, N, D), grid
        (h, w)) -> (B, N, D). This is where chapter 7's CSA goes."""
        chosen = [len(self.blocks) - 1] if blocks is None else list(blocks)
        for k in chosen:
            modules = [make(b, d, g) for b, (d, g) in enumerate(zip(self.embed_dims, self.grids))]
            self.blocks[k].patch_modules = nn.ModuleList(modules)

    def scale_image(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """The image a branch sees: timm's scale_image (bicubic, no antialiasing) if resized."""
        if size == self.img_size:
            return x
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False)

    def embed(self, x: Tensor) -> list[Tensor]:
        """Eq. 1 per branch: images (B, C, H, W) -> [(B, 1+N_0, D_0), (B, 1+N_1, D_1)]."""
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"CrossViT built for {self.img_size} images, got {tuple(x.shape)}")
        if isinstance(self.patch_embed, ConvPyramid):
            branch_patches = self.patch_embed(x)  # [(B, N_0, D_0), (B, N_1, D_1)]
        else:
            branch_patches = [
                embed(self.scale_image(x, size))  # (B, N_b, D_b)
                for embed, size in zip(self.patch_embed, self.branch_sizes)
            ]
        tokens = []
        for b, patches in enumerate(branch_patches):
            cls = self.cls_token(b).expand(x.shape[0], -1, -1)  # (B, 1, D_b)
            z = torch.cat([cls, patches], dim=1) + self.pos_embed(b)  # (B, 1+N_b, D_b)
            tokens.append(self.pos_drop(z))
        return tokens

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Images -> each branch's normalised tokens [(B, 1+N_0, D_0), (B, 1+N_1, D_1)]."""
        tokens = self.embed(x)
        for block in self.blocks:
            tokens, _ = block(tokens, self.grids)
        return [norm(z) for norm, z in zip(self.norm, tokens)]

    def pool(self, features: list[Tensor]) -> list[Tensor]:
        """Each branch's CLS token (or mean of its patch tokens): [(B, D_0), (B, D_1)]."""
        if self.global_pool == "avg":
            return [z[:, 1:].mean(dim=1) for z in features]
        return [z[:, 0] for z in features]

    def forward_head(self, features: list[Tensor], pre_logits: bool = False) -> Tensor:
        """Branch tokens -> the embedding [y_0; y_1] (B, D_0 + D_1) when ``pre_logits`` or
        without a classifier, else the mean of the two branches' logits (timm's head)."""
        pooled = [self.head_drop(y) for y in self.pool(features)]
        if pre_logits or self.num_classes == 0:
            return torch.cat(pooled, dim=1)  # (B, D_0 + D_1)
        return torch.stack([head(y) for head, y in zip(self.head, pooled)]).mean(dim=0)

    def forward_embedding(self, x: Tensor) -> Tensor:
        """Images -> the re-id embedding (B, D_0 + D_1)."""
        return self.forward_head(self.forward_features(x), pre_logits=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self, x: Tensor, return_attention: bool = False
    ) -> CrossViTIntermediates:
        """Keep every multi-scale block's tokens and, with ``return_attention`` (the explicit
        path for this call), each branch's CLS cross-attention weights."""
        tokens, attentions = self.embed(x), []
        kept = []
        with attention_path(self, fused=not return_attention):
            for block in self.blocks:
                tokens, weights = block(tokens, self.grids)
                kept.append(tokens)
                if return_attention:
                    attentions.append(weights)
        features = [norm(z) for norm, z in zip(self.norm, tokens)]
        return CrossViTIntermediates(kept, features, attentions)


def create_crossvit(
    name: str,
    img_size: int | tuple[int, int] = (256, 128),
    num_classes: int = 0,
    **overrides: object,
) -> CrossViT:
    """A CrossViT from a named configuration (``CROSSVIT_CONFIGS``); ``overrides`` change any
    argument of ``CrossViT``, e.g. ``img_scales=(1.0, 1.0)`` or ``drop_path_rate=0.1``."""
    if name not in CROSSVIT_CONFIGS:
        raise ValueError(
            f"unknown CrossViT configuration {name!r}; expected one of {list(CROSSVIT_CONFIGS)}"
        )
    c = CROSSVIT_CONFIGS[name]
    kwargs: dict[str, object] = {
        "embed_dims": c.embed_dims,
        "depths": c.depths,
        "num_heads": c.num_heads,
        "num_blocks": c.num_blocks,
        "patch_sizes": c.patch_sizes,
        "img_scales": c.img_scales,
        "mlp_ratios": c.mlp_ratios,
        "stem_widths": c.stem_widths,
    }
    kwargs.update(overrides)
    return CrossViT(img_size=img_size, num_classes=num_classes, **kwargs)
