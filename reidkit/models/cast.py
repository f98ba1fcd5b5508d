"""CAST and GLAA (seed 000, chapter 15): an asymmetric Siamese ViT for visible-X-ray package
re-identification, and a global-local cross-modality alignment attention used in training.

What we have of seed 000 is a news item about the paper (wang2025cast in book/references.bib):
it names the parts and what they are for, nothing more. What follows is our reading, stated
once here; where it is ours, it says so.

**The Siamese ViT.** One transformer (the SAME weights) embeds both modalities: a photograph
goes through the plain branch, an X-ray scan through the X-ray branch, which differs only in
how its tokens are formed (``branch_tokens``)::

    visible:  patches = PatchEmbed(x)                 z_0 = [cls; patches] + E_pos
    X-ray:    patches = LN_x(PatchEmbed(x))           z_0 = [cls; patches] + E_pos + e_x
    both:     z_L = Blocks(z_0);  f = LN(z_L)[CLS] (the triplet feature);  f_bn = BN(f)

* ``asym_ln``: CAST's extra LayerNorm ``LN_x`` after the patch embedding, X-ray branch only (a
  scan's pixel statistics, mostly white with saturated hues, differ most from a photograph's at
  the first layer; the LN re-standardises its patch tokens before the shared blocks).
* ``modality_embed``: the "modality-aware encoding" ``e_x``, ONE learnt vector (1, 1, D) added to
  every token of an X-ray image (CLS included) after the position embedding, as BERT's segment
  embedding or TransReID's side information. Not a per-position tensor: that would be a second
  position embedding learnt from the X-ray images alone, D x (1+N) parameters for a few hundred
  training packages. It starts as a truncated normal (std 0.02, as E_pos), so a fresh model
  already tells the branches apart.
* With both off the model is the symmetric Siamese baseline: an image gives the same feature
  whichever modality it is labelled with (``tests/test_cast.py`` checks it).

**GLAA** (training only). In a paired batch (the n-th visible image and the n-th X-ray image
show the same package; the sampler ``paired_xray`` deals such batches) each image's final CLS
token (global) attends over the final patch tokens (local) of its partner of the other
modality: multi-head cross-attention, query LN(CLS), keys and values LN(partner's patches),
no residual, so the result is made of the other modality's parts only. One GLAA module serves
both directions (the Siamese idea carried on). The objective (``reidkit.methods.cast``) asks
the attended feature to (a) be classified as the package by the shared classifier and (b) point
the same way as the image's own CLS (cosine). At test an image is embedded alone and GLAA is
not used. ``glaa.attn.fused`` (or ``set_fused_attention``) chooses the fused path
(``F.scaled_dot_product_attention``) or the explicit one that returns the weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.data.records import MODALITIES, modality_index
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import BNNeck
from reidkit.models.cross_attention import CrossAttention
from reidkit.models.cset import batch_statistics_norm
from reidkit.models.vit import VisionTransformer, attention_path

VISIBLE, XRAY = modality_index("visible"), modality_index("xray")


def branch_tokens(
    patches: Tensor,
    is_xray: Tensor,
    cls_token: Tensor,
    pos_embed: Tensor,
    norm: nn.Module | None = None,
    modality_embedding: Tensor | None = None,
) -> Tensor:
    """z_0 of each image in its branch: patch tokens (B, N, D) -> tokens (B, 1+N, D).

    ``is_xray`` (B,) bool picks the X-ray rows; ``norm`` (CAST's LN) and ``modality_embedding``
    (1, 1, D) act on those rows only; None switches a part off. ``cls_token`` is (1, 1, D),
    ``pos_embed`` (1, 1+N, D)."""
    xray = is_xray.to(patches.device)[:, None, None]  # (B, 1, 1), broadcasts over tokens
    if norm is not None:
        patches = torch.where(xray, norm(patches).to(patches.dtype), patches)  # (B, N, D)
    cls = cls_token.expand(patches.shape[0], -1, -1)  # (B, 1, D)
    z = torch.cat([cls, patches], dim=1) + pos_embed  # (B, 1+N, D)
    if modality_embedding is not None:
        z = z + xray * modality_embedding  # (B, 1, 1) * (1, 1, D): zero on visible rows
    return z


def partner_rows(modalities: Tensor, labels: Tensor) -> Tensor:
    """(B,) the batch row of each image's partner: the n-th visible image (in batch order)
    pairs with the n-th X-ray image, and both must show the same identity."""
    visible = (modalities == VISIBLE).nonzero().flatten()  # (P,)
    xray = (modalities == XRAY).nonzero().flatten()  # (P,)
    if len(visible) != len(xray) or len(visible) + len(xray) != len(modalities):
        raise ValueError(
            "GLAA pairs images: a batch needs as many visible as X-ray images and no other "
            f"modality, got {len(visible)} visible and {len(xray)} X-ray of {len(modalities)}"
        )
    if not torch.equal(labels[visible], labels[xray]):
        raise ValueError(
            "GLAA pairs the n-th visible with the n-th X-ray image of a batch, which must show "
            "the same package (the sampler 'paired_xray' deals such batches); labels "
            f"{labels[visible][:8].tolist()} / {labels[xray][:8].tolist()}"
        )
    partner = torch.empty_like(modalities)  # (B,)
    partner[visible], partner[xray] = xray, visible
    return partner


class GLAA(nn.Module):
    """Global-local alignment attention: each CLS (B, D) reads the N patch tokens (B, N, D) of
    another image; returns the attended feature (B, D) and, on the explicit path, the weights
    (B, heads, N), each row summing to 1 over the patches."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm_global = nn.LayerNorm(dim, eps=1e-6)
        self.norm_local = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads)  # attn.fused: the one switch of the paths

    def forward(self, cls: Tensor, patches: Tensor) -> tuple[Tensor, Tensor | None]:
        query = self.norm_global(cls)[:, None]  # (B, 1, D): one query per image
        attended, weights = self.attn.attend(query, self.norm_local(patches))  # (B, 1, D)
        return attended[:, 0], None if weights is None else weights[:, :, 0]  # (B, heads, N)


