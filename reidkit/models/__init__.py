"""Models: the Vision Transformer (chapter 3), CrossViT (chapter 6), the text encoders of
text -> image retrieval and what later chapters build on them."""

from reidkit.models.crossvit import CROSSVIT_CONFIGS, CrossViT, create_crossvit
from reidkit.models.crossvit_pretrained import crossvit_from_timm, load_timm_crossvit_state_dict
from reidkit.models.pretrained import from_timm, resize_pos_embed
from reidkit.models.text_encoder import (
    PACKAGED,
    TextEncoder,
    build_caption_tokenizer,
    build_text_encoder,
    hub_text_encoder,
    packaged_text_encoder,
    scratch_text_encoder,
)
from reidkit.models.vit import (
    VIT_CONFIGS,
    VisionTransformer,
    ViTConfig,
    create_vit,
    set_fused_attention,
)

__all__ = [
    "CROSSVIT_CONFIGS",
    "PACKAGED",
    "VIT_CONFIGS",
    "CrossViT",
    "TextEncoder",
    "ViTConfig",
    "VisionTransformer",
    "build_caption_tokenizer",
    "build_text_encoder",
    "create_crossvit",
    "create_vit",
    "crossvit_from_timm",
    "from_timm",
    "hub_text_encoder",
    "load_timm_crossvit_state_dict",
    "packaged_text_encoder",
    "resize_pos_embed",
    "scratch_text_encoder",
    "set_fused_attention",
]
