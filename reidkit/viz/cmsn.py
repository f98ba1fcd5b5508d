"""Chapter 14's view of IMFI (``reidkit.models.cmsn``): where a global feature looked.

IMFI's query, one image's (or one caption's) global feature, attends over the tokens of its
encoder's last k blocks at once, so its weights (``CMSNModel.imfi_attention``: (B, heads, k, N)
per modality) say both *which depth* and *which tokens* it read.

* ``depth_mass``: the share of the attention that went to each depth (sums to 1).
* ``imfi_attention_figure``: one record's weights, averaged over the heads. For a caption
  (``tokens``): a depths x tokens heatmap, padding left out. For an image (``image`` and its
  token ``grid``): one panel per depth, the patch weights over the image on one colour scale,
  each panel's title giving that depth's share and its CLS token's.
* ``depth_labels``: "block 3 of 4"-style names of the depths a model's IMFI reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.viz.attention import image_to_uint8


def _per_depth(weights: Tensor) -> Tensor:
    """(heads, k, N) -> the mean over heads (k, N); (k, N) as it is; float32 on the CPU."""
    if weights.dim() == 3:
        weights = weights.mean(0)
    if weights.dim() != 2:
        raise ValueError(
            f"expected one record's IMFI weights (heads, depths, tokens) or (depths, tokens), "
            f"got shape {tuple(weights.shape)}"
        )
    return weights.detach().float().cpu()  # (k, N)


def depth_mass(weights: Tensor) -> Tensor:
    """One record's weights (heads, k, N) or (k, N) -> each depth's share (k,), summing to 1."""
    return _per_depth(weights).sum(1)  # (k,)


def depth_labels(model, modality: str) -> list[str]:
    """Names of the depths a ``CMSNModel``'s IMFI reads for ``"image"`` or ``"text"``,
    shallow to deep: ``["block 2 of 4", "block 3 of 4", "block 4 of 4"]``."""
    if modality == "image":
        total, k = len(model.backbone.blocks), model.image_depths
    elif modality == "text":
        total, k = model.text_encoder.num_layers, model.text_depths
    else:
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    return [
        f"{'block' if modality == 'image' else 'layer'} {d} of {total}"
        for d in range(total - k + 1, total + 1)
    ]


def _text_figure(w: Tensor, labels: Sequence[str], tokens: Sequence[str], title: str) -> go.Figure:
    n = len(tokens)
    if n > w.shape[1]:
        raise ValueError(f"{n} token labels for {w.shape[1]} tokens")
    mass = w.sum(1)  # (k,), padding included (it holds 0)
    z = w[:, :n].numpy()  # (k, n): the real tokens only
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(n)),  # positions: a caption may repeat a word
            y=[f"{label} ({m:.0%})" for label, m in zip(labels, mass.tolist())],
            colorscale="Inferno",
            zmin=0.0,
            customdata=np.array([list(tokens)] * len(labels)),
            hovertemplate="%{customdata}: %{z:.3f}<extra>%{y}</extra>",
        )
    )
    fig.update_xaxes(
        tickmode="array", tickvals=list(range(n)), ticktext=list(tokens), tickangle=-60
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=160 + 45 * len(labels), width=max(500, 24 * n + 200))
    return fig


def _image_figure(
    w: Tensor, labels: Sequence[str], image: Tensor | np.ndarray, grid: tuple[int, int], title: str
) -> go.Figure:
    gh, gw = grid
    if w.shape[1] != 1 + gh * gw:
        raise ValueError(f"{w.shape[1]} tokens per depth, expected 1 + {gh} x {gw} (CLS + patches)")
    pixels = image_to_uint8(image)  # (H, W, 3)
    height, width = pixels.shape[:2]
    cell = (height / gh, width / gw)  # input pixels per token
    patches = w[:, 1:].reshape(len(labels), gh, gw)  # (k, gh, gw), row-major patches
    top = float(patches.max())
    names = [
        f"{label}: {m:.0%} (CLS {c:.0%})"
        for label, m, c in zip(labels, w.sum(1).tolist(), w[:, 0].tolist())
    ]
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=names, horizontal_spacing=0.03)
    for d in range(len(labels)):
        fig.add_trace(go.Image(z=pixels), row=1, col=d + 1)
        fig.add_trace(
            go.Heatmap(
                z=patches[d].numpy(),
                x0=cell[1] / 2 - 0.5,
                dx=cell[1],
                y0=cell[0] / 2 - 0.5,
                dy=cell[0],
                zmin=0.0,
                zmax=top,
                colorscale="Inferno",
                opacity=0.55,
                showscale=d == len(labels) - 1,
            ),
            row=1,
            col=d + 1,
        )
        axis = "" if d == 0 else str(d + 1)
        fig.layout[f"yaxis{axis}"].scaleanchor = f"x{axis}"
    fig.update_xaxes(showticklabels=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(showticklabels=False, range=[height - 0.5, -0.5])
    fig.update_layout(title=title, height=420, width=max(420, 230 * len(labels) + 80))
    return fig


def imfi_attention_figure(
    weights: Tensor,
    labels: Sequence[str],
    *,
    tokens: Sequence[str] | None = None,
    image: Tensor | np.ndarray | None = None,
    grid: tuple[int, int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """One record's IMFI weights (heads, k, N) or (k, N), its k depths named by ``labels``.

    A caption: pass its ``tokens`` (the pieces, e.g. ``tokenizer.tokens(caption)``; columns
    beyond them, the padding, are left out). An image: pass ``image`` (3, H, W) and the token
    ``grid`` (h, w) of its backbone (``backbone.patch_embed.grid_size``); token 0 is the CLS
    token. Titles give each depth's share of the attention."""
    w = _per_depth(weights)
    if len(labels) != w.shape[0]:
        raise ValueError(f"{len(labels)} depth labels for {w.shape[0]} depths")
    if tokens is not None:
        return _text_figure(w, labels, tokens, title or "IMFI: the caption's query over its tokens")
    if image is None or grid is None:
        raise ValueError("pass tokens (a caption) or image and grid (an image)")
    return _image_figure(w, labels, image, grid, title or "IMFI: the image's query over its tokens")
