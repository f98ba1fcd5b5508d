"""Seed 002's model: a two-branch CrossViT with channel + spatial attention, behind a BNNeck.

The paper's Table 3 adds its parts one at a time, so this builder turns each on or off:

* ``crossvit=True``: the backbone is a CrossViT (chapter 6); the re-id feature is the two
  branches' CLS tokens, concatenated. With ``csa`` each branch's patch tokens go through their
  own CSA (chapter 7) in the last multi-scale block, after the branch's transformer blocks and
  before the CLS fusion, so that the CLS tokens read the refined patches (a CSA after the last
  fusion would reach neither CLS token nor the embedding).
* ``crossvit=False``: the single-branch ViT of chapter 4; ``csa`` then refines its last block's
  patch tokens and the feature is their mean (``reidkit.models.baseline`` says why).

TrivialAugment is a data choice (``data.augment``) and the adaptive-weight triplet a loss
choice (``reidkit.methods.fused_attention``), so neither appears here.
"""

from __future__ import annotations

from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import CrossModalBaseline
from reidkit.models.crossvit import CrossViT
from reidkit.models.csa import ChannelSpatialAttention


def add_branch_csa(model: CrossViT, reduction: int = 16, every_block: bool = False) -> None:
    """Give each CrossViT branch its own CSA on its patch tokens: in the last multi-scale
    block, or in every one with ``every_block``."""
    blocks = range(len(model.blocks)) if every_block else None
    model.add_patch_modules(
        lambda branch, dim, grid: ChannelSpatialAttention(dim, reduction), blocks
    )


def build_fused_attention_model(
    num_classes: int,
    img_size: tuple[int, int],
    crossvit: bool = True,
    csa: bool = True,
    crossvit_backbone: str = "crossvit_hybrid_cpu",
    vit_backbone: str = "vit_hybrid_cpu",
    pretrained: str | None = None,
    drop_path_rate: float = 0.0,
    csa_reduction: int = 16,
    csa_every_block: bool = False,
    center_loss: bool = False,
) -> CrossModalBaseline:
    """The seed-002 model with the chosen parts (see the module's docstring)."""
    name = crossvit_backbone if crossvit else vit_backbone
    backbone = build_backbone(name, img_size, pretrained, drop_path_rate)
    if crossvit:
        if not isinstance(backbone, CrossViT):
            raise ValueError(f"crossvit_backbone: {name!r} is not a CrossViT configuration")
        if csa:
            add_branch_csa(backbone, csa_reduction, csa_every_block)
    return CrossModalBaseline(
        backbone,
        num_classes,
        csa=csa and not crossvit,
        csa_reduction=csa_reduction,
        center_loss=center_loss,
    )
