"""Where CrossViT's CLS tokens look in the other branch (chapter 6).

In every multi-scale block, branch b's projected CLS token attends over [itself; the other
branch's patch tokens] (eq. 6). ``cross_attention_maps`` lays the patch part of those weights
out on the other branch's patch grid; ``crossvit_attention_figure`` draws them over the images,
one row per image (e.g. a visible and an infrared image of one person), one column per
direction, with a plotly slider over the multi-scale blocks (it survives in the static book).
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.viz.attention import image_to_uint8

DIRECTIONS = ("small-patch CLS -> large patches", "large-patch CLS -> small patches")


def cross_attention_maps(
    attentions: list[list[Tensor]], grids: list[tuple[int, int]]
) -> list[Tensor]:
    """``attentions[k][b]``: branch b's weights in block k (B, heads, 1, 1+N_other), as
    ``CrossViT.forward_intermediates(x, return_attention=True).cross_attentions`` gives them.
    Returns, per branch b, (blocks, B, heads, grid_h, grid_w) on the *other* branch's grid;
    the weight the CLS puts on itself (key 0) is left out, so a map sums to at most 1."""
    maps = []
    for b in range(2):
        h, w = grids[1 - b]
        stacked = torch.stack([block[b].detach() for block in attentions])  # (K, B, h, 1, 1+N)
        patches = stacked[:, :, :, 0, 1:]  # (K, B, heads, N_other)
        if patches.shape[-1] != h * w:
            raise ValueError(
                f"branch {b}'s cross-attention covers {patches.shape[-1]} patches; the other "
                f"branch's grid {h}x{w} has {h * w}"
            )
        maps.append(patches.reshape(*patches.shape[:3], h, w))  # (K, B, heads, h, w)
    return maps


def patch_cells(
    img_size: tuple[int, int], branch_sizes: list[tuple[int, int]], patch_sizes: tuple[int, int]
) -> list[tuple[float, float]]:
    """The (height, width) in input pixels that one patch of each branch covers: a branch
    that sees a resized image has patches of ``patch * input / branch`` input pixels."""
    return [
        (p * img_size[0] / size[0], p * img_size[1] / size[1])
        for size, p in zip(branch_sizes, patch_sizes)
    ]


def _overlay(values: Tensor, cell: tuple[float, float], visible: bool = True) -> go.Heatmap:
    # Cell (i, j) is centred on its patch: input pixels [j * cell_w, (j + 1) * cell_w).
    return go.Heatmap(
        z=values.numpy(),
        x0=cell[1] / 2 - 0.5,
        dx=cell[1],
        y0=cell[0] / 2 - 0.5,
        dy=cell[0],
        colorscale="Inferno",
        opacity=0.55,
        showscale=False,
        visible=visible,
    )


def crossvit_attention_figure(
    images: Tensor,
    names: list[str],
    maps: list[Tensor],
    cells: list[tuple[float, float]],
) -> go.Figure:
    """Images (M, 3, H, W) with their names; ``maps[b]`` (blocks, M, grid_h, grid_w) for
    branch b's CLS over the other branch's patches (e.g. ``cross_attention_maps`` averaged
    over heads); ``cells[b]`` the input-pixel size of branch b's patches (``patch_cells``).
    Row m is image m; column b shows ``maps[b]`` over the other branch's patches."""
    if len(names) != images.shape[0] or any(m.shape[1] != images.shape[0] for m in maps):
        raise ValueError(
            f"{images.shape[0]} images, {len(names)} names and maps for "
            f"{[m.shape[1] for m in maps]} images: expected one of each per image"
        )
    rows, blocks = images.shape[0], maps[0].shape[0]
    titles = [f"{name}: {direction}" for name in names for direction in DIRECTIONS]
    fig = make_subplots(rows=rows, cols=2, subplot_titles=titles, horizontal_spacing=0.04)
    heat = []  # trace indices of the heatmaps, in the order the slider restyles them
    for m in range(rows):
        pixels = image_to_uint8(images[m])
        for b in range(2):
            fig.add_trace(go.Image(z=pixels), row=m + 1, col=b + 1)
            fig.add_trace(_overlay(maps[b][-1, m].float(), cells[1 - b]), row=m + 1, col=b + 1)
            heat.append(len(fig.data) - 1)
    fig.layout.sliders = [
        {
            "active": blocks - 1,
            "currentvalue": {"prefix": "multi-scale block "},
            "pad": {"t": 30},
            "steps": [
                {
                    "label": str(k),
                    "method": "restyle",
                    "args": [
                        {"z": [maps[b][k, m].float().numpy() for m in range(rows) for b in (0, 1)]},
                        heat,
                    ],
                }
                for k in range(blocks)
            ],
        }
    ]
    height, width = images.shape[-2:]
    fig.update_xaxes(showticklabels=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(showticklabels=False, range=[height - 0.5, -0.5])
    for k in range(1, 2 * rows + 1):  # keep every image's aspect ratio
        fig.layout[f"yaxis{'' if k == 1 else k}"].scaleanchor = f"x{'' if k == 1 else k}"
    fig.update_layout(
        title="CrossViT: each branch's CLS token over the other branch's patches",
        height=340 * rows + 120,
        width=760,
    )
    return fig


def crossvit_attention_view(model, images: Tensor, names: list[str]) -> go.Figure:
    """Run ``model`` (a ``CrossViT``) on images (M, 3, H, W) and draw its head-averaged CLS
    cross-attention with ``crossvit_attention_figure``."""
    with torch.no_grad():
        out = model.forward_intermediates(images, return_attention=True)
    maps = [m.mean(dim=2) for m in cross_attention_maps(out.cross_attentions, model.grids)]
    cells = patch_cells(model.img_size, model.branch_sizes, model.patch_sizes)
    return crossvit_attention_figure(images, names, maps, cells)
