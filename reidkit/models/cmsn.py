"""CMSN (Sun et al., TIFS 2025; book/methods.md; chapter 14): the model.

CMSN adds two parts to chapter 12's global alignment (``TextImageModel``), one switch each:

* **IMFI** (implicit multi-scale feature integration): the global feature of an image (or a
  caption) reads, by cross-attention, the tokens of its encoder's last ``depths`` blocks;
* **CRL** (combined representation learning): in training, each image-caption pair also gives
  a combined feature ``c``, which the shared classifier and the CRIA loss see.

The abstract names the parts without formulas; this is our reading, for a modality m (images:
the ViT's blocks; captions: the text encoder's layers) and its last k blocks' tokens X_1..X_k::

    T_d = W_m LN_m(X_d) + e^m_d                   (B, N, E), d = 1..k    DepthTokens
    K   = [T_1; ...; T_k]                         (B, kN, E)             depth_keys
    a   = MHA(q = LN_q(g), keys = values = LN_K(K))    g (B, E): m's global feature
    f   = W_o (g + a)                             (B, E)                 DepthFusion
    c   = LN(W_c [f_img; f_txt; f_img * f_txt])   (B, E), training only  CombinedRepresentation

* g is the baseline's feature (the projected CLS token / pooled sentence), so IMFI is a
  residual on top of it and f is the retrieval embedding; the keys are every token of each
  depth (the image's CLS token included; a caption's padding masked at every depth).
* **Implicit alignment**: LN_q, LN_K, the attention (W_q, W_k, W_v, its output projection) and
  W_o are ONE module applied to both modalities: one fusion learnt on images and captions. Only
  what cannot be shared (W_m, LN_m from each encoder's width, the depth embeddings e^m) is per
  modality. This sharing is our reading of "implicit".
* k = min(``depths``, the encoder's blocks), per modality (a 2-block ViT offers 2 depths).
* At test time each image and each caption is embedded alone: one query per record, no
  attention across modalities, so retrieval keeps one embedding per record.

Every attention module has a fused path (``F.scaled_dot_product_attention``) and an explicit
one that returns the weights (``fused=False``; ``reidkit.models.vit.attention_path`` switches
them), and both mask padding. With ``imfi=False`` and ``crl=False`` the model IS
``TextImageModel``: the same parameters, initialised from the same random draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.models.cross_attention import CrossAttention
from reidkit.models.text_image import TextImageModel
from reidkit.models.vit import VisionTransformer, attention_path


def masked_attention(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The explicit path: ``softmax(q k^T / sqrt(d)) v`` with the masked keys left out.

    q (B, heads, M, d), k and v (B, heads, N, d), key_mask (B, N), True (or 1) for a real key.
    Returns the output (B, heads, M, d) and the weights (B, heads, M, N): each row sums to 1
    over the real keys and is exactly 0 on the masked ones."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, heads, M, N)
    if key_mask is not None:
        hidden = ~key_mask.bool()[:, None, None, :]  # (B, 1, 1, N)
        scores = scores.masked_fill(hidden, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, heads, M, N)
    return weights @ v, weights


class MaskedCrossAttention(CrossAttention):
    """CrossViT's cross-attention (``reidkit.models.cross_attention``: W_q, W_k, W_v, output
    projection) with a key padding mask on both paths."""

    def attend(
        self, queries: Tensor, context: Tensor, key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """M ``queries`` (B, M, D) read N ``context`` tokens (B, N, D), ``key_mask`` (B, N)
        True for real ones: output (B, M, D), weights (B, heads, M, N) on the explicit path."""
        B, M, D = queries.shape
        q = self.heads(self.wq(queries))  # (B, heads, M, head_dim)
        k, v = self.heads(self.wk(context)), self.heads(self.wv(context))  # (B, heads, N, hd)
        weights = None
        if self.fused:
            mask = None if key_mask is None else key_mask.bool()[:, None, None, :]  # (B,1,1,N)
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, M, hd)
        else:
            x, weights = masked_attention(q, k, v, key_mask)
        x = x.transpose(1, 2).reshape(B, M, D)  # (B, M, heads * head_dim)
        return self.proj(x), weights


def depth_keys(
    tokens: Sequence[Tensor], depth_embed: Tensor, key_mask: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """k depths' tokens, each (B, N, E), and their depth embeddings (k, E) -> the keys
    (B, k*N, E), depth by depth (key d*N + n is token n of depth d), and the mask (B, N)
    repeated for every depth (B, k*N) (None stays None)."""
    if len(tokens) != len(depth_embed):
        raise ValueError(f"{len(tokens)} depths of tokens but {len(depth_embed)} depth embeddings")
    keys = torch.cat([t + e for t, e in zip(tokens, depth_embed)], dim=1)  # (B, k*N, E)
    mask = None if key_mask is None else key_mask.bool().repeat(1, len(tokens))  # (B, k*N)
    return keys, mask


class DepthTokens(nn.Module):
    """One modality's side of IMFI: its k depths' tokens (B, N, D_m) -> keys at the joint
    width E with a learnt embedding per depth (one LayerNorm and projection for all depths)."""

    def __init__(self, in_dim: int, embed_dim: int, depths: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim, eps=1e-6)
        self.proj = nn.Linear(in_dim, embed_dim)
        self.depth_embed = nn.Parameter(torch.zeros(depths, embed_dim))  # (k, E)
        nn.init.trunc_normal_(self.depth_embed, std=0.02)

    def forward(
        self, tokens: Sequence[Tensor], key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """k tensors (B, N, D_m), shallow to deep -> keys (B, k*N, E) and mask (B, k*N)."""
        return depth_keys([self.proj(self.norm(t)) for t in tokens], self.depth_embed, key_mask)


class DepthFusion(nn.Module):
    """IMFI's shared block: ``f = W_o (g + MHA(LN_q(g), LN_K(K)))`` for one query per record."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MaskedCrossAttention(dim, heads)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, query: Tensor, keys: Tensor, key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Global features (B, E) read keys (B, K, E): fused features (B, E) and, on the
        explicit path, the weights (B, heads, K)."""
        attended, weights = self.attn.attend(
            self.norm_q(query)[:, None], self.norm_kv(keys), key_mask
        )  # (B, 1, E), (B, heads, 1, K)
        fused = self.out(query + attended[:, 0])  # (B, E)
        return fused, None if weights is None else weights[:, :, 0]  # (B, heads, K)


class CombinedRepresentation(nn.Module):
    """CRL's ``c = LN(W_c [image; text; image * text])``: a paired image feature and text
    feature (B, E) each -> their combined feature (B, E). Our reading of "combined": both
    features and their elementwise product (which agreement between them raises), mixed
    by one linear layer and normalised; it exists in training only."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(3 * dim, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, image: Tensor, text: Tensor) -> Tensor:
        both = torch.cat([image, text, image * text], dim=-1)  # (B, 3E)
        return self.norm(self.proj(both))  # (B, E)


