"""The cross-modal baseline: a shared ViT, an optional modality-specific patch embedding and a
BNNeck head (the AGW-style visible-infrared baseline with a ViT backbone).

    images --ViT--> f (pre-BN, triplet loss) --BatchNorm1d--> f_bn (retrieval) --Linear--> logits

Why the BNNeck: the triplet loss wants a free Euclidean space, the identity classifier wants
features on a sphere-like, normalised scale; one BatchNorm between them lets each loss act on
the feature it suits. The BN has no shift (its bias is frozen at 0) and the classifier no bias,
so the classes' weight vectors pass through the origin and cosine retrieval on ``f_bn`` works.

With ``modality_patch_embed=True`` the visible and infrared images get their own patch
embeddings (the first layer sees pixels whose statistics differ most between modalities);
everything after is shared. ``modalities`` are indices into ``reidkit.data.MODALITIES``.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from reidkit.data.records import MODALITIES
from reidkit.models.vit import VisionTransformer, create_vit

INFRARED = MODALITIES.index("infrared")


class BNNeck(nn.Module):
    """BatchNorm1d (shift frozen at zero) then a bias-free linear classifier."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False) if num_classes > 0 else None
        if self.classifier is not None:
            nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, features: Tensor) -> Tensor:
        return self.bn(features)  # (B, D)


class CrossModalBaseline(nn.Module):
    """``forward(images, modalities)`` -> ``(f, logits)`` in training; ``forward_features`` ->
    the post-BN embedding used for retrieval; ``forward_head`` -> logits from that embedding."""

    def __init__(
        self,
        backbone: VisionTransformer,
        num_classes: int,
        modality_patch_embed: bool = False,
        pool: str = "cls",
    ) -> None:
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.pool = pool
        self.backbone = backbone
        self.num_classes = num_classes
        self.embed_dim = backbone.embed_dim
        # infrared images' own patch embedding, initialised as a copy of the shared one
        self.infrared_patch_embed = (
            copy.deepcopy(backbone.patch_embed) if modality_patch_embed else None
        )
        self.neck = BNNeck(self.embed_dim, num_classes)

    def embed(self, images: Tensor, modalities: Tensor | None) -> Tensor:
        """Eq. 1 with the patch embedding chosen per image: (B, C, H, W) -> (B, 1+N, D)."""
        vit = self.backbone
        if self.infrared_patch_embed is None or modalities is None:
            return vit.embed(images)
        infrared = modalities.to(images.device) == INFRARED  # (B,)
        patches = vit.patch_embed(images[~infrared])  # (B_vis, N, D)
        out = patches.new_empty((images.shape[0], *patches.shape[1:]))  # (B, N, D)
        out[~infrared] = patches
        out[infrared] = self.infrared_patch_embed(images[infrared]).to(out.dtype)
        cls = vit.cls_token.expand(images.shape[0], -1, -1)  # (B, 1, D)
        return vit.pos_drop(torch.cat([cls, out], dim=1) + vit.pos_embed)  # (B, 1+N, D)

    def forward_pre_bn(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
        """The backbone's CLS embedding f (B, D), before the BNNeck: the triplet feature."""
        z = self.embed(images, modalities)
        for block in self.backbone.blocks:
            z, _ = block(z)
        z = self.backbone.norm(z)  # (B, 1+N, D)
        if self.pool == "mean":
            return z[:, 1:].mean(dim=1)  # average of the patch tokens (B, D)
        return self.backbone.pool(z)  # the CLS token (B, D)

    def forward_features(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
        """The re-id embedding: the post-BN feature f_bn (B, D)."""
        return self.neck(self.forward_pre_bn(images, modalities))

    def forward_head(self, features: Tensor) -> Tensor:
        """Post-BN features (B, D) -> identity logits (B, num_classes)."""
        if self.neck.classifier is None:
            raise ValueError("this model was built with num_classes=0 and has no classifier")
        return self.neck.classifier(features)

    def forward(self, images: Tensor, modalities: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Training outputs: (pre-BN feature for the triplet loss, logits for the CE loss)."""
        f = self.forward_pre_bn(images, modalities)  # (B, D)
        return f, self.forward_head(self.neck(f))


def build_baseline(
    vit: str,
    img_size: tuple[int, int],
    num_classes: int,
    modality_patch_embed: bool = False,
    drop_path_rate: float = 0.0,
    pool: str = "cls",
) -> CrossModalBaseline:
    """A :class:`CrossModalBaseline` on a freshly initialised ViT of the named configuration."""
    backbone = create_vit(vit, img_size=img_size, num_classes=0, drop_path_rate=drop_path_rate)
    return CrossModalBaseline(backbone, num_classes, modality_patch_embed, pool)
