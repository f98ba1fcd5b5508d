"""The cross-modal baseline as a method (chapter 4): options, objective and registration.

This file is the worked example of "adding a method" (CONTRIBUTING.md): the model lives in
``reidkit/models/baseline.py``, the loss functions in ``reidkit/losses/``; here are the
options a configuration writes under ``baseline:``, the objective that weighs the losses, and
one ``register_method`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.losses import batch_hard_triplet, label_smoothing_cross_entropy, weighted_triplet
from reidkit.methods.registry import Method, register_method
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import CrossModalBaseline
from reidkit.typed import Checked, bounded


@dataclass
class BaselineModelOptions(Checked):
    backbone: str = "vit_hybrid_cpu"  # reidkit.models.backbones: ours, or "timm:<name>"
    pretrained: str | None = None  # None | "timm" (hub) | a local .safetensors timm state dict
    modality_patch_embed: bool = False  # infrared images get their own patch embedding
    drop_path_rate: float = bounded(0.0, ge=0, lt=1)
    # chapter 7: channel + spatial attention on the last block's patch tokens; f becomes the
    # mean of the refined patch tokens (reidkit.models.baseline explains why)
    csa: bool = False
    csa_reduction: int = bounded(16, ge=1)  # the channel MLP's hidden width is D // this


@dataclass
class BaselineLossOptions(Checked):
    label_smoothing: float = bounded(0.1, ge=0, lt=1)
    # weighted: soft margin (AGW) | weighted_hinge: hinge with `margin` (the fused-attention
    # paper's adaptive-weight triplet, eq. 15; its margin is 1.0) | batch_hard (eq. 14) | none
    triplet: Literal["weighted", "weighted_hinge", "batch_hard", "none"] = "weighted"
    margin: float = bounded(0.3, ge=0)  # hinge variants
    triplet_weight: float = bounded(1.0, ge=0)
    # > 0: the center loss on f, with learnable centers held by the model (0: no centers)
    center_weight: float = bounded(0.0, ge=0)
    # The triplet loss is off before this epoch (fractions allowed). A model trained from
    # scratch starts with features that carry no identity; the triplet loss then lowers
    # d_p - d_n > 0 fastest by shrinking every distance, and the features collapse to one
    # point (Adam makes even a small weight enough). The identity loss goes first.
    triplet_start_epoch: float = bounded(0.0, ge=0)


@dataclass
class BaselineOptions(Checked):
    model: BaselineModelOptions = field(default_factory=BaselineModelOptions)
    loss: BaselineLossOptions = field(default_factory=BaselineLossOptions)


def triplet_term(features: Tensor, labels: Tensor, options: BaselineLossOptions) -> Tensor:
    """The configured triplet loss on the pre-BN features (zero for ``triplet: none``)."""
    if options.triplet == "weighted":
        return weighted_triplet(features, labels)[0]
    if options.triplet == "weighted_hinge":
        return weighted_triplet(features, labels, options.margin)[0]
    if options.triplet == "batch_hard":
        return batch_hard_triplet(features, labels, options.margin)
    return features.new_zeros(())


class BaselineObjective:
    """Smoothed CE on the logits + a weighted triplet on the pre-BN features:
    ``loss = ce + w(progress) * triplet (+ center_weight * center)`` with ``w = 0`` before
    ``triplet_start_epoch``; the center term only when ``center_weight > 0``."""

    def __init__(self, options: BaselineLossOptions) -> None:
        self.options = options

    def triplet_weight(self, progress: float) -> float:
        """The triplet loss's weight ``progress`` epochs into training."""
        o = self.options
        return o.triplet_weight if progress >= o.triplet_start_epoch else 0.0

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        features, logits = outputs["features"].float(), outputs["logits"].float()
        ce = label_smoothing_cross_entropy(logits, batch.labels, self.options.label_smoothing)
        triplet = triplet_term(features, batch.labels, self.options)
        terms = {"loss": ce + self.triplet_weight(progress) * triplet, "ce": ce, "triplet": triplet}
        if self.options.center_weight > 0:
            if "center" not in outputs:
                raise KeyError(
                    "loss.center_weight > 0 needs the model's center loss (outputs['center']); "
                    "build it with build_model, which gives it centers"
                )
            terms["center"] = outputs["center"].float()
            terms["loss"] = terms["loss"] + self.options.center_weight * terms["center"]
        return terms


def build_model(config, num_classes: int) -> CrossModalBaseline:
    """The baseline on the configured backbone (``config.options.model``), with CSA when
    ``model.csa`` and the center loss's centers when ``loss.center_weight > 0``."""
    m: BaselineModelOptions = config.options.model
    backbone = build_backbone(m.backbone, config.data.img_size, m.pretrained, m.drop_path_rate)
    centers = config.options.loss.center_weight > 0
    return CrossModalBaseline(
        backbone, num_classes, m.modality_patch_embed, m.csa, m.csa_reduction, centers
    )


def profile_options(profile) -> BaselineOptions:
    """The profile's backbone and weights (``resolve_pretrained`` has decided "auto"); the
    triplet joins after a quarter of the epochs."""
    return BaselineOptions(
        model=BaselineModelOptions(backbone=profile.backbone, pretrained=profile.pretrained),
        loss=BaselineLossOptions(triplet_start_epoch=profile.epochs / 4),
    )


BASELINE = register_method(
    Method(
        name="baseline",
        task="visible-infrared",
        options=BaselineOptions,
        build_model=build_model,
        build_objective=lambda config: BaselineObjective(config.options.loss),
        sampler="cross_modal",
        profile_options=profile_options,
        description="shared backbone + BNNeck, label-smoothed CE + weighted triplet (chapter 4)",
    )
)
