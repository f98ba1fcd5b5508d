"""CMSN (Sun et al., TIFS 2025) as a method (chapter 14): options, objective and registration.

The model is ``reidkit.models.cmsn.CMSNModel`` (chapter 12's two encoders, plus IMFI and CRL);
the losses are chapter 12's global ones plus CMSN's two (``reidkit.losses.cmsn``)::

    loss = sdm_weight * SDM(f_img, f_txt) + id_weight * ID(f_img, f_txt) [+ cmpm_weight * CMPM]
         + combined_id_weight * CE(W c, y)                                     (with model.crl)
         + cria_weight * CRIA(f_img, f_txt, c)                                 (needs model.crl)
         + spt_weight * SPT(f_img, f_txt; margins 0.3 and 0.1)

W is the classifier shared by images and captions, so c is classified by the same weights.
SPT's weight 0.5 and margins are the paper's (book/methods.md); CRIA's weight 1 and the ID on c
at weight 1 are our choices (the abstract gives neither). Each part of the paper's ablation is
a switch, so its rows are configs: ``model.imfi``, ``model.crl``, ``loss.cria_weight``,
``loss.spt_weight``. All four off is chapter 12's ``text_baseline`` exactly (same parameters,
same loss; ``tests/test_cmsn.py`` checks it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch.nn.functional as F
from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.losses import cria_loss, semi_positive_triplet
from reidkit.methods import text_baseline
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
from reidkit.models.cmsn import CMSNModel
from reidkit.typed import Checked, bounded


@dataclass
class CMSNModelOptions(TextImageModelOptions):
    imfi: bool = True  # multi-scale fusion on both encoders (needs one of reidkit's ViTs)
    crl: bool = True  # the combined representation c of each training pair
    depths: int = bounded(3, ge=1)  # IMFI: each encoder's last blocks read (at most its blocks)
    heads: int = bounded(4, ge=1)  # IMFI's attention heads (embed_dim must divide by it)


@dataclass
class CMSNLossOptions(TextAlignLossOptions):
    combined_id_weight: float = bounded(1.0, ge=0)  # ID loss of c (with model.crl)
    cria_weight: float = bounded(1.0, ge=0)  # needs model.crl
    spt_weight: float = bounded(0.5, ge=0)  # the paper's 0.5
    margin: float = bounded(0.3, ge=0)  # SPT: the paired item against the hardest negative
    semi_margin: float = bounded(0.1, ge=0)  # SPT: a semi-positive against it


@dataclass
class CMSNOptions(Checked):
    model: CMSNModelOptions = field(default_factory=CMSNModelOptions)
    text: TextEncoderOptions = field(default_factory=TextEncoderOptions)
    loss: CMSNLossOptions = field(default_factory=CMSNLossOptions)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss.cria_weight > 0 and not self.model.crl:
            raise ValueError(
                f"loss.cria_weight: CRIA aligns the combined feature that model.crl builds; set "
                f"model.crl: true or cria_weight: 0 (got {self.loss.cria_weight} with crl off)"
            )
        if self.model.imfi and self.model.embed_dim % self.model.heads:
            raise ValueError(
                f"model.heads: embed_dim {self.model.embed_dim} is not divisible by "
                f"{self.model.heads} heads"
            )


class CMSNObjective:
    """The sum in the module docstring; a term of weight 0 (or whose part the model lacks) is
    not computed. Logged: ``sdm``, ``id``, ``cmpm``, ``id_combined``, ``cria``, ``spt``."""

    def __init__(self, options: CMSNLossOptions) -> None:
        self.options = options
        self.global_terms = TextAlignObjective(options)

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        o, labels = self.options, batch.labels
        terms: dict[str, Tensor] = {}
        if o.sdm_weight > 0 or o.id_weight > 0 or o.cmpm_weight > 0:
            terms = self.global_terms(outputs, batch, progress)  # "loss", sdm, id, cmpm
        total = terms.pop("loss", None)
        image, text = outputs["image"].float(), outputs["text"].float()
        extra: dict[str, tuple[float, Tensor]] = {}
        if "combined" in outputs and o.combined_id_weight > 0:
            ce = F.cross_entropy(outputs["combined_logits"].float(), labels.long())
            extra["id_combined"] = (o.combined_id_weight, ce)
        if o.cria_weight > 0:
            if "combined" not in outputs:
                raise ValueError("cmsn.loss.cria_weight > 0 needs the combined feature (model.crl)")
            cria = cria_loss(image, text, outputs["combined"], labels)
            extra["cria"] = (o.cria_weight, cria)
        if o.spt_weight > 0:
            spt = semi_positive_triplet(image, text, labels, o.margin, o.semi_margin)
            extra["spt"] = (o.spt_weight, spt)
        if total is None and not extra:
            raise ValueError("cmsn.loss: every weight is 0; nothing would be trained")
        for name, (weight, value) in extra.items():
            terms[name] = value
            total = weight * value if total is None else total + weight * value
        return {"loss": total, **terms}


def build_model(config, num_classes: int) -> CMSNModel:
    """Chapter 12's encoders (``build_text_image_model``) in a ``CMSNModel``."""
    m: CMSNModelOptions = config.options.model
    return build_text_image_model(
        config, num_classes, CMSNModel, imfi=m.imfi, crl=m.crl, depths=m.depths, heads=m.heads
    )


def profile_options(profile) -> CMSNOptions:
    """``text_baseline``'s sizes for the profile (backbone, text encoder, joint width), with
    every CMSN part on."""
    base = text_baseline.profile_options(profile)
    return CMSNOptions(model=CMSNModelOptions(**asdict(base.model)), text=base.text)


CMSN = register_method(
    Method(
        name="cmsn",
        task="text-image",
        options=CMSNOptions,
        build_model=build_model,
        build_objective=lambda config: CMSNObjective(config.options.loss),
        sampler="image_caption",
        build_tokenizer=build_tokenizer,
        profile_options=profile_options,
        profile_config=text_profile_config,
        description="CMSN: multi-scale fusion (IMFI), combined representation, CRIA + SPT "
        "(chapter 14)",
    )
)
