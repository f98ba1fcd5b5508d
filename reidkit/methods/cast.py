"""Seed 000, CAST with GLAA, as a method (chapter 15): options, objective and registration.

The model is ``reidkit.models.cast.CAST`` (its docstring states our reading of the news item);
each part is one switch of ``cast.model`` (``asym_ln``, ``modality_embed``, ``glaa``), so the
ablation's rows are rows of one spec (``configs/ablations/cast.yaml``). All three off is the
symmetric Siamese ViT baseline.

The objective: label-smoothed CE (epsilon 0.1) on the logits + batch-hard triplet (margin 0.3)
on the pre-BN CLS feature f, the triplet joining after ``triplet_start_epoch`` (the baseline's
warm-up, ``reidkit.methods.baseline``); with GLAA, + ``glaa_weight`` * (``glaa_id`` +
``glaa_align``):

* ``glaa_id``: the same smoothed CE on the GLAA feature through the shared classifier: what a
  CLS gathers from the other modality's parts must still name the package;
* ``glaa_align``: the mean cosine distance ``1 - cos(glaa_b, f_b)`` between the attended feature
  and the image's own CLS. Neither end is detached: the alignment is meant to move the global
  feature towards what the other modality's parts can express, and those parts towards it; the
  identity losses keep f from collapsing.

Training batches pair the k-th visible with the k-th X-ray image of a package: the sampler
``paired_xray`` (``reidkit.train.sampling``) is the paired cross-modal P x K sampler of
``reidkit.data.samplers`` on the modalities visible and X-ray, K images of each
(``data.images_per_id`` is per modality, as for every cross-modal sampler).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.losses import label_smoothing_cross_entropy
from reidkit.methods.baseline import BaselineLossOptions, BaselineObjective
from reidkit.methods.registry import Method, register_method
from reidkit.models.cast import CAST, build_cast_model
from reidkit.typed import Checked, bounded

# Photographs may turn grey (a shell's paint has no X-ray counterpart: less weight on colour
# helps the cross-modal match); scans never do (their hue is the material class, a measurement
# with fixed colours, so there is no colour variation to be robust to).
VISIBLE_AUGMENT = ("flip", "crop", "grayscale", "erasing")
XRAY_AUGMENT = ("flip", "crop", "erasing")


@dataclass
class CASTModelOptions(Checked):
    backbone: str = "vit_hybrid_cpu"  # the one ViT of both branches (reidkit.models.vit)
    pretrained: str | None = None  # None | "timm" (hub) | a local .safetensors timm state dict
    drop_path_rate: float = bounded(0.0, ge=0, lt=1)
    # the ablation's switches (all off: the symmetric Siamese baseline)
    asym_ln: bool = True  # CAST's LayerNorm after the patch embedding, X-ray branch only
    modality_embed: bool = True  # a learnt vector added to every X-ray token
    glaa: bool = True  # the training-time global-local cross-modality alignment attention
    glaa_heads: int | None = bounded(None, ge=1)  # None: the backbone's heads


@dataclass
class CASTLossOptions(BaselineLossOptions):
    """The baseline's options (smoothed CE, triplet, warm-up) with CAST's values, plus GLAA's
    weight. CAST has no center loss."""

    triplet: Literal["weighted", "weighted_hinge", "batch_hard", "none"] = "batch_hard"
    margin: float = bounded(0.3, ge=0)
    glaa_weight: float = bounded(1.0, ge=0)  # of glaa_id + glaa_align, with model.glaa

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.center_weight:
            raise ValueError(f"center_weight: CAST has no center loss, got {self.center_weight}")


@dataclass
class CASTOptions(Checked):
    model: CASTModelOptions = field(default_factory=CASTModelOptions)
    loss: CASTLossOptions = field(default_factory=CASTLossOptions)


def glaa_alignment(attended: Tensor, cls: Tensor) -> Tensor:
    """Mean over the batch of ``1 - cos(attended_b, cls_b)``, both (B, D); nothing detached."""
    return (1.0 - F.cosine_similarity(attended.float(), cls.float(), dim=1)).mean()


class CASTObjective:
    """``ce + w(progress) * triplet (+ glaa_weight * (glaa_id + glaa_align))``; the GLAA terms
    are logged when the model has GLAA (and computed only when ``glaa_weight > 0``)."""

    def __init__(self, options: CASTLossOptions) -> None:
        self.options = options
        self.base = BaselineObjective(options)

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        terms = self.base(outputs, batch, progress)  # loss, ce, triplet
        if "glaa" not in outputs or self.options.glaa_weight == 0:
            return terms
        smoothing = self.options.label_smoothing
        logits = outputs["glaa_logits"].float()
        terms["glaa_id"] = label_smoothing_cross_entropy(logits, batch.labels, smoothing)
        terms["glaa_align"] = glaa_alignment(outputs["glaa"], outputs["features"])
        glaa = terms["glaa_id"] + terms["glaa_align"]
        terms["loss"] = terms["loss"] + self.options.glaa_weight * glaa
        return terms


def build_model(config, num_classes: int) -> CAST:
    m: CASTModelOptions = config.options.model
    return build_cast_model(
        num_classes,
        config.data.img_size,
        backbone=m.backbone,
        pretrained=m.pretrained,
        drop_path_rate=m.drop_path_rate,
        asym_ln=m.asym_ln,
        modality_embed=m.modality_embed,
        glaa=m.glaa,
        glaa_heads=m.glaa_heads,
    )


def profile_options(profile) -> CASTOptions:
    """The profile's ViT (``resolve_pretrained`` has decided "auto"), every part on, the
    triplet joining after a quarter of the epochs."""
    return CASTOptions(
        model=CASTModelOptions(backbone=profile.backbone, pretrained=profile.pretrained),
        loss=CASTLossOptions(triplet_start_epoch=profile.epochs / 4),
    )


def square_side(img_size: tuple[int, int], multiple: int = 16) -> int:
    """The side of a square image with about as many pixels as ``img_size`` (a multiple of
    ``multiple``): 64x32 -> 48, 128x64 -> 96, 256x128 -> 176."""
    return max(multiple, multiple * round(math.sqrt(img_size[0] * img_size[1]) / multiple))


def cast_profile_config(profile) -> dict[str, Any]:
    """What CAST's profile run changes in ``config_from_profile``: the synthetic packages
    (``synthetic-xray``), square images, the v2x protocol and the augmentations per modality.

    Packages are not tall like people: rendered at a person's 2:1 they fill a strip of the
    image, so the images are square, with about the profile's pixel count (the same number of
    tokens, the same cost). The validation packages select the epoch; the test split is
    evaluated once, visible queries against single-shot X-ray galleries, over the profile's
    trials (10 in quick and full, the loader's default; features are extracted once, so the
    trials cost only the ranking). Photographs get flip, crop, greyscale and erasing; scans no
    greyscale (``XRAY_AUGMENT`` says why)."""
    side = square_side(profile.img_size)
    return {
        "data.dataset": "synthetic-xray",
        "data.img_size": [side, side],
        "data.augment.visible": list(VISIBLE_AUGMENT),
        "data.augment.xray": list(XRAY_AUGMENT),
        "eval.setting": "v2x",
    }


def cast_chapter_config(profile, name: str, model: dict[str, Any] | None = None):
    """The profile's CAST run (``config_from_profile``) written to ``runs/<name>-<profile>``,
    with the switches ``model`` of ``cast.model`` (e.g. ``{"glaa": False}``)."""
    from reidkit.train.config import config_from_profile, with_overrides
    from reidkit.utils import runs_dir

    out = str(runs_dir() / f"{name}-{profile.name}")
    config = config_from_profile(profile, method="cast", out_dir=out)
    return with_overrides(config, {"cast": {"model": dict(model or {})}}) if model else config


CAST_METHOD = register_method(
    Method(
        name="cast",
        task="visible-xray",
        options=CASTOptions,
        build_model=build_model,
        build_objective=lambda config: CASTObjective(config.options.loss),
        sampler="paired_xray",
        profile_options=profile_options,
        profile_config=cast_profile_config,
        description=(
            "seed 000: Siamese ViT with an asymmetric X-ray branch (LayerNorm, modality "
            "embedding) and GLAA cross-modality alignment in training (chapter 15)"
        ),
    )
)
