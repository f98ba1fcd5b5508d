"""Profiles: the one switch that sets how much work every chapter, test and demo does.

``smoke`` runs each notebook in seconds (CI), ``quick`` takes a few minutes per chapter on a
CPU, ``full`` is a chapter's real run on a GPU. Data sizes, epochs and model sizes are looked
up here by the data and training helpers; notebooks never hard-code them.

The profile comes from the ``REIDKIT_PROFILE`` environment variable; without it the default
is ``smoke`` when ``CI`` is set, ``full`` when CUDA is available, else ``quick``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

PROFILE_ENV = "REIDKIT_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much work to do. Every field is read by a library helper, not by notebooks."""

    name: str
    description: str
    # data
    img_size: tuple[int, int]  # (height, width) of the images the models see
    # identities in the synthetic train + val splits (split as SYSU-MM01's 296 / 99; the
    # validation identities select the model, the test ones are reported once)
    train_ids: int
    test_ids: int  # identities in the synthetic test split
    images_per_camera: int  # images of one identity in one camera
    # model
    vit: str  # named ViT configuration of chapter 3's plain ViT (see reidkit.models.vit)
    classifier_ids: int  # chapter 3's classifier: identities (the first of the train split)
    classifier_steps: int  # chapter 3's classifier: optimisation steps of its short run
    backbone: str  # named ViT configuration of the re-id models trained from chapter 4 on
    # ImageNet weights for ``backbone``: None (train from scratch), "timm", a .safetensors
    # file, or "auto": the weights when they can be had, else ``scratch_backbone`` trained
    # from scratch at ``scratch_lr`` (``resolve_pretrained`` decides and says which)
    pretrained: str | None
    scratch_backbone: str
    # training
    epochs: int
    ids_per_batch: int  # P identities per batch
    images_per_id: int  # K images per identity and modality
    lr: float
    scratch_lr: float  # the learning rate when ``scratch_backbone`` is trained instead
    eval_every: int  # evaluate every N epochs
    # evaluation
    trials: int  # gallery re-samplings of the SYSU-MM01 protocol
    num_workers: int  # data-loader processes at most (see data_workers: never above the CPUs)

    def replace(self, **changes: object) -> Profile:
        """A copy with some fields changed, for experiments in a notebook."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI: seconds per notebook, tiny images and models, results are not meaningful",
        img_size=(64, 32),
        train_ids=16,
        test_ids=8,
        images_per_camera=2,
        vit="vit_nano",
        classifier_ids=16,
        classifier_steps=4,
        backbone="vit_hybrid_nano",
        pretrained=None,
        scratch_backbone="vit_hybrid_nano",
        epochs=1,
        ids_per_batch=4,
        images_per_id=2,
        lr=1e-3,
        scratch_lr=1e-3,
        eval_every=1,
        trials=2,
        num_workers=0,
    ),
    "quick": Profile(
        name="quick",
        description="CPU: about 7 minutes per training run, 128x64 images, a small hybrid ViT",
        img_size=(128, 64),
        train_ids=133,  # 100 train + 33 val
        test_ids=48,
        images_per_camera=8,
        vit="vit_cpu",
        classifier_ids=20,  # few classes, many images each: a plain ViT learns in ~1.5 min
        classifier_steps=450,
        backbone="vit_hybrid_cpu",
        pretrained=None,
        scratch_backbone="vit_hybrid_cpu",
        epochs=16,
        ids_per_batch=8,
        images_per_id=4,
        lr=1e-3,
        scratch_lr=1e-3,
        eval_every=4,
        trials=10,
        num_workers=0,
    ),
    # Sized with benchmarks/bench_cost.py so that chapter 4's run fits a free Colab T4 in
    # well under 10 minutes and an H100 in under 2 (estimates from stated TFLOP/s, printed
    # there): ~2,200 steps of 64 images, fine-tuning ImageNet ViT-S (as TransReID), or, with
    # no hub, a hybrid ViT from scratch that costs fewer FLOPs per step than ViT-S.
    "full": Profile(
        name="full",
        description="GPU: ~2,200 steps at 256x128, ImageNet ViT-S (else a hybrid from scratch)",
        img_size=(256, 128),
        train_ids=395,  # 296 train + 99 val
        test_ids=96,
        images_per_camera=4,
        vit="vit_small",
        classifier_ids=60,
        classifier_steps=1500,
        backbone="vit_small",
        pretrained="auto",
        scratch_backbone="vit_hybrid_gpu",
        epochs=18,
        ids_per_batch=8,
        images_per_id=4,
        lr=2e-4,
        scratch_lr=5e-4,
        eval_every=6,
        trials=10,
        num_workers=4,
    ),
}


def data_workers(wanted: int, cpus: int | None = None) -> int:
    """Data-loader processes for this machine: ``wanted``, but at most one per CPU core left
    beside the training process (Colab's two vCPUs get one worker, not four)."""
    if cpus is None:
        cpus = os.cpu_count() or 1
    return max(0, min(wanted, cpus - 1))


PRETRAINED_ENV = "REIDKIT_PRETRAINED"  # a local .safetensors timm state dict for "auto"


def resolve_pretrained(profile: Profile, weights_file: str | None = None) -> Profile:
    """``profile`` with ``pretrained="auto"`` decided, and one printed line saying what.

    With ImageNet weights for ``profile.backbone`` (``weights_file``, else the file named by
    ``REIDKIT_PRETRAINED``, else the Hugging Face cache or hub; see
    ``reidkit.models.pretrained.find_pretrained``) the backbone starts from them; without, the
    profile's ``scratch_backbone`` is trained from scratch at ``scratch_lr``. Other profiles
    are returned unchanged. Nothing is downloaded here."""
    if profile.pretrained != "auto":
        return profile
    from reidkit.models.pretrained import find_pretrained

    weights_file = weights_file or os.environ.get(PRETRAINED_ENV) or None
    pretrained, why = find_pretrained(profile.backbone, weights_file)
    if pretrained is None:
        print(
            f"[pretrained] no ImageNet weights for {profile.backbone} ({why}): training "
            f"{profile.scratch_backbone} from scratch, lr {profile.scratch_lr:g}"
        )
        return profile.replace(
            backbone=profile.scratch_backbone, lr=profile.scratch_lr, pretrained=None
        )
    print(f"[pretrained] {profile.backbone} starts from ImageNet weights: {why}")
    return profile.replace(pretrained=pretrained)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def default_profile_name() -> str:
    """The profile used when ``REIDKIT_PROFILE`` is not set."""
    if os.environ.get("CI"):
        return "smoke"
    return "full" if _cuda_available() else "quick"


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile, else the one ``REIDKIT_PROFILE`` names, else the default.

    >>> get_profile("smoke").img_size
    (64, 32)
    """
    chosen = name or os.environ.get(PROFILE_ENV) or default_profile_name()
    key = chosen.strip().lower()
    if key not in PROFILES:
        source = "argument" if name else f"environment variable {PROFILE_ENV}"
        raise ValueError(
            f"unknown profile {chosen!r} (from the {source}); expected one of {sorted(PROFILES)}"
        )
    return PROFILES[key]
