"""CSET (seed 003, chapter 11): two modality-specific ViTs that trade patch tokens while they
train, a cross-attention (CA) from the traded tokens back to the clean ones, and a graph
attention layer (MHGA) over the patches. METHODS.md section 6 settles what the paper leaves open.

    visible  -> ViT_V: embed, blocks 1..k --+--> blocks k+1..L -> norm -> CLS ----------+
                                            SE (training only)                           +-> f
    infrared -> ViT_I: embed, blocks 1..k --+--> ...     MHGA(block L's input) -> mean --+

Training runs two passes over a paired batch (the n-th visible and the n-th infrared image of
the batch show the same identity; the method's sampler ``paired`` gives such batches):

* **clean**: each stream alone, MHGA over its own image's patches: exactly what runs at test.
* **mixed** (when SE or MHGA is on): after each block in ``exchange_after`` the two streams
  exchange tokens (SE, ``reidkit.models.exchange``), and MHGA's nodes are the patches of both
  images of a pair (``reidkit.models.mhga``). It reuses the clean pass up to the first exchange.

Both passes feed the same BNNeck and classifier (the paper gives "the cross-modal features
after SE" to the same heads). The mixed features are normalised with their own batch
statistics and leave BN's running statistics alone, so those describe the test-time (clean)
features only. With ``ca`` each stream has its own CA (the paper's W_v and W_i): its mixed final
tokens ask, its clean final tokens answer; the CA's CLS row is the student of the distillation
term and the clean CLS its teacher (detached by the objective, ``reidkit.losses``).

f is the final CLS token; with MHGA, [CLS; mean of MHGA's patch tokens] (the paper's
"concatenated features"), so its width doubles. At test there is no exchange, no CA and no
cross-modal MHGA edge: each image goes through its own modality's stream alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidkit.data.batch import Batch
from reidkit.data.records import MODALITIES, modality_index
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import BNNeck
from reidkit.models.cross_attention import CrossAttention
from reidkit.models.exchange import SimilarityExchange
from reidkit.models.mhga import HeterogeneousGraphAttention
from reidkit.models.vit import VisionTransformer

VISIBLE, INFRARED = modality_index("visible"), modality_index("infrared")
STREAMS = {VISIBLE: "visible", INFRARED: "infrared"}


class MixedCleanAttention(nn.Module):
    """CA: every mixed token of an image (the queries, (B, 1+N, D)) reads the clean tokens of
    the same image (keys and values), with a residual: mixed + CrossAttention(LN(mixed), LN(clean)).
    ``attn.fused`` chooses the path; the explicit one returns weights (B, heads, 1+N, 1+N)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm_mixed = nn.LayerNorm(dim, eps=1e-6)
        self.norm_clean = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads)

    def forward(self, mixed: Tensor, clean: Tensor) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.attn.attend(self.norm_mixed(mixed), self.norm_clean(clean))
        return mixed + attended, weights  # (B, 1+N, D)


def batch_statistics_norm(bn: nn.BatchNorm1d, features: Tensor) -> Tensor:
    """``bn`` with this batch's mean and variance and its own scale and shift, leaving its
    running statistics untouched (the mixed features, which never occur at test)."""
    return F.batch_norm(features, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


def in_batch_order(parts: Sequence[Tensor], positions: Sequence[Tensor]) -> Tensor:
    """Rows computed group by group (``parts[g]`` for batch rows ``positions[g]``) back in
    batch order."""
    order = torch.cat(list(positions))  # (B,): the batch row of each computed row
    return torch.cat(list(parts))[torch.argsort(order)]


def check_streams(visible: nn.Module, infrared: nn.Module) -> None:
    """Two reidkit ViTs of equal shape (width, depth >= 2, patch grid), or a ValueError."""
    for name, stream in (("visible", visible), ("infrared", infrared)):
        if not isinstance(stream, VisionTransformer):
            raise ValueError(
                f"CSET's {name} stream must be a reidkit.models.vit.VisionTransformer (its "
                f"blocks run one by one), got {type(stream).__name__}"
            )
    shapes = [
        (s.embed_dim, len(s.blocks), tuple(s.patch_embed.grid_size)) for s in (visible, infrared)
    ]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"CSET's streams must have equal shape (width, depth, grid): visible {shapes[0]}, "
            f"infrared {shapes[1]}"
        )
    if shapes[0][1] < 2:
        raise ValueError(
            f"CSET needs streams of depth >= 2 (MHGA reads block L-1), got {shapes[0][1]}"
        )


