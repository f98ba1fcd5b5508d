"""ACSA as a retrieval model: chapter 12's global alignment plus the local branch (chapter 13).

    image --backbone--> tokens (B, 1+N, D_img) --pool, proj--> global g_i (B, E)
                                               --region_features--> regions (B, R, D_img)
    caption --text encoder--> tokens (B, L, D_txt) --pool, proj--> global g_t (B, E)
                                                   --phrase_features--> phrases (B, P, D_txt)
    local = AsymmetricCrossAlignment(regions, phrases)            (B_img, B_txt)
    score = 0.9 cos(g_i, g_t) + 0.1 local                         ACSA's retrieval score

In training every image of the batch is scored against every caption, globally and locally,
and both matrices are trained (``reidkit.methods.acsa``). At test time an image and a caption
are still embedded alone: ``forward_embedding`` packs a record's global vector and its projected
regions (an image) or phrases and phrase mask (a caption) into one row, and
``retrieval_distance`` unpacks query and gallery rows and computes ``1 - score`` chunk by
chunk; the evaluator ranks by it (``reidkit.train.evaluation.retrieval_metric``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.models.acsa import (
    AsymmetricCrossAlignment,
    combined_score,
    phrase_features,
    region_features,
)
from reidkit.models.text_image import TextImageModel

REGION_SCALES = ((2, 1), (4, 2))  # upper and lower body, then a 4x2 grid: R = 10


class ACSAModel(TextImageModel):
    """:class:`TextImageModel` with ACSA's local branch and combined score (module docstring)."""

    def __init__(
        self,
        backbone: nn.Module,
        text_encoder: nn.Module,
        num_classes: int,
        embed_dim: int,
        local_dim: int = 256,
        max_phrases: int = 8,
        local_weight: float = 0.1,
        lam: float = 20.0,
    ) -> None:
        super().__init__(backbone, text_encoder, num_classes, embed_dim)
        grid = getattr(getattr(backbone, "patch_embed", None), "grid_size", None)
        if grid is None:
            raise ValueError("acsa needs a ViT backbone (patch_embed.grid_size) for its regions")
        self.grid = tuple(grid)
        self.local = AsymmetricCrossAlignment(
            backbone.num_features, text_encoder.width, local_dim, lam=lam
        )
        self.local_dim, self.max_phrases, self.local_weight = local_dim, max_phrases, local_weight
        self.num_regions = sum(rows * cols for rows, cols in REGION_SCALES)

    # ---- the two branches of each encoder ---------------------------------------------------
    def encode_image_parts(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Images -> global feature (B, E) and regions (B, R, D_img)."""
        tokens = self.image_tokens(images)  # (B, 1+N, D_img)
        pooled = self.backbone.forward_head(tokens, pre_logits=True)  # (B, D_img)
        return self.image_proj(pooled), region_features(tokens, self.grid, REGION_SCALES)

    def encode_text_parts(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Captions -> global feature (B, E), phrases (B, P, D_txt) and phrase mask (B, P)."""
        if batch.token_ids is None or batch.attention_mask is None:
            raise ValueError("a caption batch needs token_ids and attention_mask (a tokenizer)")
        if batch.token_groups is None:
            raise ValueError(
                "acsa needs each caption's phrases: batch.token_groups is None (build the "
                "tokenizer with reidkit.data.phrases.PhraseTokenizer)"
            )
        tokens, sentence = self.text_tokens(batch.token_ids, batch.attention_mask)
        groups = batch.token_groups[:, : self.max_phrases]  # (B, P, L)
        phrases = phrase_features(tokens, groups)  # (B, P, D_txt)
        return self.text_proj(sentence), phrases, groups.sum(-1) > 0

    # ---- training: every image against every caption of the batch ---------------------------
    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """``image``/``text`` global features (B, E), their logits, and ``local`` (B, B): the
        local similarity of image i with caption j."""
        if batch.images is None:
            raise ValueError("training needs images and tokenized captions in every batch")
        image, regions = self.encode_image_parts(batch.images)
        text, phrases, mask = self.encode_text_parts(batch)
        return {
            "image": image,
            "text": text,
            "image_logits": self.forward_head(image),
            "text_logits": self.forward_head(text),
            "local": self.local(regions, phrases, mask),
        }

    # ---- test time: one packed row per record -----------------------------------------------
    @property
    def packed_width(self) -> int:
        """E global values, then R x E_l region values or P x E_l phrase values and P mask
        values, zero-padded to the longer, then 1 flag (1 = caption)."""
        E, El, R, P = self.embed_dim, self.local_dim, self.num_regions, self.max_phrases
        return E + max(R * El, P * El + P) + 1

    def forward_embedding(self, batch: Batch) -> Tensor:
        """One packed row (B, packed_width) per image or caption (module docstring)."""
        if batch.images is not None:
            image, regions = self.encode_image_parts(batch.images)
            v = F.normalize(self.local.region_proj(regions), dim=-1)  # (B, R, E_l)
            parts = [F.normalize(image, dim=-1), v.flatten(1)]  # (B, E), (B, R * E_l)
        else:
            text, phrases, mask = self.encode_text_parts(batch)
            e = self.local.phrase_proj(phrases)  # (B, P, E_l)
            parts = [F.normalize(text, dim=-1), F.normalize(e, dim=-1).flatten(1), mask.float()]
        row = torch.cat(parts, dim=1)  # (B, used)
        flag = row.new_full((row.shape[0], 1), float(batch.images is None))
        padding = row.new_zeros(row.shape[0], self.packed_width - row.shape[1] - 1)
        return torch.cat([row, padding, flag], dim=1)  # (B, packed_width)

    def unpack_images(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Packed image rows (N, W) -> global (N, E) and unit regions (N, R, E_l)."""
        E, El, R = self.embed_dim, self.local_dim, self.num_regions
        return rows[:, :E], rows[:, E : E + R * El].reshape(-1, R, El)  # (N, R, E_l)

    def unpack_captions(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Packed caption rows (N, W) -> global (N, E), unit phrases (N, P, E_l), mask (N, P)."""
        E, El, P = self.embed_dim, self.local_dim, self.max_phrases
        phrases = rows[:, E : E + P * El].reshape(-1, P, El)  # (N, P, E_l)
        return rows[:, :E], phrases, rows[:, E + P * El : E + P * El + P] > 0.5

    def retrieval_distance(self, queries: Tensor, gallery: Tensor, chunk: int = 32) -> Tensor:
        """``1 - score`` (Q, G) of packed caption queries against packed image rows (either
        order is accepted: caption-to-image is the t2i protocol), ``chunk`` images at a time
        (the attention's tensors are chunk x Q x P x E_l)."""
        q_caption, g_caption = queries[:, -1] > 0.5, gallery[:, -1] > 0.5
        if q_caption.all() and not g_caption.any():
            return self.retrieval_distance(gallery, queries, chunk).T  # images are rows below
        if q_caption.any() or not g_caption.all():
            raise ValueError(
                "acsa ranks captions against images: expected one side all images and the "
                "other all captions (the packed rows' last value says which)"
            )
        image_global, regions = self.unpack_images(queries)
        text_global, phrases, mask = self.unpack_captions(gallery.to(queries.device))
        blocks = []
        for start in range(0, queries.shape[0], chunk):
            end = start + chunk
            local, _, _ = self.local.score(regions[start:end], phrases, mask)  # (chunk, G)
            global_sim = image_global[start:end] @ text_global.T  # unit vectors: cosines
            blocks.append(1.0 - combined_score(global_sim, local, self.local_weight))
        return torch.cat(blocks)  # (Q, G)
