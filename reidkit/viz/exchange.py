"""What the similarity exchange (``reidkit.models.exchange``) matches: figures and numbers.

* ``layer_tokens`` and ``matching_maps`` take the tokens of two ViTs after one layer and give
  the (N, N) matrices of one image pair: J, A, S and the weights W the exchange applies.
* ``exchange_view_figure``: a visible image and an infrared one of the same person; a plotly
  slider picks a visible patch (boxed) and the infrared image shows how much that patch takes
  from each infrared patch (the dashed box is its argmax partner). One row per stage (before
  and after training); the slider works in the static book.
* ``matching_matrices_figure``: J, A, S or W as an (N, N) heat map, a menu picks which.
* ``same_position_weight`` and ``effective_partners`` sum a W up in two numbers.
* ``cset_pair_tokens`` and ``cset_matching_maps`` do the same for a CSET model
  (``reidkit.models.cset``), untrained or trained, with its own streams and its own exchange.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor, nn

from reidkit.models.cset import CSET
from reidkit.models.exchange import (
    SimilarityExchange,
    matching_weights,
    tanimoto_distance,
    within_modality_attention,
)
from reidkit.viz.attention import _heatmap, choice_menu, effective_patches, image_to_uint8


@torch.no_grad()
def layer_tokens(model: nn.Module, images: Tensor, layer: int) -> Tensor:
    """The tokens (B, 1+N, D) that block ``layer`` of a ViT (``forward_intermediates``) gives
    images (B, 3, H, W): what an exchange after that layer would see. The mode is restored."""
    was_training = model.training
    model.eval()
    tokens = model.forward_intermediates(images).tokens
    model.train(was_training)
    if not -len(tokens) <= layer < len(tokens):
        raise ValueError(f"layer {layer}: the model has {len(tokens)} blocks")
    return tokens[layer]


@torch.no_grad()
def matching_maps(
    visible: Tensor, infrared: Tensor, exchange: SimilarityExchange, index: int = 0
) -> dict[str, Tensor]:
    """Visible and infrared tokens (B, 1+N, D) -> the matrices of pair ``index`` for the
    visible patches as queries, each (N, N) on the CPU: ``"J"`` (eq. 2, J_{V->I}), ``"A"``
    (eq. 1, A_V), ``"S"`` (eq. 3, S_{V->I}) and ``"W"``, the weights with which the exchange
    makes visible patch i take in infrared patch j (``exchange.weights``)."""
    v, i = visible[index : index + 1, 1:], infrared[index : index + 1, 1:]  # (1, N, D): no CLS
    J = tanimoto_distance(v, i)
    A = within_modality_attention(v, exchange.temperature)
    S = matching_weights(v, i, exchange.alpha, exchange.temperature)
    W = exchange.weights(v, i)
    return {name: m[0].float().cpu() for name, m in {"J": J, "A": A, "S": S, "W": W}.items()}


@torch.no_grad()
def cset_pair_tokens(
    model: CSET, visible: Tensor, infrared: Tensor, block: int, exchanged: bool = False
) -> tuple[Tensor, Tensor]:
    """The tokens (B, 1+N, D) of a CSET's two streams after block ``block`` (1-based) for
    paired images visible and infrared (B, 3, H, W), as training's mixed pass makes them: SE
    after each earlier block of ``model.exchange_after`` is applied; the SE after ``block``
    itself only with ``exchanged``. Runs in eval mode (no drop-path); the mode is restored."""
    if visible.dim() != 4 or visible.shape != infrared.shape:
        raise ValueError(
            f"expected paired images visible and infrared (B, 3, H, W) of one shape, got "
            f"{tuple(visible.shape)} and {tuple(infrared.shape)}"
        )
    if not 1 <= block <= model.depth:
        raise ValueError(f"block {block}: the CSET's streams have blocks 1..{model.depth}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    zv = model.streams["visible"].embed(visible.to(device))  # (B, 1+N, D)
    zi = model.streams["infrared"].embed(infrared.to(device))
    zv, zi = model.run_blocks(zv, zi, 0, block - 1, exchange=True)
    zv, _ = model.streams["visible"].blocks[block - 1](zv)
    zi, _ = model.streams["infrared"].blocks[block - 1](zi)
    if exchanged and model.exchange is not None and block in model.exchange_after:
        zv, zi = model.exchange(zv, zi)
    model.train(was_training)
    return zv, zi


def cset_matching_maps(
    model: CSET, visible_image: Tensor, infrared_image: Tensor, block: int | None = None
) -> dict[str, Tensor]:
    """``matching_maps`` of one image pair (3, H, W) each for a CSET's own exchange after
    block ``block`` (1-based, one of ``model.exchange_after``; default the first): the tokens
    it receives there in training's mixed pass (``cset_pair_tokens``), each matrix (N, N)."""
    if model.exchange is None:
        raise ValueError("this CSET has no similarity exchange (cset.model.se: none)")
    block = model.exchange_after[0] if block is None else block
    if block not in model.exchange_after:
        raise ValueError(
            f"block {block}: this CSET exchanges after blocks {model.exchange_after} only"
        )
    visible, infrared = cset_pair_tokens(model, visible_image[None], infrared_image[None], block)
    return matching_maps(visible, infrared, model.exchange)