def split_depths(weights: Tensor, depths: int) -> Tensor:
    """IMFI weights (B, heads, k*N) -> (B, heads, k, N): one row of N per depth."""
    B, H, K = weights.shape
    return weights.reshape(B, H, depths, K // depths)  # (B, heads, k, N)


class CMSNModel(TextImageModel):
    """``TextImageModel`` with IMFI (``imfi``) on both encoders and CRL (``crl``) in training.

    ``depths``: how many of each encoder's last blocks IMFI reads (at most its blocks);
    ``heads``: IMFI's attention heads (``embed_dim`` must divide by it). IMFI needs the image
    backbone to be one of reidkit's ViTs (``forward_intermediates``)."""

    def __init__(
        self,
        backbone: nn.Module,
        text_encoder: nn.Module,
        num_classes: int,
        embed_dim: int,
        imfi: bool = True,
        crl: bool = True,
        depths: int = 3,
        heads: int = 4,
    ) -> None:
        super().__init__(backbone, text_encoder, num_classes, embed_dim)  # same draws first
        self.image_depths = self.text_depths = 0
        self.fusion: DepthFusion | None = None
        if imfi:
            if not isinstance(backbone, VisionTransformer):
                raise ValueError(
                    "IMFI reads the tokens of several ViT blocks: the image backbone must be one "
                    f"of reidkit's ViTs (reidkit.models.vit.VIT_CONFIGS), got "
                    f"{type(backbone).__name__}; or set imfi: false"
                )
            self.image_depths = min(depths, len(backbone.blocks))
            self.text_depths = min(depths, text_encoder.num_layers)
            self.image_depth = DepthTokens(backbone.num_features, embed_dim, self.image_depths)
            self.text_depth = DepthTokens(text_encoder.width, embed_dim, self.text_depths)
            self.fusion = DepthFusion(embed_dim, heads)
        self.combine = CombinedRepresentation(embed_dim) if crl else None

    # ---- IMFI on each encoder: (feature, weights) -------------------------------------------
    def fuse_image(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Images (B, 3, H, W) -> the image feature (B, E) and, on IMFI's explicit path, its
        weights (B, heads, k, 1+N) over the tokens of each depth."""
        if self.fusion is None:
            return super().encode_image(images), None
        inter = self.backbone.forward_intermediates(images)  # tokens of every block
        pooled = self.backbone.forward_head(inter.features, pre_logits=True)  # (B, D_img)
        keys, _ = self.image_depth(inter.tokens[-self.image_depths :])  # (B, k(1+N), E)
        fused, weights = self.fusion(self.image_proj(pooled), keys)  # (B, E)
        return fused, None if weights is None else split_depths(weights, self.image_depths)

    def fuse_text(self, token_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor | None]:
        """Token ids and mask (B, L) -> the text feature (B, E) and, on IMFI's explicit path,
        its weights (B, heads, k, L) (0 on padding)."""
        if self.fusion is None:
            return super().encode_text(token_ids, attention_mask), None
        layers, sentence = self.text_encoder.encode_layers(
            token_ids, attention_mask, range(-self.text_depths, 0)
        )  # k tensors (B, L, D_txt), shallow to deep; (B, D_txt)
        keys, key_mask = self.text_depth(layers, attention_mask)  # (B, kL, E), (B, kL)
        fused, weights = self.fusion(self.text_proj(sentence), keys, key_mask)  # (B, E)
        return fused, None if weights is None else split_depths(weights, self.text_depths)

    def encode_image(self, images: Tensor) -> Tensor:
        return self.fuse_image(images)[0]

    def encode_text(self, token_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.fuse_text(token_ids, attention_mask)[0]

    def imfi_attention(self, batch: Batch) -> dict[str, Tensor]:
        """IMFI's weights for a batch, through the explicit path whatever the switch says:
        ``{"image": (B, heads, k, 1+N), "text": (B, heads, k, L)}`` for what the batch holds."""
        if self.fusion is None:
            raise ValueError("this model was built with imfi=False: there is no IMFI attention")
        out: dict[str, Tensor] = {}
        with attention_path(self.fusion, fused=False):
            if batch.images is not None:
                out["image"] = self.fuse_image(batch.images)[1]
            if batch.token_ids is not None and batch.attention_mask is not None:
                out["text"] = self.fuse_text(batch.token_ids, batch.attention_mask)[1]
        return out

    # ---- training ---------------------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """``TextImageModel.forward`` (``image``, ``text``, their logits; through IMFI when on)
        and, with CRL, each pair's ``combined`` feature (B, E) and ``combined_logits``."""
        out = super().forward(batch)
        if self.combine is not None:
            combined = self.combine(out["image"], out["text"])  # (B, E)
            out["combined"] = combined
            out["combined_logits"] = self.forward_head(combined)
        return out

    def extra_repr(self) -> str:
        return (
            f"imfi depths: image {self.image_depths}, text {self.text_depths}; "
            f"crl={self.combine is not None}"
        )
