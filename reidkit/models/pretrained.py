"""ImageNet-pretrained weights for reidkit's ViT, taken from timm (book/methods.md).

``from_timm`` builds a reidkit ``VisionTransformer`` with the architecture of a timm model
name and its pretrained weights: downloaded by timm from the Hugging Face hub (what happens on
Colab), or read from a local safetensors file. The position embedding was learnt for the
pretraining grid (e.g. 14x14 at 224x224); re-id images are taller than wide (256x128 -> a
16x8 grid), so the patch part of E_pos is resized by bicubic interpolation of the grid while
the CLS entry is kept as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.models.vit import VisionTransformer, pair

# Our configuration names -> the timm weights used by default (ImageNet-21k, fine-tuned on 1k).
DEFAULT_PRETRAINED = {
    "vit_tiny": "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
    "vit_small": "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "vit_base": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
}
HUB_TIMEOUT_S = 5.0


class PretrainedWeightsUnavailable(RuntimeError):
    """The pretrained weights could neither be downloaded nor found in a local file."""


def resize_pos_embed(
    pos_embed: Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]
) -> Tensor:
    """Resize a (1, 1+N, D) position embedding from ``old_grid`` to ``new_grid`` patches.

    The CLS entry is kept; the patch entries are laid out as an image and resized bicubically
    (with antialiasing where a side shrinks, as timm does).
    """
    if pos_embed.shape[1] != 1 + old_grid[0] * old_grid[1]:
        raise ValueError(
            f"pos_embed has {pos_embed.shape[1]} tokens, expected 1 + {old_grid[0]}x{old_grid[1]}"
        )
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, N_old, D)
    D = patches.shape[-1]
    grid = patches.reshape(1, *old_grid, D).permute(0, 3, 1, 2)  # (1, D, old_h, old_w)
    grid = F.interpolate(
        grid.float(), size=new_grid, mode="bicubic", align_corners=False, antialias=True
    )  # (1, D, new_h, new_w)
    patches = grid.permute(0, 2, 3, 1).reshape(1, -1, D)  # (1, N_new, D)
    return torch.cat([cls, patches.to(pos_embed.dtype)], dim=1)  # (1, 1+N_new, D)


def timm_architecture(name: str) -> tuple[dict[str, object], tuple[int, int]]:
    """``VisionTransformer`` arguments of a timm model name, and its pretraining patch grid.

    The timm model is built on the meta device (no memory, no weights). Only plain ViTs are
    supported: a CLS token, learnt E_pos including it, no register tokens, layer scale, q/k
    norm or pooling other than the CLS token.
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    block = model.blocks[0] if isinstance(model, TimmViT) else None
    plain = (
        block is not None
        and model.has_class_token
        and model.num_reg_tokens == 0
        and not model.no_embed_class
        and model.global_pool == "token"
        and all(isinstance(m, nn.Identity) for m in (model.norm_pre, model.fc_norm, block.ls1))
        and isinstance(block.attn.q_norm, nn.Identity)
        and isinstance(block.mlp.act, nn.GELU)
        and block.mlp.act.approximate == "none"
    )
    if not plain:
        raise ValueError(
            f"timm model {name!r} is not a plain ViT (CLS token, learnt position embedding, "
            "GELU MLP, no registers/layer scale/qk-norm); reidkit's ViT cannot hold its weights"
        )
    patch_h, patch_w = model.patch_embed.patch_size
    if patch_h != patch_w:
        raise ValueError(f"timm model {name!r} has non-square patches {patch_h}x{patch_w}")
    args = {
        "patch_size": patch_h,
        "embed_dim": model.embed_dim,
        "depth": len(model.blocks),
        "num_heads": block.attn.num_heads,
        "mlp_ratio": block.mlp.fc1.out_features / model.embed_dim,
        "qkv_bias": block.attn.qkv.bias is not None,
    }
    return args, tuple(model.patch_embed.grid_size)


def _pretraining_grid(pos_embed: Tensor, default: tuple[int, int]) -> tuple[int, int]:
    """The grid a checkpoint's E_pos was learnt on: the model's default, else a square one."""
    n = pos_embed.shape[1] - 1
    if n == default[0] * default[1]:
        return default
    side = round(n**0.5)
    if side * side != n:
        raise ValueError(
            f"cannot tell the patch grid of pos_embed {tuple(pos_embed.shape)}: {n} patches "
            f"is neither {default[0]}x{default[1]} nor a square"
        )
    return side, side


def load_timm_state_dict(
    model: VisionTransformer, state_dict: dict[str, Tensor], grid: tuple[int, int]
) -> None:
    """Load a timm ViT state dict into ``model`` (strict), resizing E_pos from ``grid`` and
    dropping the pretrained classifier when ``model`` has a different number of classes."""
    state = dict(state_dict)
    state["pos_embed"] = resize_pos_embed(state["pos_embed"], grid, model.patch_embed.grid_size)
    head = state.get("head.weight")
    if head is not None and head.shape[0] != model.num_classes:
        del state["head.weight"], state["head.bias"]
    model.load_state_dict(state, strict=True)


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value in {"1", "true", "yes", "on"} or bool(constants.HF_HUB_OFFLINE)


