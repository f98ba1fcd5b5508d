"""Text-to-image retrieval: an image encoder and a text encoder in one embedding space (chapter 12).

The image side is chapter 4's backbone (any of ``reidkit.models.backbones``); the text side a
``TextEncoder`` (``reidkit.models.text_encoder``: a small BERT from scratch, a packaged
pretrained MiniLM, or a hub model). Each ends in a linear projection to ``embed_dim``, and one
identity classifier is applied to both projections (the ID loss of the text methods: sharing
the classifier is what makes it pull a caption towards the images of its person).

    image (B, 3, H, W) --backbone--> tokens (B, 1+N, D_img) --pool--> (B, D_img) --proj--> (B, E)
    caption ids (B, L) --text encoder--> tokens (B, L, D_txt), sentence (B, D_txt) --proj--> (B, E)

At test time an image and a caption are each embedded alone (``forward_embedding``), L2-normalised,
so the evaluator's distance ranks by cosine similarity.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.data.batch import Batch


class TextImageModel(nn.Module):
    """Two encoders, two projections to ``embed_dim`` and one classifier shared by both."""

    def __init__(
        self, backbone: nn.Module, text_encoder: nn.Module, num_classes: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.num_classes = num_classes  # checkpoints record it (reidkit eval rebuilds the model)
        self.embed_dim = embed_dim
        self.image_proj = nn.Linear(backbone.num_features, embed_dim)
        self.text_proj = nn.Linear(text_encoder.width, embed_dim)
        # bias-free: a caption and an image of one person get the same logit from the same
        # feature, whichever encoder made it
        self.classifier = nn.Linear(embed_dim, num_classes, bias=False) if num_classes else None

    # ---- the two encoders -------------------------------------------------------------------
    def image_tokens(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> the backbone's tokens (B, 1+N, D_img)."""
        return self.backbone.forward_features(images)

    def encode_image(self, images: Tensor) -> Tensor:
        """Images -> the image feature (B, E) before normalisation."""
        pooled = self.backbone.forward_head(self.image_tokens(images), pre_logits=True)
        return self.image_proj(pooled)  # (B, D_img) -> (B, E)

    def text_tokens(self, token_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Token ids and mask (B, L) -> the encoder's tokens (B, L, D_txt) and sentence
        feature (B, D_txt)."""
        return self.text_encoder.encode(token_ids, attention_mask)

    def encode_text(self, token_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Captions' token ids and mask (B, L) -> the text feature (B, E) before normalisation."""
        _, sentence = self.text_tokens(token_ids, attention_mask)
        return self.text_proj(sentence)  # (B, D_txt) -> (B, E)

    # ---- the contract of every method -------------------------------------------------------
    def forward_head(self, features: Tensor) -> Tensor:
        """Image or text features (B, E) -> identity logits (B, num_classes)."""
        if self.classifier is None:
            raise ValueError("this model was built with num_classes=0 and has no classifier")
        return self.classifier(features)

    def forward_embedding(self, batch: Batch) -> Tensor:
        """The retrieval embedding (B, E), L2-normalised: of the images when the batch has
        images, else of its captions."""
        if batch.images is not None:
            return F.normalize(self.encode_image(batch.images), dim=-1)
        if batch.token_ids is None or batch.attention_mask is None:
            raise ValueError("a caption batch needs token_ids and attention_mask (a tokenizer)")
        return F.normalize(self.encode_text(batch.token_ids, batch.attention_mask), dim=-1)

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Training on (image, caption) pairs: ``image`` and ``text`` features (B, E) and their
        logits from the shared classifier."""
        if batch.images is None or batch.token_ids is None or batch.attention_mask is None:
            raise ValueError("training needs images and tokenized captions in every batch")
        image = self.encode_image(batch.images)
        text = self.encode_text(batch.token_ids, batch.attention_mask)
        return {
            "image": image,
            "text": text,
            "image_logits": self.forward_head(image),
            "text_logits": self.forward_head(text),
        }