def same_position_weight(weights: Tensor) -> float:
    """Mean weight a patch gives the patch at its own grid position in the other image: the
    mean of the diagonal of W (N, N). 1/N for weights spread evenly, 1 if every patch takes
    only its own position."""
    if weights.dim() != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights: expected a square (N, N) matrix, got {tuple(weights.shape)}")
    return float(torch.diagonal(weights).float().mean())


def effective_partners(weights: Tensor) -> float:
    """How many patches of the other image a patch draws from, on average: ``effective_patches``
    (exp of the entropy) of each row of W (N, M), averaged over the rows that take anything."""
    if weights.dim() != 2:
        raise ValueError(f"weights: expected an (N, M) matrix, got {tuple(weights.shape)}")
    rows = [effective_patches(row) for row in weights if row.sum() > 0]
    if not rows:
        raise ValueError("weights: no row takes anything (all rows are zero)")
    return sum(rows) / len(rows)


def _cell(image: Tensor, grid: tuple[int, int]) -> int:
    height, width = image.shape[-2:]
    h, w = grid
    if height % h or width % w or height // h != width // w:
        raise ValueError(
            f"a {h} x {w} grid of square patches does not tile a {height} x {width} image"
        )
    return height // h


def _box(row: int, col: int, cell: int, axis: int, dash: str, colour: str) -> dict:
    suffix = "" if axis == 1 else str(axis)
    return {
        "type": "rect",
        "xref": f"x{suffix}",
        "yref": f"y{suffix}",
        "x0": col * cell - 0.5,
        "x1": (col + 1) * cell - 0.5,
        "y0": row * cell - 0.5,
        "y1": (row + 1) * cell - 0.5,
        "line": {"color": colour, "width": 2, "dash": dash},
    }


