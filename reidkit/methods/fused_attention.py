"""Seed 002 as a method (chapters 5-8): TrivialAugment, CrossViT, CSA and the adaptive-weight
triplet on the cross-modal baseline's training recipe.

Each of the four parts is one switch, so the paper's Table 3 (parts added one at a time) and
Table 4 (center loss vs batch-hard vs adaptive-weight triplet) are rows of one ablation spec
(``configs/ablations/fused_table3.yaml``, ``fused_table4.yaml``):

* TrivialAugment: ``data.augment.<modality>`` lists ``trivial_augment`` (chapter 5);
* CrossViT: ``fused_attention.model.crossvit`` (chapter 6);
* CSA: ``fused_attention.model.csa`` (chapter 7);
* the loss: ``fused_attention.loss.triplet`` = ``weighted_hinge`` (eq. 15, the paper's
  alpha = 1), ``batch_hard`` (eq. 14) or ``none`` with ``center_weight > 0`` (chapter 8).

The model is ``reidkit.models.fused_attention``; the objective is the baseline's (smoothed CE
+ the chosen triplet + the optional center loss), whose options this method reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reidkit.methods.baseline import BaselineLossOptions, BaselineObjective
from reidkit.methods.registry import Method, register_method
from reidkit.models.baseline import CrossModalBaseline
from reidkit.models.crossvit import profile_crossvit
from reidkit.models.fused_attention import build_fused_attention_model
from reidkit.typed import Checked, bounded


@dataclass
class FusedModelOptions(Checked):
    crossvit: bool = True  # False: chapter 4's single-branch ViT (Table 3's rows without it)
    csa: bool = True  # channel + spatial attention on the patch tokens
    crossvit_backbone: str = "crossvit_hybrid_cpu"  # reidkit.models.crossvit.CROSSVIT_CONFIGS
    vit_backbone: str = "vit_hybrid_cpu"  # the backbone when crossvit is off
    # None | "timm" (hub) | a local .safetensors timm state dict, for the backbone in use
    pretrained: str | None = None
    drop_path_rate: float = bounded(0.0, ge=0, lt=1)
    csa_reduction: int = bounded(16, ge=1)
    csa_every_block: bool = False  # CSA in every multi-scale block, not only the last


def paper_loss() -> BaselineLossOptions:
    """Eq. 15 as the paper sets it: the adaptive-weight triplet with the hinge, alpha = 1."""
    return BaselineLossOptions(triplet="weighted_hinge", margin=1.0)


@dataclass
class FusedAttentionOptions(Checked):
    model: FusedModelOptions = field(default_factory=FusedModelOptions)
    loss: BaselineLossOptions = field(default_factory=paper_loss)


def build_model(config, num_classes: int) -> CrossModalBaseline:
    m: FusedModelOptions = config.options.model
    return build_fused_attention_model(
        num_classes,
        config.data.img_size,
        crossvit=m.crossvit,
        csa=m.csa,
        crossvit_backbone=m.crossvit_backbone,
        vit_backbone=m.vit_backbone,
        pretrained=m.pretrained,
        drop_path_rate=m.drop_path_rate,
        csa_reduction=m.csa_reduction,
        csa_every_block=m.csa_every_block,
        center_loss=config.options.loss.center_weight > 0,
    )


def profile_options(profile) -> FusedAttentionOptions:
    """The profile's sizes: its CrossViT (``profile_crossvit``: hybrid nano / cpu, timm's small,
    or the GPU hybrid from scratch) and its ViT; pretrained weights only where the profile found
    timm's on the hub (a local file named by the profile is a ViT state dict, which a CrossViT
    cannot load). The triplet joins after a quarter of the epochs, as in chapter 4."""
    loss = paper_loss()
    loss.triplet_start_epoch = profile.epochs / 4
    return FusedAttentionOptions(
        model=FusedModelOptions(
            crossvit_backbone=profile_crossvit(profile.name, profile.pretrained),
            vit_backbone=profile.backbone,
            pretrained="timm" if profile.pretrained == "timm" else None,
        ),
        loss=loss,
    )


FUSED_ATTENTION = register_method(
    Method(
        name="fused_attention",
        task="visible-infrared",
        options=FusedAttentionOptions,
        build_model=build_model,
        build_objective=lambda config: BaselineObjective(config.options.loss),
        sampler="cross_modal",
        profile_options=profile_options,
        description=(
            "seed 002: CrossViT + channel/spatial attention + adaptive-weight triplet "
            "(chapters 5-8)"
        ),
    )
)
