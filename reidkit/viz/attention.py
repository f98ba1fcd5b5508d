"""Where a ViT looks: CLS attention maps, attention rollout and plotly figures over the image.

Inputs are the attention weights of ``VisionTransformer.forward_intermediates(x,
return_attention=True)``: one (B, heads, 1+N, 1+N) tensor per block, token 0 the CLS token.
The figures use plotly's own slider and menu, so they stay interactive in the static book.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from torch import Tensor


def cls_attention_maps(attentions: list[Tensor], grid: tuple[int, int]) -> Tensor:
    """How much the CLS token attends to each patch, in every block and head.

    (B, heads, 1+N, 1+N) per block -> (layers, B, heads, grid_h, grid_w).
    """
    stacked = torch.stack([a.detach() for a in attentions])  # (L, B, heads, 1+N, 1+N)
    cls_row = stacked[:, :, :, 0, 1:]  # (L, B, heads, N): query CLS, keys the patches
    return cls_row.reshape(*cls_row.shape[:3], *grid)  # (L, B, heads, grid_h, grid_w)


def attention_rollout(
    attentions: list[Tensor], grid: tuple[int, int], residual: float = 0.5
) -> Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much the final CLS token draws on each
    input patch through all layers. Each layer's head-averaged attention is mixed with the
    identity (the residual path), rows are renormalised, and the layers are multiplied.

    (B, heads, 1+N, 1+N) per block -> (B, grid_h, grid_w).
    """
    first = attentions[0]
    tokens = first.shape[-1]
    eye = torch.eye(tokens, dtype=first.dtype, device=first.device)  # (1+N, 1+N)
    rollout = eye.expand(first.shape[0], tokens, tokens)  # (B, 1+N, 1+N)
    for weights in attentions:
        mixed = residual * eye + (1 - residual) * weights.detach().mean(dim=1)  # (B, 1+N, 1+N)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed @ rollout  # later layers act on what earlier layers produced
    return rollout[:, 0, 1:].reshape(-1, *grid)  # (B, grid_h, grid_w)


def effective_patches(heatmap: Tensor) -> float:
    """How many patches a (grid_h, grid_w) attention map is spread over: ``exp`` of the entropy
    of the map scaled to sum 1. All weight on one patch gives 1; an even spread over N patches
    gives N. A number to compare maps by, instead of judging their colours by eye."""
    weights = heatmap.detach().double().flatten().clamp_min(0)
    if weights.sum() <= 0:
        raise ValueError(f"the attention map of shape {tuple(heatmap.shape)} has no weight")
    p = weights / weights.sum()
    entropy = -(p * p.clamp_min(1e-300).log()).sum()  # 0 log 0 counts as 0
    return float(entropy.exp())


def image_to_uint8(image: Tensor | np.ndarray) -> np.ndarray:
    """A (3, H, W) tensor or (H, W, 3) array -> (H, W, 3) uint8 for display; float images
    outside [0, 1] (e.g. normalised for the model) are rescaled to their min and max."""
    array = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    if array.ndim != 3:
        raise ValueError(f"expected one image (3, H, W) or (H, W, 3), got shape {array.shape}")
    if array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)  # (H, W, C)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float64)
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        array = (array - low) / max(high - low, 1e-12)
    return (array * 255).round().astype(np.uint8)


def _heatmap(values: np.ndarray, patch_size: int, stride: int, **style: object) -> go.Heatmap:
    # Cell (i, j) is centred on its patch: pixels [j*stride, j*stride + patch_size).
    return go.Heatmap(
        z=values,
        x0=(patch_size - 1) / 2,
        dx=stride,
        y0=(patch_size - 1) / 2,
        dy=stride,
        colorscale="Inferno",
        opacity=0.55,
        **style,
    )


