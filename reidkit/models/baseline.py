"""The cross-modal baseline: a shared backbone, an optional modality-specific patch embedding
and a BNNeck head (the AGW-style visible-infrared baseline, here with a ViT backbone).

    images --backbone--> tokens --pool--> f (triplet loss) --BatchNorm1d--> f_bn (retrieval)
                                                                    --Linear--> logits (CE loss)

Why the BNNeck: the triplet loss wants a free Euclidean space, the identity classifier wants
features on a sphere-like, normalised scale; one BatchNorm between them lets each loss act on
the feature it suits. The BN has no shift (its bias is frozen at 0) and the classifier no bias,
so the classes' weight vectors pass through the origin and cosine retrieval on ``f_bn`` works.

Any backbone with the timm interface works (``reidkit.models.backbones``). With
``modality_patch_embed=True`` infrared images get their own patch embedding (the first layer
sees the pixels whose statistics differ most between modalities); everything after is shared.
That needs a backbone whose ``forward_features`` takes a ``patch_embed`` (reidkit's ViT).
"""

from __future__ import annotations

import copy
import inspect

from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.data.records import modality_index

INFRARED = modality_index("infrared")


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
    """As timm: ``forward_features`` -> backbone tokens, ``forward_head`` -> logits (or the
    post-BN embedding with ``pre_logits=True``). As every reidkit method: ``forward(batch)`` ->
    training outputs, ``forward_embedding(batch)`` -> the retrieval embedding f_bn (B, D)."""

    def __init__(
        self, backbone: nn.Module, num_classes: int, modality_patch_embed: bool = False
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.embed_dim = backbone.num_features
        self.infrared_patch_embed = None
        if modality_patch_embed:
            takes = inspect.signature(backbone.forward_features).parameters
            if "patch_embed" not in takes or not hasattr(backbone, "patch_embed"):
                raise ValueError(
                    f"modality_patch_embed needs a backbone whose forward_features takes a "
                    f"patch_embed (reidkit's ViT); {type(backbone).__name__} does not"
                )
            # infrared images' own patch embedding, initialised as a copy of the shared one
            self.infrared_patch_embed = copy.deepcopy(backbone.patch_embed)
        self.neck = BNNeck(self.embed_dim, num_classes)

    def forward_features(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
        """Images (B, C, H, W) -> the backbone's tokens (B, 1+N, D), each image through its
        modality's patch embedding when there are two."""
        if self.infrared_patch_embed is None or modalities is None:
            return self.backbone.forward_features(images)
        infrared = modalities.to(images.device) == INFRARED  # (B,)
        if not infrared.any():
            return self.backbone.forward_features(images)
        if infrared.all():
            return self.backbone.forward_features(images, patch_embed=self.infrared_patch_embed)
        visible = self.backbone.forward_features(images[~infrared])  # (B_vis, 1+N, D)
        thermal = self.backbone.forward_features(
            images[infrared], patch_embed=self.infrared_patch_embed
        )  # (B_ir, 1+N, D)
        tokens = visible.new_empty((images.shape[0], *visible.shape[1:]))  # (B, 1+N, D)
        tokens[~infrared] = visible
        tokens[infrared] = thermal.to(tokens.dtype)
        return tokens

    def pool(self, tokens: Tensor) -> Tensor:
        """The backbone's pooled feature f (B, D), before the BNNeck: the triplet feature."""
        return self.backbone.forward_head(tokens, pre_logits=True)

    def forward_head(self, tokens: Tensor, pre_logits: bool = False) -> Tensor:
        """Tokens -> identity logits (B, num_classes), or f_bn (B, D) when ``pre_logits``."""
        f_bn = self.neck(self.pool(tokens))
        if pre_logits:
            return f_bn
        if self.neck.classifier is None:
            raise ValueError("this model was built with num_classes=0 and has no classifier")
        return self.neck.classifier(f_bn)

    def forward_embedding(self, batch: Batch) -> Tensor:
        """The re-id embedding: the post-BN feature f_bn (B, D), one image at a time."""
        tokens = self.forward_features(batch.images, batch.modalities)
        return self.forward_head(tokens, pre_logits=True)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Training outputs: ``features`` f (pre-BN, triplet loss), ``logits`` (CE loss)."""
        if self.neck.classifier is None:
            raise ValueError("this model was built with num_classes=0 and has no classifier")
        f = self.pool(self.forward_features(batch.images, batch.modalities))  # (B, D)
        return {"features": f, "logits": self.neck.classifier(self.neck(f))}
