"""Backbones by name, with or without pretrained weights, for every re-id model.

A backbone has the timm interface: ``forward_features(images) -> tokens or feature map``,
``forward_head(features, pre_logits=True) -> (B, num_features)`` (the pooled feature) and
``num_features``. Names:

* one of ours (``reidkit.models.vit.VIT_CONFIGS``: ``vit_small``, ``vit_hybrid_cpu``, ...);
* a CrossViT (``reidkit.models.crossvit.CROSSVIT_CONFIGS``: ``crossvit_hybrid_cpu``,
  ``crossvit_small``, ...): ``forward_features`` gives the two branches' tokens (a list),
  ``forward_head`` the concatenated CLS tokens;
* ``timm:<model name>``: any timm architecture (``timm:resnet18``,
  ``timm:vit_small_patch16_224``), built without downloading anything.

``pretrained``: ``None`` (random initialisation), ``"timm"`` (timm's ImageNet weights from the
hub: needs the internet, as on Colab), or the path of a local ``.safetensors`` file holding a
timm state dict. Our ViT names load timm weights through ``from_timm`` (position embeddings
resized to the re-id grid); ``timm:`` names through timm itself.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from reidkit.models.crossvit import CROSSVIT_CONFIGS, create_crossvit
from reidkit.models.crossvit_pretrained import DEFAULT_PRETRAINED_CROSSVIT, crossvit_from_timm
from reidkit.models.pretrained import DEFAULT_PRETRAINED, from_timm
from reidkit.models.vit import VIT_CONFIGS, create_vit

TIMM_PREFIX = "timm:"


def _check_weights_file(pretrained: str) -> Path:
    path = Path(pretrained).expanduser()
    if path.suffix != ".safetensors":
        raise ValueError(f"pretrained: expected 'timm' or a .safetensors file, got {pretrained!r}")
    if not path.is_file():
        raise FileNotFoundError(f"pretrained: weights file not found: {path}")
    return path


def _timm_backbone(name: str, img_size, pretrained: str | None, drop_path_rate: float):
    import timm

    kwargs: dict = {"num_classes": 0, "drop_path_rate": drop_path_rate}
    if pretrained is not None:
        kwargs["pretrained"] = True
        if pretrained != "timm":
            kwargs["pretrained_cfg_overlay"] = {"file": str(_check_weights_file(pretrained))}
    try:  # transformers take the re-id image size; CNNs take any size and have no such option
        return timm.create_model(name, img_size=tuple(img_size), **kwargs)
    except TypeError:
        return timm.create_model(name, **kwargs)


def build_backbone(
    name: str,
    img_size: tuple[int, int],
    pretrained: str | None = None,
    drop_path_rate: float = 0.0,
) -> nn.Module:
    """The backbone called ``name`` for images of ``img_size`` (height, width)."""
    if pretrained == "auto":
        raise ValueError(
            "pretrained: 'auto' belongs to a profile and is decided by "
            "reidkit.profiles.resolve_pretrained (config_from_profile calls it); a backbone "
            "takes None, 'timm' or a .safetensors file"
        )
    if name.startswith(TIMM_PREFIX):
        return _timm_backbone(name[len(TIMM_PREFIX) :], img_size, pretrained, drop_path_rate)
    if name not in VIT_CONFIGS and name not in CROSSVIT_CONFIGS:
        raise ValueError(
            f"backbone: unknown name {name!r}; expected one of "
            f"{list(VIT_CONFIGS) + list(CROSSVIT_CONFIGS)} or '{TIMM_PREFIX}<timm model name>'"
        )
    create, load, weighted = (
        (create_crossvit, crossvit_from_timm, DEFAULT_PRETRAINED_CROSSVIT)
        if name in CROSSVIT_CONFIGS
        else (create_vit, from_timm, DEFAULT_PRETRAINED)
    )
    if pretrained is None:
        return create(name, img_size=img_size, num_classes=0, drop_path_rate=drop_path_rate)
    if name not in weighted:
        raise ValueError(
            f"backbone {name!r} has no pretrained weights; pretrained weights exist for "
            f"{sorted(DEFAULT_PRETRAINED) + sorted(DEFAULT_PRETRAINED_CROSSVIT)} "
            f"(or use '{TIMM_PREFIX}<name>')"
        )
    weights = None if pretrained == "timm" else _check_weights_file(pretrained)
    return load(name, img_size, weights_file=weights, drop_path_rate=drop_path_rate)