def _unavailable(name: str, why: str) -> PretrainedWeightsUnavailable:
    return PretrainedWeightsUnavailable(
        f"pretrained weights for {name!r} are not available: {why}. Either train from scratch "
        "(reidkit.models.create_vit), or fetch the model's model.safetensors on a machine with "
        "internet access and pass from_timm(..., weights_file='path/to/model.safetensors')."
    )


def _check_hub_reachable(name: str) -> None:
    """One request to the hub with a short timeout and no retries (a download would retry
    for about a minute before failing)."""
    import timm
    from huggingface_hub import HfApi

    hub_id = getattr(timm.models.get_pretrained_cfg(name), "hf_hub_id", None)
    if not hub_id:  # weights from a plain URL: timm downloads them itself
        return
    try:
        HfApi().model_info(hub_id, timeout=HUB_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - any failure here means "no hub"
        reason = f"the Hugging Face hub cannot be reached ({type(error).__name__}: {error})"
        raise _unavailable(name, reason) from error


def _download_state_dict(name: str) -> dict[str, Tensor]:
    """timm's own pretrained loading: the hub, or its local cache when ``HF_HUB_OFFLINE``."""
    import timm
    from huggingface_hub.errors import HfHubHTTPError

    offline = _offline()
    if not offline:
        _check_hub_reachable(name)
    try:
        return timm.create_model(name, pretrained=True).state_dict()
    except (OSError, HfHubHTTPError) as error:
        reason = (
            "HF_HUB_OFFLINE is set and they are not in the local cache"
            if offline
            else f"the download failed ({type(error).__name__}: {error})"
        )
        raise _unavailable(name, reason) from error


def from_timm(
    name: str,
    img_size: int | tuple[int, int] = (256, 128),
    num_classes: int = 0,
    pretrained: bool = True,
    weights_file: str | Path | None = None,
    **overrides: object,
) -> VisionTransformer:
    """A reidkit ViT with the architecture (and weights) of the timm model ``name``.

    ``name`` is a timm name such as ``"vit_small_patch16_224.augreg_in21k_ft_in1k"`` or one of
    ours (``"vit_small"``, see ``DEFAULT_PRETRAINED``). Weights come from ``weights_file`` (a
    safetensors file holding a timm state dict) when given, else from timm's download when
    ``pretrained``; without either the model keeps its random initialisation. ``overrides``
    go to ``VisionTransformer`` (e.g. ``stride=12``, ``drop_path_rate=0.1``).
    """
    timm_name = DEFAULT_PRETRAINED.get(name, name)
    args, grid = timm_architecture(timm_name)
    model = VisionTransformer(img_size=pair(img_size), num_classes=num_classes, **args, **overrides)
    if weights_file is not None:
        from safetensors.torch import load_file

        path = Path(weights_file)
        if path.suffix != ".safetensors":
            raise ValueError(f"weights_file must be a .safetensors file, got {path}")
        if not path.is_file():
            raise FileNotFoundError(f"weights_file {path} does not exist")
        state_dict = load_file(path)
    elif pretrained:
        state_dict = _download_state_dict(timm_name)
    else:
        return model
    if "pos_embed" not in state_dict:
        raise ValueError(f"{weights_file or timm_name}: no 'pos_embed'; not a timm ViT state dict")
    load_timm_state_dict(model, state_dict, _pretraining_grid(state_dict["pos_embed"], grid))
    return model


def _cached_weights(timm_name: str) -> str | None:
    """The safetensors file of ``timm_name`` in the local Hugging Face cache (a download made
    earlier), or None; reads only the disk."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    hub_id = getattr(timm.models.get_pretrained_cfg(timm_name), "hf_hub_id", None)
    if not hub_id:
        return None
    found = try_to_load_from_cache(hub_id, "model.safetensors")
    return found if isinstance(found, str) else None


def find_pretrained(name: str, weights_file: str | Path | None = None) -> tuple[str | None, str]:
    """Where ImageNet weights for our configuration ``name`` can come from, without
    downloading: ``(pretrained, why)`` with ``pretrained`` the value for
    ``build_backbone(..., pretrained=)`` (a local ``.safetensors`` path or ``"timm"``), or
    ``None`` when there are none; ``why`` says which source, or why none.

    In order: ``weights_file`` (a local timm state dict), the local Hugging Face cache, the hub
    when it answers within ``HUB_TIMEOUT_S`` (and ``HF_HUB_OFFLINE`` is not set)."""
    if name not in DEFAULT_PRETRAINED:
        return None, f"{name!r} has no ImageNet weights (only {sorted(DEFAULT_PRETRAINED)})"
    if weights_file:
        path = Path(weights_file).expanduser()
        if path.suffix != ".safetensors" or not path.is_file():
            raise FileNotFoundError(f"pretrained weights file {path}: no such .safetensors file")
        return str(path), f"the local file {path}"
    timm_name = DEFAULT_PRETRAINED[name]
    cached = _cached_weights(timm_name)
    if cached:
        return cached, f"timm's {timm_name}, from the local Hugging Face cache"
    if _offline():
        return None, "HF_HUB_OFFLINE is set and they are not in the local Hugging Face cache"
    try:
        _check_hub_reachable(timm_name)
    except PretrainedWeightsUnavailable:
        return None, "the Hugging Face hub cannot be reached"
    return "timm", f"timm's {timm_name}, downloaded from the Hugging Face hub"
