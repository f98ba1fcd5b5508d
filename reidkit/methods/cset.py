"""Seed 003, CSET, as a method (chapter 11): options, objective and registration.

Each part of the paper's Table 1 is one switch of ``cset.model``, so its six rows are rows of
one ablation spec (``configs/ablations/cset_table1.yaml``):

* SE: ``se`` = ``none`` | ``i2v`` | ``v2i`` | ``both`` (``i2v``: infrared tokens receive visible
  ones), after the blocks ``se_layers``; its other settings under ``cset.exchange``;
* CA and its distillation term: ``ca``;
* MHGA on an extra layer fed with block L-1: ``mhga``.

The objective (eq. 10 with the paper's beta = 0.7 and margin 0.3): for each pass of the model
(``reidkit.models.cset``: the clean one, and the mixed one when SE or MHGA is on) smoothed CE +
0.7 * batch-hard triplet, averaged over the passes so that every row trains at the same loss
scale; with CA, + ``distill_weight`` * the cosine distillation of the CA's feature towards the
detached clean one (``reidkit.losses.cosine_distillation``). Training batches are pairs, from
the sampler ``paired``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from torch import Tensor

from reidkit.data.batch import Batch
from reidkit.losses import cosine_distillation
from reidkit.methods.baseline import BaselineLossOptions, BaselineObjective
from reidkit.methods.registry import Method, register_method
from reidkit.models.cset import CSET, build_cset_model
from reidkit.models.vit import VIT_CONFIGS
from reidkit.typed import Checked, bounded


@dataclass
class CSETModelOptions(Checked):
    backbone: str = "vit_hybrid_cpu"  # each stream: one of reidkit's ViTs (VIT_CONFIGS)
    pretrained: str | None = None  # None | "timm" (hub) | a local .safetensors timm state dict
    drop_path_rate: float = bounded(0.0, ge=0, lt=1)
    # Table 1's switches
    se: Literal["none", "i2v", "v2i", "both"] = "both"
    se_layers: list[int] | None = None  # 1-based blocks SE follows; None: all but the last
    ca: bool = True  # cross-attention mixed -> clean, with its distillation term
    mhga: bool = True  # graph attention on an extra layer fed with block L-1
    ca_heads: int | None = bounded(None, ge=1)  # None: the backbone's heads
    mhga_heads: int | None = bounded(None, ge=1)  # None: the backbone's heads
    mhga_lambdas: tuple[float, float, float] = bounded((1.0, 0.7, 0.3), gt=0)
    # False: two streams with their own parameters, as the paper; True: one ViT for both
    # modalities (the profiles' choice when training from scratch: see profile_options)
    shared: bool = False


@dataclass
class ExchangeOptions(Checked):
    """The similarity exchange's settings (``reidkit.models.exchange.SimilarityExchange``)."""

    mode: Literal["soft", "hard"] = "soft"
    alpha: float = bounded(0.7, ge=0, le=1)  # eq. 3: weight of 1 - J against A
    beta: float = bounded(0.5, ge=0)  # soft: how much of the partners' tokens is added
    tau: float = bounded(0.1, gt=0)  # soft: temperature of softmax(S / tau)
    top_r: float = bounded(0.5, gt=0, le=1)  # hard: fraction of tokens that exchange
    temperature: float = bounded(1.0, gt=0)  # of A = softmax(F F^T / (sqrt(d) temperature))


@dataclass
class CSETLossOptions(BaselineLossOptions):
    """The baseline's options (smoothed CE, triplet and its warm-up) with the paper's values,
    plus the distillation weight. CSET has no center loss."""

    triplet: Literal["weighted", "weighted_hinge", "batch_hard", "none"] = "batch_hard"
    margin: float = bounded(0.3, ge=0)
    triplet_weight: float = bounded(0.7, ge=0)  # eq. 10's beta
    distill_weight: float = bounded(1.0, ge=0)  # with model.ca

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.center_weight:
            raise ValueError(f"center_weight: CSET has no center loss, got {self.center_weight}")


@dataclass
class CSETOptions(Checked):
    model: CSETModelOptions = field(default_factory=CSETModelOptions)
    exchange: ExchangeOptions = field(default_factory=ExchangeOptions)
    loss: CSETLossOptions = field(default_factory=CSETLossOptions)


