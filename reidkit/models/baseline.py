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

With ``csa=True`` (chapter 7) channel and spatial attention (``reidkit.models.csa``) refines
the backbone's patch tokens after its last block (a CNN's feature map directly), and f is the
average of the refined patch tokens instead of the CLS token. The CLS token is computed before
CSA, so keeping it as f would leave CSA out of the embedding and out of the gradients; the
paper feeds the refined map M'' to its losses, and CBAM's refined maps are average-pooled.

With ``center_loss=True`` the model holds the learnable class centers of the center loss
(``reidkit.losses.CenterLoss``): they are parameters, so the optimiser updates them and
checkpoints keep them; ``forward`` then also returns the term ``center`` for the objective.
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.data.records import modality_index
from reidkit.losses.center import CenterLoss
from reidkit.models.csa import ChannelSpatialAttention, CSAMaps

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

    def logits(self, f_bn: Tensor) -> Tensor:
        """Post-BN features (B, D) -> identity logits (B, num_classes)."""
        if self.classifier is None:
            raise ValueError("this model was built with num_classes=0 and has no classifier")
        return self.classifier(f_bn)


def token_layout(backbone: nn.Module) -> tuple[int, tuple[int, int]]:
    """(number of prefix tokens, patch grid) of a ViT-like backbone, for CSA on its tokens."""
    grid = getattr(getattr(backbone, "patch_embed", None), "grid_size", None)
    if grid is None:
        raise ValueError(
            f"csa needs a backbone with patch_embed.grid_size (a ViT) or a CNN feature map; "
            f"{type(backbone).__name__} has none"
        )
    return int(getattr(backbone, "num_prefix_tokens", 1)), (int(grid[0]), int(grid[1]))


class CrossModalBaseline(nn.Module):
    """As timm: ``forward_features`` -> backbone tokens, ``forward_head`` -> logits (or the
    post-BN embedding with ``pre_logits=True``). As every reidkit method: ``forward(batch)`` ->
    training outputs, ``forward_embedding(batch)`` -> the retrieval embedding f_bn (B, D)."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        modality_patch_embed: bool = False,
        csa: bool = False,
        csa_reduction: int = 16,
        center_loss: bool = False,
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
        self.csa = ChannelSpatialAttention(self.embed_dim, csa_reduction) if csa else None
        self.centers = None
        if center_loss:
            if num_classes < 1:
                raise ValueError("center_loss needs num_classes >= 1 (one center per identity)")
            self.centers = CenterLoss(num_classes, self.embed_dim)

    def forward_features(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
        """Images (B, C, H, W) -> tokens (B, 1+N, D) (a CNN: a map (B, D, h, w)), the patch
        tokens refined by CSA when the model has it."""
        tokens = self.backbone_features(images, modalities)
        if self.csa is None:
            return tokens
        return self.apply_csa(tokens)[0]

    def apply_csa(self, tokens: Tensor) -> tuple[Tensor, CSAMaps]:
        """CSA on the patch tokens (prefix tokens unchanged) or on a CNN's feature map."""
        if tokens.dim() == 4:  # a CNN's map (B, D, h, w)
            return self.csa.forward_map(tokens)
        prefix, grid = token_layout(self.backbone)
        patches, maps = self.csa(tokens[:, prefix:], grid, return_maps=True)  # (B, N, D)
        return torch.cat([tokens[:, :prefix], patches], dim=1), maps  # (B, prefix+N, D)

    def csa_maps(self, images: Tensor, modalities: Tensor | None = None) -> CSAMaps:
        """The channel weights (B, D) and spatial maps (B, h, w) CSA applies to ``images``."""
        if self.csa is None:
            raise ValueError("this model was built without CSA (csa=False)")
        return self.apply_csa(self.backbone_features(images, modalities))[1]

    def backbone_features(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
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
        """The pooled feature f (B, D), before the BNNeck: the triplet feature. The backbone's
        own pooling, or with CSA the mean of the refined patch tokens (map positions)."""
        if self.csa is None:
            return self.backbone.forward_head(tokens, pre_logits=True)
        if tokens.dim() == 4:
            return tokens.mean(dim=(2, 3))  # (B, D, h, w) -> (B, D)
        prefix, _ = token_layout(self.backbone)
        return tokens[:, prefix:].mean(dim=1)  # (B, N, D) -> (B, D)

    def forward_head(self, tokens: Tensor, pre_logits: bool = False) -> Tensor:
        """Tokens -> identity logits (B, num_classes), or f_bn (B, D) when ``pre_logits``."""
        f_bn = self.neck(self.pool(tokens))
        return f_bn if pre_logits else self.neck.logits(f_bn)

    def forward_embedding(self, batch: Batch) -> Tensor:
        """The re-id embedding: the post-BN feature f_bn (B, D), one image at a time."""
        tokens = self.forward_features(batch.images, batch.modalities)
        return self.forward_head(tokens, pre_logits=True)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Training outputs: ``features`` f (pre-BN, triplet loss), ``logits`` (CE loss) and,
        with centers, ``center`` (the center loss of f)."""
        f = self.pool(self.forward_features(batch.images, batch.modalities))  # (B, D)
        outputs = {"features": f, "logits": self.neck.logits(self.neck(f))}
        if self.centers is not None:
            outputs["center"] = self.centers(f, batch.labels)
        return outputs
