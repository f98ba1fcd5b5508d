"""Models: the Vision Transformer (chapter 3), CrossViT (chapter 6) and what later chapters
build on them."""

from reidkit.models.crossvit import CROSSVIT_CONFIGS, CrossViT, create_crossvit
from reidkit.models.crossvit_pretrained import crossvit_from_timm, load_timm_crossvit_state_dict
from reidkit.models.pretrained import from_timm, resize_pos_embed
from reidkit.models.vit import (
    VIT_CONFIGS,
    VisionTransformer,
    ViTConfig,
    create_vit,
    set_fused_attention,
)

__all__ = [
    "CROSSVIT_CONFIGS",
    "VIT_CONFIGS",
    "CrossViT",
    "ViTConfig",
    "VisionTransformer",
    "create_crossvit",
    "create_vit",
    "crossvit_from_timm",
    "from_timm",
    "load_timm_crossvit_state_dict",
    "resize_pos_embed",
    "set_fused_attention",
]