class CSETObjective:
    """``loss = mean over passes of (ce + w(progress) * triplet) + distill_weight * distill``;
    the terms logged: ``ce``, ``triplet`` (clean pass), ``ce_mixed``, ``triplet_mixed`` (mixed
    pass) and ``distill``, each present only when the model has that part."""

    def __init__(self, options: CSETLossOptions) -> None:
        self.options = options
        self.per_pass = BaselineObjective(options)

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]:
        clean = self.per_pass(outputs, batch, progress)
        terms = {"loss": clean["loss"], "ce": clean["ce"], "triplet": clean["triplet"]}
        if "features_mixed" in outputs:
            mixed_outputs = {
                "features": outputs["features_mixed"],
                "logits": outputs["logits_mixed"],
            }
            mixed = self.per_pass(mixed_outputs, batch, progress)
            terms["ce_mixed"], terms["triplet_mixed"] = mixed["ce"], mixed["triplet"]
            terms["loss"] = (clean["loss"] + mixed["loss"]) / 2
        if "ca_student" in outputs:
            terms["distill"] = cosine_distillation(outputs["ca_student"], outputs["ca_teacher"])
            terms["loss"] = terms["loss"] + self.options.distill_weight * terms["distill"]
        return terms


def build_model(config, num_classes: int) -> CSET:
    m: CSETModelOptions = config.options.model
    return build_cset_model(
        num_classes,
        config.data.img_size,
        backbone=m.backbone,
        pretrained=m.pretrained,
        drop_path_rate=m.drop_path_rate,
        se=m.se,
        se_layers=m.se_layers,
        exchange_options=asdict(config.options.exchange),
        ca=m.ca,
        ca_heads=m.ca_heads,
        mhga=m.mhga,
        mhga_heads=m.mhga_heads,
        mhga_lambdas=m.mhga_lambdas,
        shared=m.shared,
    )


def profile_options(profile) -> CSETOptions:
    """The profile's ViT (``resolve_pretrained`` has decided "auto") for both streams, SE
    after every block but the last, the triplet joining after a quarter of the epochs.

    From scratch the two streams are one shared ViT: two ViTs with their own random weights
    did not align the modalities in the quick schedule (test all-search R1 near chance on
    synthetic SYSU-MM01, where the shared one learns; book/methods.md). With pretrained
    weights they are two, as in the paper."""
    depth = VIT_CONFIGS[profile.backbone].depth
    return CSETOptions(
        model=CSETModelOptions(
            backbone=profile.backbone,
            pretrained=profile.pretrained,
            se_layers=list(range(1, depth)),
            shared=profile.pretrained is None,
        ),
        loss=CSETLossOptions(triplet_start_epoch=profile.epochs / 4),
    )


# Synthetic RegDB, trial 1, as the paper's ablation: half the identities train, the other half
# are the test set (RegDB has no validation split, so the last epoch is the result); infrared
# queries against the visible gallery, which is fixed: one trial.
REGDB_TRIAL_1 = {
    "data.dataset": "synthetic-regdb",
    "data.trial": 1,
    "eval.split": "test",
    "eval.trials": 1,
    "eval.setting": "i2v",
}
CHAPTER_LAYOUTS = ("sysu", "regdb")


def cset_chapter_config(
    profile, name: str, model: dict[str, Any] | None = None, layout: str = "sysu"
):
    """The profile's CSET run (``config_from_profile``) written to ``runs/<name>-<profile>``,
    with the switches ``model`` of ``cset.model`` (e.g. ``{"se": "both", "mhga": False}``):
    chapters 9-11 train their parts this way.

    ``layout="sysu"`` (the default) is the profile's synthetic SYSU-MM01 data, as chapter 4's
    baseline: epochs selected on validation, the test split evaluated once. ``"regdb"`` is
    synthetic RegDB trial 1 (``REGDB_TRIAL_1``), the paper's ablation data; with thermal
    infrared, nothing learned it at the quick profile's size (the methods page has the runs).
    """
    from reidkit.train.config import config_from_profile, with_overrides
    from reidkit.utils import runs_dir

    if layout not in CHAPTER_LAYOUTS:
        raise ValueError(f"layout must be one of {CHAPTER_LAYOUTS}, got {layout!r}")
    out = str(runs_dir() / f"{name}-{profile.name}")
    config = config_from_profile(profile, method="cset", out_dir=out)
    data = REGDB_TRIAL_1 if layout == "regdb" else {}
    return with_overrides(config, {**data, "cset": {"model": dict(model or {})}})


CSET_METHOD = register_method(
    Method(
        name="cset",
        task="visible-infrared",
        options=CSETOptions,
        build_model=build_model,
        build_objective=lambda config: CSETObjective(config.options.loss),
        sampler="paired",
        profile_options=profile_options,
        description=(
            "seed 003: two-stream ViT, similarity exchange, cross-attention distillation, "
            "MHGA graph attention (chapters 9-11)"
        ),
    )
)
