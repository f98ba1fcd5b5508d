"""ImageNet-pretrained CrossViT weights from timm (``crossvit_{tiny,small,base}_240``).

Our ``CrossViT`` uses timm's parameter names, so a timm state dict loads strictly. Two
adjustments are made on the way in, and nothing else:

* key map: the original CrossViT release (and files saved from it) names the CLS tokens and
  position embeddings ``cls_token.0`` / ``pos_embed.0``; timm renames them ``cls_token_0`` /
  ``pos_embed_0`` when it loads them. Both spellings are accepted.
* each branch's position embedding was learnt on its pretraining grid (20x20 patches of 12 at
  240x240, 14x14 patches of 16 at 224x224); the patch part is resized by bicubic interpolation
  to the model's grid (21x10 and 14x7 at 256x128), the CLS entry kept.

The pretrained classifier (1000 ImageNet classes) is dropped when the model's differs.
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import Tensor

from reidkit.models.crossvit import (
    CROSSVIT_CONFIGS,
    CrossViT,
    branch_image_sizes,
    create_crossvit,
)
from reidkit.models.pretrained import _download_state_dict, _pretraining_grid, resize_pos_embed

# Our configuration names -> timm's pretrained CrossViT weights.
DEFAULT_PRETRAINED_CROSSVIT = {
    "crossvit_tiny": "crossvit_tiny_240.in1k",
    "crossvit_small": "crossvit_small_240.in1k",
    "crossvit_base": "crossvit_base_240.in1k",
}
PRETRAINING_IMG_SIZE = (240, 240)
_ORIGINAL_KEY = re.compile(r"^(cls_token|pos_embed)\.(\d)$")


def timm_crossvit_key(key: str) -> str:
    """``pos_embed.0`` -> ``pos_embed_0`` (the original release's names); others unchanged."""
    return _ORIGINAL_KEY.sub(r"\1_\2", key)


def load_timm_crossvit_state_dict(
    model: CrossViT,
    state_dict: dict[str, Tensor],
    grids: list[tuple[int, int]] | None = None,
) -> None:
    """Load a timm CrossViT state dict into ``model`` (strict), resizing each branch's E_pos
    from ``grids[b]`` (default: the model's grid if it fits, else a square one) and dropping
    the pretrained classifier when ``model`` has a different number of classes."""
    state = {timm_crossvit_key(k): v for k, v in state_dict.items()}
    for b in range(2):
        key = f"pos_embed_{b}"
        if key not in state:
            raise ValueError(f"the state dict has no {key!r}: not a timm CrossViT state dict")
        old = grids[b] if grids is not None else _pretraining_grid(state[key], model.grids[b])
        state[key] = resize_pos_embed(state[key], old, model.grids[b])
    head = state.get("head.0.weight")
    if head is not None and head.shape[0] != model.num_classes:
        for key in ("head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias"):
            state.pop(key, None)
    model.load_state_dict(state, strict=True)


def crossvit_from_timm(
    name: str,
    img_size: int | tuple[int, int] = (256, 128),
    num_classes: int = 0,
    pretrained: bool = True,
    weights_file: str | Path | None = None,
    **overrides: object,
) -> CrossViT:
    """A CrossViT of configuration ``name`` (``crossvit_tiny``/``small``/``base``) with timm's
    ImageNet weights: from ``weights_file`` (a safetensors file holding a timm state dict,
    works offline) when given, else downloaded by timm when ``pretrained``."""
    if name not in DEFAULT_PRETRAINED_CROSSVIT:
        raise ValueError(
            f"no pretrained CrossViT weights for {name!r}; they exist for "
            f"{sorted(DEFAULT_PRETRAINED_CROSSVIT)} (configurations: {list(CROSSVIT_CONFIGS)})"
        )
    model = create_crossvit(name, img_size=img_size, num_classes=num_classes, **overrides)
    if weights_file is not None:
        from safetensors.torch import load_file

        path = Path(weights_file)
        if path.suffix != ".safetensors":
            raise ValueError(f"weights_file must be a .safetensors file, got {path}")
        if not path.is_file():
            raise FileNotFoundError(f"weights_file {path} does not exist")
        state_dict = load_file(path)
    elif pretrained:
        state_dict = _download_state_dict(DEFAULT_PRETRAINED_CROSSVIT[name])
    else:
        return model
    load_timm_crossvit_state_dict(model, state_dict, pretraining_grids(name))
    return model


def pretraining_grids(name: str) -> list[tuple[int, int]]:
    """The patch grids timm's weights for ``name`` were learnt on (240x240 input)."""
    c = CROSSVIT_CONFIGS[name]
    sizes = branch_image_sizes(PRETRAINING_IMG_SIZE, c.patch_sizes, c.img_scales)
    return [(h // p, w // p) for (h, w), p in zip(sizes, c.patch_sizes)]
