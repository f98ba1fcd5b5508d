"""Models: the Vision Transformer (chapter 3) and what later chapters build on it."""

from reidkit.models.pretrained import from_timm, resize_pos_embed
from reidkit.models.vit import (
    VIT_CONFIGS,
    VisionTransformer,
    ViTConfig,
    create_vit,
    set_fused_attention,
)

__all__ = [
    "VIT_CONFIGS",
    "ViTConfig",
    "VisionTransformer",
    "create_vit",
    "from_timm",
    "resize_pos_embed",
    "set_fused_attention",
]
