"""Chapter 13's view of ACSA's local branch: for a phrase, its attention over the image regions.

ACSA's regions (``reidkit.models.acsa.region_features``) are the patch grid averaged into cells
at two scales (2 x 1: upper and lower body; 4 x 2). A phrase's weights over the R = 10 regions
(``AsymmetricCrossAlignment.pair``: (P, R), each row summing to 1) are drawn as one panel per
scale, each region's cell coloured by its weight over the image; a dropdown picks the phrase,
so the figure stays interactive in the static book.

* ``phrase_region_weights``: a trained ACSA model's phrase -> region weights for one image
  and one caption, with the phrases' text.
* ``region_cells``: the pixel box of every region, in the order of ``region_features``.
* ``region_weight_maps``: (P, R) weights -> per phrase and scale, a (rows, cols) array.
* ``phrase_attention_figure``: the plotly figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.data.batch import TEXT, Batch, tokenize
from reidkit.models.acsa_model import REGION_SCALES
from reidkit.viz.attention import image_to_uint8


@torch.no_grad()
def phrase_region_weights(
    model, tokenizer, image: Tensor, caption: str
) -> tuple[list[str], Tensor, Tensor]:
    """For one normalised image (3, H, W) and one caption: the caption's phrases (as
    ``tokenizer``, a :class:`reidkit.data.phrases.PhraseTokenizer`, keeps them), the phrase ->
    region weights (P, R) of ``model``'s local branch (an ``ACSAModel``) and the local score
    (a 0-d tensor), on the explicit path (``AsymmetricCrossAlignment.pair``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch = Batch(
        labels=torch.zeros(1, dtype=torch.long),
        modalities=torch.full((1,), TEXT, dtype=torch.long),
        cameras=torch.zeros(1, dtype=torch.long),
        captions=[caption],
    )
    _, phrases, mask = model.encode_text_parts(tokenize(batch, tokenizer).to(device))
    _, regions = model.encode_image_parts(image[None].to(device))  # (1, R, D_img)
    score, p2r, _ = model.local.pair(regions[0].float(), phrases[0][mask[0]].float())
    model.train(was_training)
    return tokenizer.phrases(caption)[: p2r.shape[0]], p2r.cpu(), score.cpu()


def _edges(cells: int, patches: int) -> list[tuple[int, int]]:
    """Adaptive pooling's patch range [start, end) of each of ``cells`` cells over ``patches``."""
    return [(i * patches // cells, -(-(i + 1) * patches // cells)) for i in range(cells)]


def region_cells(
    image_hw: tuple[int, int],
    grid: tuple[int, int],
    scales: Sequence[tuple[int, int]] = REGION_SCALES,
) -> list[tuple[float, float, float, float]]:
    """Pixel box (top, bottom, left, right) of each region of ``region_features``: for each
    scale (rows, cols) its cells row-major, from the patches that adaptive pooling averages
    (an image of ``image_hw`` pixels cut into a ``grid`` of patches)."""
    (height, width), (gh, gw) = image_hw, grid
    ph, pw = height / gh, width / gw  # pixels per patch
    boxes = []
    for rows, cols in scales:
        for top, bottom in _edges(rows, gh):
            for left, right in _edges(cols, gw):
                boxes.append((top * ph, bottom * ph, left * pw, right * pw))
    return boxes


def region_weight_maps(
    weights: Tensor, scales: Sequence[tuple[int, int]] = REGION_SCALES
) -> list[list[np.ndarray]]:
    """Phrase -> region weights (P, R) -> for each phrase, one (rows, cols) array per scale."""
    counts = [rows * cols for rows, cols in scales]
    if weights.dim() != 2 or weights.shape[1] != sum(counts):
        raise ValueError(
            f"weights must be (phrases, {sum(counts)} regions) for scales {list(scales)}, "
            f"got shape {tuple(weights.shape)}"
        )
    w = weights.detach().float().cpu().numpy()
    maps = []
    for row in w:
        parts, start = [], 0
        for (rows, cols), count in zip(scales, counts):
            parts.append(row[start : start + count].reshape(rows, cols))  # row-major cells
            start += count
        maps.append(parts)
    return maps


def phrase_attention_figure(
    image: Tensor | np.ndarray,
    phrases: Sequence[str],
    weights: Tensor,
    grid: tuple[int, int],
    scales: Sequence[tuple[int, int]] = REGION_SCALES,
    title: str = "",
) -> go.Figure:
    """For each phrase (chosen in a dropdown), its attention over the image's regions: one
    panel per scale, each region's cell coloured by its weight (one colour scale for all)."""
    if len(phrases) != weights.shape[0] or not phrases:
        raise ValueError(
            f"{len(phrases)} phrases but weights has {weights.shape[0]} rows; expected one row "
            "per phrase, at least one"
        )
    maps = region_weight_maps(weights, scales)
    pixels = image_to_uint8(image)  # (H, W, 3)
    height, width = pixels.shape[:2]
    top = float(weights.max())
    names = [f"{rows} x {cols} regions" for rows, cols in scales]
    fig = make_subplots(rows=1, cols=len(scales), subplot_titles=names, horizontal_spacing=0.05)
    for s in range(len(scales)):
        fig.add_trace(go.Image(z=pixels, hoverinfo="skip"), row=1, col=s + 1)
    first_heat = len(fig.data)
    for p, phrase in enumerate(phrases):
        for s, (rows, cols) in enumerate(scales):
            fig.add_trace(
                go.Heatmap(
                    z=maps[p][s],
                    x0=width / cols / 2 - 0.5,
                    dx=width / cols,
                    y0=height / rows / 2 - 0.5,
                    dy=height / rows,
                    zmin=0.0,
                    zmax=top,
                    colorscale="Inferno",
                    opacity=0.6,
                    showscale=s == len(scales) - 1,
                    visible=p == 0,
                    name=phrase,
                    hovertemplate=f"“{phrase}”: %{{z:.2f}}<extra></extra>",
                ),
                row=1,
                col=s + 1,
            )
    for s in range(len(scales)):
        axis = "" if s == 0 else str(s + 1)
        fig.layout[f"yaxis{axis}"].scaleanchor = f"x{axis}"
    fig.update_xaxes(showticklabels=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(showticklabels=False, range=[height - 0.5, -0.5])
    heat = len(scales)
    buttons = []
    for p, phrase in enumerate(phrases):
        visible = [True] * first_heat + [
            first_heat + p * heat <= t < first_heat + (p + 1) * heat
            for t in range(first_heat, len(fig.data))
        ]
        label = f"“{phrase}”"
        buttons.append(
            {
                "method": "update",
                "label": phrase,
                "args": [{"visible": visible}, {"title.text": f"{title} {label}"}],
            }
        )
    fig.update_layout(
        title=f"{title} “{phrases[0]}”",
        height=460,
        width=200 * len(scales) + 160,
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
        updatemenus=[{"buttons": buttons, "x": 0, "xanchor": "left", "y": 1.28, "yanchor": "top"}]
        if len(phrases) > 1
        else [],
    )
    return fig