def _boxes(patch: int, stages: list[Tensor], grid: tuple[int, int], cell: int) -> list[dict]:
    """The chosen visible patch (solid) and its argmax infrared partner (dashed), every row."""
    w = grid[1]
    shapes = []
    for s, weights in enumerate(stages):
        partner = int(weights[patch].argmax())
        shapes.append(_box(patch // w, patch % w, cell, 2 * s + 1, "solid", "cyan"))
        shapes.append(_box(partner // w, partner % w, cell, 2 * s + 2, "dash", "cyan"))
    return shapes


def exchange_view_figure(
    visible_image: Tensor,
    infrared_image: Tensor,
    weights: dict[str, Tensor],
    grid: tuple[int, int],
    start: int | None = None,
) -> go.Figure:
    """A visible and an infrared image (3, H, W) of one person and ``weights`` {stage: W
    (N, N)}, row i being how much visible patch i takes from each infrared patch (e.g.
    ``matching_maps(...)["W"]`` of a ``"v2i"`` or ``"both"`` exchange), N = h * w of ``grid``.
    One row per stage: left the visible image with the chosen patch boxed, right the infrared
    image under the chosen patch's weights, its argmax partner boxed with a dashed line. The
    slider picks the visible patch (``start``: the first shown, default the grid's centre).
    One colour range for the whole figure, so stages and patches compare honestly."""
    if visible_image.shape != infrared_image.shape or visible_image.dim() != 3:
        raise ValueError(
            f"expected two images (3, H, W) of one size, got {tuple(visible_image.shape)} and "
            f"{tuple(infrared_image.shape)}"
        )
    cell = _cell(visible_image, grid)
    h, w = grid
    if not weights:
        raise ValueError("weights: expected at least one stage, {stage: (N, N)}")
    for stage, W in weights.items():
        if W.shape != (h * w, h * w):
            raise ValueError(
                f"weights[{stage!r}]: expected ({h * w}, {h * w}) for a {h} x {w} grid, got "
                f"{tuple(W.shape)}"
            )
    stages = [W.detach().float().cpu() for W in weights.values()]
    first = (h // 2) * w + w // 2 if start is None else start
    if not 0 <= first < h * w:
        raise ValueError(f"start: a patch index in 0..{h * w - 1}, got {start}")
    names = list(weights)
    fig = make_subplots(
        rows=len(names),
        cols=2,
        subplot_titles=[
            title for name in names for title in (f"visible, {name}", f"infrared, {name}")
        ],
        horizontal_spacing=0.04,
        vertical_spacing=0.1,
    )
    high = max(float(W.max()) for W in stages)
    heat = []  # trace indices of the heatmaps, in the order the slider restyles them
    for s, (name, W) in enumerate(zip(names, stages)):
        fig.add_trace(go.Image(z=image_to_uint8(visible_image)), row=s + 1, col=1)
        fig.add_trace(go.Image(z=image_to_uint8(infrared_image)), row=s + 1, col=2)
        overlay = _heatmap(
            W[first].reshape(h, w).numpy(),  # (h, w): row `first` on the infrared grid
            cell,
            cell,
            zmin=0.0,
            zmax=high,
            showscale=s == 0,
            name=name,
            hovertemplate="infrared patch row %{y}, col %{x}: weight %{z:.3f}<extra></extra>",
        )
        fig.add_trace(overlay, row=s + 1, col=2)
        heat.append(len(fig.data) - 1)

    def title(p: int) -> str:
        return f"Visible patch {p} (row {p // w}, col {p % w}): the infrared patches it takes in"

    fig.layout.sliders = [
        {
            "active": first,
            "currentvalue": {"prefix": "visible patch "},
            "pad": {"t": 30},
            "font": {"size": 9} if h * w <= 40 else {"color": "rgba(0,0,0,0)"},
            "steps": [
                {
                    "label": str(p),
                    "method": "update",
                    "args": [
                        {"z": [W[p].reshape(h, w).numpy() for W in stages]},
                        {"shapes": _boxes(p, stages, grid, cell), "title.text": title(p)},
                        heat,
                    ],
                }
                for p in range(h * w)
            ],
        }
    ]
    fig.layout.shapes = _boxes(first, stages, grid, cell)
    height, width = visible_image.shape[-2:]
    fig.update_xaxes(showticklabels=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(showticklabels=False, range=[height - 0.5, -0.5])
    for k in range(1, 2 * len(names) + 1):  # keep every image's aspect ratio
        fig.layout[f"yaxis{'' if k == 1 else k}"].scaleanchor = f"x{'' if k == 1 else k}"
    fig.update_layout(title=title(first), height=360 * len(names) + 140, width=640)
    return fig


def matching_matrices_figure(matrices: dict[str, Tensor], title: str | None = None) -> go.Figure:
    """Matrices {name: (N, M)} (e.g. ``matching_maps``'s J, A, S, W) as heat maps, row i a
    visible patch and column j an infrared patch; a menu picks the matrix, each with its own
    colour range."""
    if not matrices:
        raise ValueError("matrices: expected at least one {name: (N, M)}")
    for name, m in matrices.items():
        if m.dim() != 2:
            raise ValueError(f"matrices[{name!r}]: expected (N, M), got {tuple(m.shape)}")
    names = list(matrices)
    fig = go.Figure(
        [
            go.Heatmap(
                z=m.detach().float().cpu().numpy(),
                colorscale="Viridis",
                visible=k == 0,
                name=name,
                hovertemplate=f"visible %{{y}}, infrared %{{x}}: {name} %{{z:.4f}}<extra></extra>",
            )
            for k, (name, m) in enumerate(matrices.items())
        ]
    )
    fig.layout.updatemenus = [choice_menu(names)]
    fig.update_xaxes(title="infrared patch j", constrain="domain")
    fig.update_yaxes(title="visible patch i", autorange="reversed", scaleanchor="x")
    fig.update_layout(
        title=title or "Matching matrices between the visible and the infrared patches (pick one)",
        height=520,
        width=600,
    )
    return fig