class CSET(nn.Module):
    """As every reidkit model: ``forward_features`` -> tokens (a list: the final tokens
    (B, 1+N, D), and with MHGA its patch tokens (B, N, D)), ``forward_head`` -> logits (or
    f_bn with ``pre_logits``), ``forward_embedding(batch)`` -> f_bn (B, D or 2D), one image at
    a time, ``forward(batch)`` -> the training outputs of both passes (module docstring)."""

    def __init__(
        self,
        visible: VisionTransformer,
        infrared: VisionTransformer,
        num_classes: int,
        exchange: nn.Module | None = None,
        exchange_after: Sequence[int] = (),
        ca: bool = False,
        ca_heads: int | None = None,
        graph: nn.Module | None = None,
    ) -> None:
        """``exchange``: SE, ``(visible, infrared) -> (visible, infrared)`` on (B, 1+N, D)
        tokens, applied after the blocks ``exchange_after`` (1-based, in 1..L-1); ``ca`` needs
        it. ``graph``: MHGA, ``(visible | None, infrared | None) -> (visible, infrared)`` on
        (B, N, D) patch tokens, fed with block L's input."""
        super().__init__()
        check_streams(visible, infrared)
        self.streams = nn.ModuleDict({"visible": visible, "infrared": infrared})
        self.num_classes = num_classes  # checkpoints record it (reidkit eval rebuilds the model)
        self.depth, self.embed_dim = len(visible.blocks), visible.embed_dim
        self.grid = tuple(visible.patch_embed.grid_size)
        after = tuple(sorted(set(exchange_after)))
        if (exchange is None) != (not after):
            raise ValueError(
                f"exchange_after {tuple(exchange_after)}: give blocks exactly when there is an "
                f"exchange module ({'none' if exchange is None else 'one'} given)"
            )
        if any(not 1 <= b <= self.depth - 1 for b in after):
            raise ValueError(
                f"exchange_after {tuple(exchange_after)}: blocks must lie in 1..{self.depth - 1} "
                f"(SE runs between block k and block k+1 of {self.depth})"
            )
        if ca and exchange is None:
            raise ValueError("ca needs SE: CA's queries are the exchanged (mixed) tokens")
        self.exchange, self.exchange_after, self.graph = exchange, after, graph
        heads = ca_heads or visible.blocks[0].attn.num_heads
        self.ca = (
            nn.ModuleDict({n: MixedCleanAttention(self.embed_dim, heads) for n in STREAMS.values()})
            if ca
            else None
        )
        self.feature_dim = self.embed_dim * (2 if graph is not None else 1)
        self.neck = BNNeck(self.feature_dim, num_classes)

    # ---- the streams ---------------------------------------------------------------------
    def run_blocks(
        self, visible: Tensor, infrared: Tensor, start: int, stop: int, exchange: bool
    ) -> tuple[Tensor, Tensor]:
        """Blocks start+1..stop (1-based) of both streams on their tokens (B, 1+N, D); with
        ``exchange``, SE after each of them that is in ``exchange_after``."""
        v_blocks, i_blocks = self.streams["visible"].blocks, self.streams["infrared"].blocks
        for index in range(start, stop):
            visible, _ = v_blocks[index](visible)
            infrared, _ = i_blocks[index](infrared)
            if exchange and index + 1 in self.exchange_after:
                visible, infrared = self.exchange(visible, infrared)
        return visible, infrared

    def finish(self, name: str, last_input: Tensor) -> Tensor:
        """Block L and the final norm of one stream: (B, 1+N, D) -> (B, 1+N, D)."""
        stream = self.streams[name]
        tokens, _ = stream.blocks[-1](last_input)
        return stream.norm(tokens)

    def encode(self, name: str, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """One modality's images through its stream alone: final tokens (B, 1+N, D) and, with
        MHGA, its tokens over this modality's nodes only (B, N, D)."""
        stream = self.streams[name]
        z = stream.embed(images)  # (B, 1+N, D)
        for block in stream.blocks[:-1]:
            z, _ = block(z)
        graph = None if self.graph is None else self.own_graph(name, z[:, 1:])
        return self.finish(name, z), graph

    def own_graph(self, name: str, patches: Tensor) -> Tensor:
        """MHGA over one image's own nodes (test time): patch tokens (B, N, D) -> (B, N, D)."""
        if name == "visible":
            return self.graph(patches, None)[0]
        return self.graph(None, patches)[1]

    def modality_rows(self, modalities: Tensor | None, size: int) -> dict[str, Tensor]:
        """Batch rows of each modality present; an error for other modalities."""
        if modalities is None or modalities.shape != (size,):
            got = None if modalities is None else tuple(modalities.shape)
            raise ValueError(
                f"CSET routes images by modality: expected modalities ({size},), got {got}"
            )
        rows = {n: (modalities == m).nonzero().flatten() for m, n in STREAMS.items()}
        stray = sorted({MODALITIES[int(m)] for m in modalities.tolist()} - set(STREAMS.values()))
        if stray:
            raise ValueError(f"CSET has visible and infrared streams only; the batch has {stray}")
        return {n: r for n, r in rows.items() if len(r)}

    # ---- the timm-style interface (test time: one image at a time) ---------------------------
    def forward_features(self, images: Tensor, modalities: Tensor | None = None) -> list[Tensor]:
        """Images (B, C, H, W) -> [final tokens (B, 1+N, D)] (+ [MHGA tokens (B, N, D)]), each
        image through its modality's stream alone."""
        rows = self.modality_rows(modalities, images.shape[0])
        encoded = [self.encode(name, images[r]) for name, r in rows.items()]
        positions = [r.to(images.device) for r in rows.values()]
        features = [in_batch_order([e[0] for e in encoded], positions)]
        if self.graph is not None:
            features.append(in_batch_order([e[1] for e in encoded], positions))
        return features

    def pool(self, final: Tensor, graph: Tensor | None = None) -> Tensor:
        """f (B, D), or (B, 2D) with MHGA: the CLS token [; the mean of MHGA's patch tokens]."""
        if graph is None:
            return final[:, 0]
        return torch.cat([final[:, 0], graph.mean(dim=1)], dim=1)

    def forward_head(self, features: list[Tensor], pre_logits: bool = False) -> Tensor:
        """``forward_features``' list -> logits (B, num_classes), or f_bn when ``pre_logits``."""
        f_bn = self.neck(self.pool(*features))
        return f_bn if pre_logits else self.neck.logits(f_bn)

    def forward_embedding(self, batch: Batch) -> Tensor:
        """The re-id embedding f_bn (B, D or 2D), one image at a time."""
        return self.forward_head(self.forward_features(batch.images, batch.modalities), True)

    # ---- training: the clean and the mixed pass -------------------------------------------
    def pair_rows(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Rows of the visible and infrared images, n-th with n-th the same identity."""
        rows = self.modality_rows(batch.modalities, len(batch))
        visible, infrared = (rows.get(n, batch.labels[:0]) for n in ("visible", "infrared"))
        if len(visible) != len(infrared) or not torch.equal(
            batch.labels[visible], batch.labels[infrared]
        ):
            raise ValueError(
                "CSET trains on pairs: the n-th visible and the n-th infrared image of a batch "
                "must show the same identity (the sampler 'paired' makes such batches); got "
                f"{len(visible)} visible and {len(infrared)} infrared images, labels "
                f"{batch.labels[visible][:8].tolist()} / {batch.labels[infrared][:8].tolist()}"
            )
        return visible, infrared

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        """Training outputs, in batch order: ``features`` f and ``logits`` of the clean pass;
        with SE or MHGA ``features_mixed`` and ``logits_mixed``; with CA the distillation's
        ``ca_student`` and ``ca_teacher`` (B, D)."""
        if self.exchange is None and self.graph is None:  # the two-stream baseline
            f = self.pool(*self.forward_features(batch.images, batch.modalities))
            return {"features": f, "logits": self.neck.logits(self.neck(f))}
        rows = self.pair_rows(batch)
        order = [r.to(batch.images.device) for r in rows]
        v_images, i_images = (batch.images[r] for r in order)
        first = self.exchange_after[0] if self.exchange_after else self.depth - 1
        zv, zi = self.run_blocks(
            self.streams["visible"].embed(v_images),
            self.streams["infrared"].embed(i_images),
            0,
            first,
            exchange=False,
        )  # the passes agree up to here
        clean_in = self.run_blocks(zv, zi, first, self.depth - 1, exchange=False)
        mixed_in = clean_in
        if self.exchange is not None:
            mixed_in = self.run_blocks(*self.exchange(zv, zi), first, self.depth - 1, True)
        names = ("visible", "infrared")
        clean = [self.finish(n, z) for n, z in zip(names, clean_in)]  # 2 x (B/2, 1+N, D)
        mixed = (
            clean if mixed_in is clean_in else [self.finish(n, z) for n, z in zip(names, mixed_in)]
        )
        clean_graph = mixed_graph = (None, None)
        if self.graph is not None:
            clean_graph = tuple(self.own_graph(n, z[:, 1:]) for n, z in zip(names, clean_in))
            mixed_graph = self.graph(mixed_in[0][:, 1:], mixed_in[1][:, 1:])[:2]
        f = in_batch_order([self.pool(t, g) for t, g in zip(clean, clean_graph)], order)
        f_mixed = in_batch_order([self.pool(t, g) for t, g in zip(mixed, mixed_graph)], order)
        outputs = {
            "features": f,
            "logits": self.neck.logits(self.neck(f)),
            "features_mixed": f_mixed,
            "logits_mixed": self.neck.logits(batch_statistics_norm(self.neck.bn, f_mixed)),
        }
        if self.ca is not None:
            student = [self.ca[n](m, c)[0][:, 0] for n, m, c in zip(names, mixed, clean)]
            outputs["ca_student"] = in_batch_order(student, order)  # (B, D)
            outputs["ca_teacher"] = in_batch_order([c[:, 0] for c in clean], order)  # (B, D)
        return outputs


def build_cset_model(
    num_classes: int,
    img_size: tuple[int, int],
    backbone: str = "vit_hybrid_cpu",
    pretrained: str | None = None,
    drop_path_rate: float = 0.0,
    se: str = "both",
    se_layers: Sequence[int] | None = None,
    exchange_options: dict[str, Any] | None = None,
    ca: bool = True,
    ca_heads: int | None = None,
    mhga: bool = True,
    mhga_heads: int | None = None,
    mhga_lambdas: tuple[float, float, float] = (1.0, 0.7, 0.3),
    shared: bool = False,
) -> CSET:
    """CSET with the parts of the paper's Table 1 switched by ``se`` (``none``, ``i2v``,
    ``v2i``, ``both``), ``ca`` and ``mhga``; two streams of the named reidkit ViT (each from
    ``pretrained`` when given). ``se_layers`` None: SE after every block but the last (the
    paper's "layer by layer"); ``exchange_options``: the exchange's other arguments.
    ``shared``: one ViT serves both modalities (the exchange, CA and MHGA still pair them);
    the paper's streams do not share parameters (False)."""
    visible = build_backbone(backbone, img_size, pretrained, drop_path_rate)
    if shared:  # one ViT that both modalities go through
        infrared = visible
    else:
        infrared = build_backbone(backbone, img_size, pretrained, drop_path_rate)
    check_streams(visible, infrared)
    depth, dim = len(visible.blocks), visible.embed_dim
    exchange, after = None, ()
    if se != "none":
        exchange = SimilarityExchange(direction=se, **(exchange_options or {}))
        after = tuple(range(1, depth)) if se_layers is None else tuple(se_layers)
    graph = None
    if mhga:
        heads = mhga_heads or visible.blocks[0].attn.num_heads
        grid = tuple(visible.patch_embed.grid_size)
        graph = HeterogeneousGraphAttention(dim, heads, grid, lambdas=tuple(mhga_lambdas))
    return CSET(visible, infrared, num_classes, exchange, after, ca, ca_heads, graph)
