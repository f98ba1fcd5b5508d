"""ACSA as a method (seed 001; chapter 13): chapter 12's global alignment plus phrase-region
cross-attention, and the combined retrieval score.

The model is ``reidkit.models.acsa_model.ACSAModel``; the objective adds SDM on the batch's
local similarities to chapter 12's global terms:

    loss = sdm_weight * SDM(global) + id_weight * ID + local_loss_weight * SDM(local)

The retrieval score is ``(1 - local_weight) * global + local_weight * local`` with
``local_weight = 0.1`` (METHODS.md section 7: 0.9 global + 0.1 local); ``local_weight = 0`` ranks
by the global cosine alone, the same model scored as chapter 12's. The seed is an abstract: the
loss on the local scores is our choice (SDM, as on the global ones, so the two branches learn
the same identity-match distribution), as are the two region scales and ``max_phrases``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.data.phrases import PhraseTokenizer
from reidkit.data.records import Record
from reidkit.losses import sdm_from_similarity
from reidkit.methods.registry import Method, register_method
from reidkit.methods.text_baseline import (
    TextAlignLossOptions,
    TextAlignObjective,
    TextEncoderOptions,
    TextImageModelOptions,
    build_text_image_model,
    build_tokenizer,
    text_profile_config,
)
from reidkit.methods.text_baseline import profile_options as text_profile_options
from reidkit.models.acsa_model import ACSAModel
from reidkit.typed import Checked, bounded


@dataclass
class ACSAModelOptions(TextImageModelOptions):
    local_dim: int = bounded(256, ge=1)  # the joint space of regions and phrases
    max_phrases: int = bounded(8, ge=1)  # phrases kept per caption (ours have at most 7)
    lam: float = bounded(20.0, gt=0)  # SCAN's inverse temperature λ
    local_weight: float = bounded(0.1, ge=0, le=1)  # score = (1 - w) global + w local


@dataclass
class ACSALossOptions(TextAlignLossOptions):
    local_loss_weight: float = bounded(1.0, ge=0)  # SDM on the local similarities
    local_temperature: float = bounded(0.02, gt=0)


@dataclass
class ACSAOptions(Checked):
    model: ACSAModelOptions = field(default_factory=ACSAModelOptions)
    text: TextEncoderOptions = field(default_factory=TextEncoderOptions)
    loss: ACSALossOptions = field(default_factory=ACSALossOptions)


class ACSAObjective:
    """Chapter 12's terms (:class:`TextAlignObjective`) plus ``local_loss_weight`` x SDM on
    the (B, B) local similarities; ``"local"`` is logged."""

    def __init__(self, options: ACSALossOptions) -> None:
        self.options = options
        self.global_terms = TextAlignObjective(options)

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        terms = self.global_terms(outputs, batch, progress)
        o = self.options
        if o.local_loss_weight > 0:
            local = sdm_from_similarity(outputs["local"], batch.labels, o.local_temperature)
            terms["local"] = local
            terms["loss"] = terms["loss"] + o.local_loss_weight * local
        return terms


def build_acsa_model(config, num_classes: int) -> ACSAModel:
    """Chapter 12's encoders (``build_text_image_model``) in an ``ACSAModel``."""
    m = config.options.model
    return build_text_image_model(
        config,
        num_classes,
        ACSAModel,
        local_dim=m.local_dim,
        max_phrases=m.max_phrases,
        local_weight=m.local_weight,
        lam=m.lam,
    )


def build_phrase_tokenizer(config, records: Sequence[Record]) -> PhraseTokenizer:
    """Chapter 12's tokenizer, which also groups each caption's phrase tokens."""
    return PhraseTokenizer(build_tokenizer(config, records), config.options.model.max_phrases)


PROFILE_LOCAL = {"smoke": 16, "quick": 256, "full": 256}


def profile_options(profile) -> ACSAOptions:
    """Chapter 12's encoders for the profile, the local space sized with them."""
    base = text_profile_options(profile)
    model = ACSAModelOptions(**vars(base.model), local_dim=PROFILE_LOCAL.get(profile.name, 256))
    return ACSAOptions(model=model, text=base.text)


ACSA = register_method(
    Method(
        name="acsa",
        task="text-image",
        options=ACSAOptions,
        build_model=build_acsa_model,
        build_objective=lambda config: ACSAObjective(config.options.loss),
        sampler="image_caption",
        build_tokenizer=build_phrase_tokenizer,
        profile_options=profile_options,
        profile_config=text_profile_config,
        description="global alignment + phrase-region cross-attention, 0.9/0.1 score (ch. 13)",
    )
)