class CAST(nn.Module):
    """As timm: ``forward_features`` -> tokens (B, 1+N, D), ``forward_head`` -> logits (or f_bn
    with ``pre_logits``). As every reidkit model: ``forward_embedding(batch)`` -> f_bn (B, D),
    one image at a time; ``forward(batch)`` -> the training outputs (GLAA's among them)."""

    def __init__(
        self,
        backbone: VisionTransformer,
        num_classes: int,
        asym_ln: bool = True,
        modality_embed: bool = True,
        glaa: bool = True,
        glaa_heads: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, VisionTransformer):
            raise ValueError(
                "CAST builds its branches from a reidkit.models.vit.VisionTransformer (it forms "
                f"the tokens itself), got {type(backbone).__name__}"
            )
        self.backbone = backbone  # the one transformer of both branches
        self.num_classes = num_classes  # checkpoints record it (reidkit eval rebuilds the model)
        self.embed_dim = dim = backbone.embed_dim
        self.grid = tuple(backbone.patch_embed.grid_size)
        self.xray_norm = nn.LayerNorm(dim, eps=1e-6) if asym_ln else None
        self.modality_embedding = None
        if modality_embed:
            self.modality_embedding = nn.Parameter(torch.zeros(1, 1, dim))
            nn.init.trunc_normal_(self.modality_embedding, std=0.02)
        heads = glaa_heads or backbone.blocks[0].attn.num_heads
        self.glaa = GLAA(dim, heads) if glaa else None
        self.neck = BNNeck(dim, num_classes)

    # ---- the two branches (test time: one image at a time) ------------------------------
    def xray_rows(self, modalities: Tensor | None, size: int) -> Tensor:
        """(B,) bool, True for X-ray images; an error for a modality CAST has no branch for."""
        if modalities is None or modalities.shape != (size,):
            got = None if modalities is None else tuple(modalities.shape)
            raise ValueError(
                f"CAST routes images by modality: expected modalities ({size},), got {got}"
            )
        stray = sorted({MODALITIES[int(m)] for m in modalities.tolist()} - {"visible", "xray"})
        if stray:
            raise ValueError(f"CAST has a visible and an X-ray branch; the batch has {stray}")
        return modalities == XRAY

    def embed(self, images: Tensor, is_xray: Tensor) -> Tensor:
        """Images (B, C, H, W) -> z_0 (B, 1+N, D), each in its branch (``branch_tokens``)."""
        vit = self.backbone
        patches = vit.patch_embed(images)  # (B, N, D)
        z = branch_tokens(
            patches, is_xray, vit.cls_token, vit.pos_embed, self.xray_norm, self.modality_embedding
        )
        return vit.pos_drop(z)

    def forward_features(self, images: Tensor, modalities: Tensor | None = None) -> Tensor:
        """Images (B, C, H, W) -> final normalised tokens (B, 1+N, D); token 0 is the CLS."""
        z = self.embed(images, self.xray_rows(modalities, images.shape[0]))
        for block in self.backbone.blocks:
            z, _ = block(z)
        return self.backbone.norm(z)

    def forward_head(self, tokens: Tensor, pre_logits: bool = False) -> Tensor:
        """Tokens (B, 1+N, D) -> logits (B, num_classes), or f_bn (B, D) when ``pre_logits``."""
        f_bn = self.neck(tokens[:, 0])
        return f_bn if pre_logits else self.neck.logits(f_bn)

    def forward_embedding(self, batch: Batch) -> Tensor:
        """The re-id embedding f_bn (B, D): each image alone, through its modality's branch."""
        return self.forward_head(self.forward_features(batch.images, batch.modalities), True)

    # ---- training ------------------------------------------------------------------------
    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Training outputs in batch order: ``features`` f (B, D) and ``logits``; with GLAA
        ``glaa`` (B, D), row b's CLS attended over its partner's patches, and ``glaa_logits``
        (normalised with the batch's own statistics: BN's running ones describe f only)."""
        tokens = self.forward_features(batch.images, batch.modalities)  # (B, 1+N, D)
        f = tokens[:, 0]  # (B, D)
        outputs = {"features": f, "logits": self.neck.logits(self.neck(f))}
        if self.glaa is not None:
            partner = partner_rows(batch.modalities, batch.labels).to(tokens.device)  # (B,)
            attended, _ = self.glaa(f, tokens[partner, 1:])  # (B, D)
            outputs["glaa"] = attended
            outputs["glaa_logits"] = self.neck.logits(batch_statistics_norm(self.neck.bn, attended))
        return outputs

    @torch.no_grad()
    def glaa_maps(self, visible: Tensor, xray: Tensor) -> tuple[Tensor, Tensor]:
        """GLAA's weights for pairs of images (B, C, H, W) each, on the patch grid: the visible
        CLS over the X-ray patches and the X-ray CLS over the visible patches, each (B, heads,
        grid_h, grid_w). Runs in evaluation mode (BN's running statistics)."""
        if self.glaa is None:
            raise ValueError("this model was built without GLAA (glaa=False)")
        was_training = self.training
        self.eval()
        n = visible.shape[0]
        modalities = torch.tensor([VISIBLE] * n + [XRAY] * n, device=visible.device)
        tokens = self.forward_features(torch.cat([visible, xray]), modalities)  # (2B, 1+N, D)
        v, x = tokens[:n], tokens[n:]  # (B, 1+N, D) each
        with attention_path(self.glaa, fused=False):
            _, v2x = self.glaa(v[:, 0], x[:, 1:])  # (B, heads, N)
            _, x2v = self.glaa(x[:, 0], v[:, 1:])  # (B, heads, N)
        self.train(was_training)
        return v2x.unflatten(-1, self.grid), x2v.unflatten(-1, self.grid)  # (B, heads, gh, gw)


def build_cast_model(
    num_classes: int,
    img_size: tuple[int, int],
    backbone: str = "vit_hybrid_cpu",
    pretrained: str | None = None,
    drop_path_rate: float = 0.0,
    asym_ln: bool = True,
    modality_embed: bool = True,
    glaa: bool = True,
    glaa_heads: int | None = None,
) -> CAST:
    """CAST on one reidkit ViT (``pretrained``: None, ``"timm"`` or a .safetensors file) with
    the parts switched by ``asym_ln``, ``modality_embed`` and ``glaa`` (all off: the symmetric
    Siamese baseline)."""
    vit = build_backbone(backbone, img_size, pretrained, drop_path_rate)
    return CAST(vit, num_classes, asym_ln, modality_embed, glaa, glaa_heads)