def _image_layout(fig: go.Figure, height: int, width: int, title: str) -> go.Figure:
    fig.update_layout(title=title, height=460, width=max(260, 360 * width // height + 120))
    fig.update_xaxes(range=[-0.5, width - 0.5], showticklabels=False, constrain="domain")
    fig.update_yaxes(
        range=[height - 0.5, -0.5], showticklabels=False, scaleanchor="x", constrain="domain"
    )
    return fig


def patch_grid_figure(
    image: Tensor | np.ndarray, patch_size: int, title: str | None = None
) -> go.Figure:
    """The image cut into ``patch_size`` patches (non-overlapping), numbered in the row-major
    order in which they become tokens 1..N (token 0 is the CLS token)."""
    pixels = image_to_uint8(image)
    height, width = pixels.shape[:2]
    rows, cols = height // patch_size, width // patch_size
    fig = go.Figure(go.Image(z=pixels))
    line = {"color": "white", "width": 1}
    for r in range(rows + 1):
        y = r * patch_size - 0.5
        fig.add_shape(type="line", x0=-0.5, x1=cols * patch_size - 0.5, y0=y, y1=y, line=line)
    for c in range(cols + 1):
        x = c * patch_size - 0.5
        fig.add_shape(type="line", x0=x, x1=x, y0=-0.5, y1=rows * patch_size - 0.5, line=line)
    centre = (patch_size - 1) / 2
    fig.add_trace(
        go.Scatter(
            x=[c * patch_size + centre for r in range(rows) for c in range(cols)],
            y=[r * patch_size + centre for r in range(rows) for c in range(cols)],
            text=[str(1 + i) for i in range(rows * cols)],
            mode="text",
            textfont={"color": "white", "size": 9},
            hoverinfo="text",
        )
    )
    title = title or f"{rows} x {cols} = {rows * cols} patches of {patch_size}x{patch_size} pixels"
    return _image_layout(fig, height, width, title)


def attention_overlay(
    image: Tensor | np.ndarray,
    heatmap: Tensor,
    patch_size: int,
    stride: int | None = None,
    title: str = "attention",
) -> go.Figure:
    """One (grid_h, grid_w) map drawn over its (3, H, W) image, each cell over its patch."""
    pixels = image_to_uint8(image)
    values = heatmap.detach().cpu().float().numpy()
    fig = go.Figure([go.Image(z=pixels), _heatmap(values, patch_size, stride or patch_size)])
    return _image_layout(fig, pixels.shape[0], pixels.shape[1], title)


def choice_menu(labels: list[str], traces: list[int] | None = None) -> dict:
    """A plotly dropdown that shows one of ``len(labels)`` traces at a time: button k makes
    trace k of ``traces`` (default: of the whole figure) visible and hides the others."""
    return {
        "type": "dropdown",
        "x": 1.0,
        "y": 1.12,
        "buttons": [
            {
                "label": label,
                "method": "restyle",
                "args": [{"visible": [k == shown for k in range(len(labels))]}]
                + ([traces] if traces is not None else []),
            }
            for shown, label in enumerate(labels)
        ],
    }


def attention_explorer(
    image: Tensor | np.ndarray,
    attentions: list[Tensor],
    grid: tuple[int, int],
    patch_size: int,
    stride: int | None = None,
    index: int = 0,
) -> go.Figure:
    """CLS attention of image ``index`` over the image: a slider picks the layer, a menu the
    head (or the mean over heads). Both controls restyle traces, so they combine freely."""
    maps = cls_attention_maps(attentions, grid)[:, index].float().cpu()  # (L, heads, gh, gw)
    layers, heads = maps.shape[:2]
    choices = [maps.mean(dim=1)] + [maps[:, h] for h in range(heads)]  # each (L, gh, gw)
    names = ["mean of heads"] + [f"head {h}" for h in range(heads)]
    pixels = image_to_uint8(image)
    step = stride or patch_size
    traces: list[go.BaseTraceType] = [go.Image(z=pixels)]
    for k, (name, choice) in enumerate(zip(names, choices)):
        traces.append(_heatmap(choice[-1].numpy(), patch_size, step, name=name, visible=k == 0))
    fig = go.Figure(traces)
    heat = list(range(1, len(traces)))  # trace indices of the heatmaps
    fig.layout.sliders = [
        {
            "active": layers - 1,
            "currentvalue": {"prefix": "layer "},
            "pad": {"t": 30},
            "steps": [
                {
                    "label": str(layer),
                    "method": "restyle",
                    "args": [{"z": [choice[layer].numpy() for choice in choices]}, heat],
                }
                for layer in range(layers)
            ],
        }
    ]
    fig.layout.updatemenus = [choice_menu(names, heat)]
    title = "CLS attention: pick the layer (slider) and the head (menu)"
    return _image_layout(fig, pixels.shape[0], pixels.shape[1], title)
