"""What MHGA (``reidkit.models.mhga``) relates and where one node looks: figures and numbers.

* ``relation_figure``: the relation R of eq. 4 as an image, the modality blocks marked.
* ``node_attention_maps``: MHGA's weights α laid out, for every query node, on each modality's
  patch grid.
* ``node_attention_figure``: those maps over the image pair side by side, with a plotly slider
  over the query node (it survives in the static book); a box marks the query's own patch.
* ``weight_by_relation``: how much of its attention a node gives to nodes of each relation
  level (λ1, λ2, λ3), and to the other modality: numbers to compare with uniform attention.
* ``mhga_attention_view`` runs a module on a pair's patch tokens and draws the figure.
* ``cset_graph_tokens``: the patch tokens a CSET's own MHGA receives for one pair in training,
  to run ``mhga_attention_view`` and ``weight_by_relation`` on a trained model.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.models.cset import CSET
from reidkit.viz.attention import image_to_uint8
from reidkit.viz.exchange import cset_pair_tokens

MODALITY_NAMES = ("visible", "infrared")


def node_names(grid: tuple[int, int], modalities: Sequence[str] = MODALITY_NAMES) -> list[str]:
    """Node k's name, 'visible (row, col)', in the node order of ``relation_matrix``."""
    h, w = grid
    return [f"{m} ({p // w}, {p % w})" for m in modalities for p in range(h * w)]


def relation_figure(
    relation: Tensor, grid: tuple[int, int], modalities: Sequence[str] = MODALITY_NAMES
) -> go.Figure:
    """R ((m * N), (m * N)) of an h x w ``grid`` as an image: row i is what node i relates to;
    dotted lines separate the ``modalities`` (m of them) blocks; hovering names both nodes."""
    N = grid[0] * grid[1]
    n = len(modalities) * N
    if relation.dim() != 2 or tuple(relation.shape) != (n, n):
        raise ValueError(
            f"relation: expected ({n}, {n}) for {len(modalities)} modalities on a "
            f"{grid[0]}x{grid[1]} grid, got {tuple(relation.shape)}"
        )
    names = node_names(grid, modalities)
    values = relation.detach().float().cpu()
    fig = go.Figure(  # node names as categories: the hover names both nodes, no text per cell
        go.Heatmap(
            z=values.numpy(),
            x=names,
            y=names,
            hovertemplate="%{y} → %{x}<br>R = %{z}<extra></extra>",
            colorscale="Viridis",
            colorbar={"title": "R"},
        )
    )
    for k in range(1, len(modalities)):  # block boundaries between modalities
        edge = k * N - 0.5
        line = {"dash": "dot", "color": "white", "width": 1}
        fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=n - 0.5, line=line)
        fig.add_shape(type="line", x0=-0.5, x1=n - 0.5, y0=edge, y1=edge, line=line)
    centres = [names[k * N + N // 2] for k in range(len(modalities))]  # a tick per modality
    axis = {"tickvals": centres, "ticktext": list(modalities)}
    fig.update_xaxes(title="node j", range=[-0.5, n - 0.5], constrain="domain", **axis)
    fig.update_yaxes(title="node i", range=[n - 0.5, -0.5], scaleanchor="x", **axis)  # i down
    levels = ", ".join(f"{v:g}" for v in sorted(set(values.flatten().tolist()), reverse=True))
    fig.update_layout(
        title=f"Relation R of a {grid[0]}x{grid[1]} grid, {n} nodes (values {levels})",
        height=520,
        width=560,
    )
    return fig


def node_attention_maps(alpha: Tensor, grid: tuple[int, int]) -> Tensor:
    """MHGA weights α (heads, n, n) (averaged over heads) or (n, n), n = m * N -> for every
    query node, its weights on each modality's grid: (n, m, h, w); each query's maps sum to 1."""
    if alpha.dim() == 3:
        alpha = alpha.detach().float().mean(dim=0)  # (n, n), mean over heads
    h, w = grid
    n = alpha.shape[-1]
    if alpha.dim() != 2 or alpha.shape[0] != n or n % (h * w) or n // (h * w) not in (1, 2):
        raise ValueError(
            f"alpha: expected (heads, n, n) or (n, n) with n = N or 2N nodes of a {h}x{w} grid "
            f"(N = {h * w}), got {tuple(alpha.shape)}"
        )
    return alpha.detach().float().cpu().reshape(n, n // (h * w), h, w)  # (n, m, h, w)


def weight_by_relation(alpha: Tensor, relation: Tensor, num_patches: int) -> dict[str, float]:
    """The share of each query's attention that goes to nodes of each relation value, and to
    the other modality's nodes, averaged over the queries (and batch and heads). ``alpha``
    (..., n, n), ``relation`` (n, n), ``num_patches`` N. Keys 'R = <value>' and 'other
    modality' (only with two modalities)."""
    n = alpha.shape[-1]
    if tuple(alpha.shape[-2:]) != (n, n) or tuple(relation.shape) != (n, n):
        raise ValueError(
            f"alpha (..., n, n) and relation (n, n) must agree, got {tuple(alpha.shape)} and "
            f"{tuple(relation.shape)}"
        )
    weights = alpha.detach().float().cpu().reshape(-1, n, n)  # (batch * heads, n, n)
    relation = relation.detach().float().cpu()
    shares = {}
    for value in sorted(set(relation.flatten().tolist()), reverse=True):
        mask = relation == value  # (n, n)
        shares[f"R = {value:g}"] = float((weights * mask).sum(-1).mean())
    if n == 2 * num_patches:
        modality = torch.arange(n) // num_patches  # (n,) 0 visible, 1 infrared
        other = modality[:, None] != modality[None, :]  # (n, n)
        shares["other modality"] = float((weights * other).sum(-1).mean())
    return shares


def _cell_box(node: int, grid: tuple[int, int], cell: tuple[float, float]) -> dict:
    row, col = divmod(node % (grid[0] * grid[1]), grid[1])
    modality = node // (grid[0] * grid[1])
    axis = "" if modality == 0 else str(modality + 1)
    return {
        "type": "rect",
        "xref": f"x{axis}",
        "yref": f"y{axis}",
        "x0": col * cell[1] - 0.5,
        "x1": (col + 1) * cell[1] - 0.5,
        "y0": row * cell[0] - 0.5,
        "y1": (row + 1) * cell[0] - 0.5,
        "line": {"color": "cyan", "width": 2},
    }


def node_attention_figure(
    images: Tensor,
    maps: Tensor,
    modalities: Sequence[str] = MODALITY_NAMES,
    active: int = 0,
    title: str = "MHGA: where one node looks, in both modalities",
) -> go.Figure:
    """Images (m, 3, H, W), one per modality, and ``maps`` (n, m, h, w) from
    ``node_attention_maps``: column k shows modality k's image with the query's weights on
    its patches; the slider picks the query node (``active`` first), a cyan box marks it.
    Both columns share one colour range per query (0 to its largest weight)."""
    count = len(modalities)
    if images.dim() != 4 or images.shape[0] != count:
        raise ValueError(f"images: expected ({count}, 3, H, W), got {tuple(images.shape)}")
    if maps.dim() != 4 or maps.shape[1] != count:
        raise ValueError(f"maps: expected (nodes, {count}, h, w), got {tuple(maps.shape)}")
    height, width = images.shape[-2:]
    grid = (int(maps.shape[2]), int(maps.shape[3]))
    cell = (height / grid[0], width / grid[1])
    if cell[0] != int(cell[0]) or cell[1] != int(cell[1]):
        raise ValueError(f"a {grid[0]}x{grid[1]} grid does not tile {height}x{width} images")
    if not 0 <= active < maps.shape[0]:
        raise ValueError(f"active: a node index in 0..{maps.shape[0] - 1}, got {active}")
    names = node_names(grid, modalities)
    fig = make_subplots(
        rows=1, cols=count, subplot_titles=list(modalities), horizontal_spacing=0.04
    )
    heat = []  # trace indices of the heatmaps, in the order the slider updates them
    for k in range(count):
        fig.add_trace(go.Image(z=image_to_uint8(images[k])), row=1, col=k + 1)
        fig.add_trace(
            go.Heatmap(
                z=maps[active, k].numpy(),
                x0=cell[1] / 2 - 0.5,
                dx=cell[1],
                y0=cell[0] / 2 - 0.5,
                dy=cell[0],
                zmin=0.0,
                zmax=float(maps[active].max()),
                colorscale="Inferno",
                opacity=0.6,
                showscale=k == count - 1,
                hovertemplate="weight %{z:.4f}<extra></extra>",
            ),
            row=1,
            col=k + 1,
        )
        heat.append(len(fig.data) - 1)

    def step(node: int) -> dict:
        top = float(maps[node].max())
        data = {"z": [maps[node, k].numpy() for k in range(count)], "zmax": [top] * count}
        return {
            "label": names[node],
            "method": "update",
            "args": [data, {"shapes": [_cell_box(node, grid, cell)]}, heat],
        }

    fig.layout.shapes = [_cell_box(active, grid, cell)]
    fig.layout.sliders = [
        {
            "active": active,
            "currentvalue": {"prefix": "query node: "},
            "pad": {"t": 30},
            "steps": [step(node) for node in range(maps.shape[0])],
        }
    ]
    fig.update_xaxes(showticklabels=False, range=[-0.5, width - 0.5])
    fig.update_yaxes(showticklabels=False, range=[height - 0.5, -0.5])
    for k in range(1, count + 1):  # keep every image's aspect ratio
        fig.layout[f"yaxis{'' if k == 1 else k}"].scaleanchor = f"x{'' if k == 1 else k}"
    fig.update_layout(title=title, height=520, width=220 * count + 260)
    return fig


@torch.no_grad()
def mhga_attention_view(
    mhga: torch.nn.Module,
    visible: Tensor,
    infrared: Tensor,
    images: Tensor,
    active: int = 0,
    title: str = "MHGA: where one node looks, in both modalities",
) -> go.Figure:
    """Run ``mhga`` (a ``HeterogeneousGraphAttention``) on one pair's patch tokens, visible
    (1, N, D) and infrared (1, N, D), on the explicit path, and draw the head-averaged weights
    over ``images`` (2, 3, H, W) with ``node_attention_figure``."""
    if visible.shape[0] != 1 or infrared.shape[0] != 1:
        raise ValueError(
            f"one pair at a time: visible and infrared must be (1, N, D), got "
            f"{tuple(visible.shape)} and {tuple(infrared.shape)}"
        )
    _, _, alpha = mhga(visible, infrared, return_weights=True)  # (1, heads, 2N, 2N)
    maps = node_attention_maps(alpha[0], mhga.grid)  # (2N, 2, h, w)
    return node_attention_figure(images, maps, MODALITY_NAMES, active, title)


def cset_graph_tokens(
    model: CSET, visible_image: Tensor, infrared_image: Tensor
) -> tuple[Tensor, Tensor]:
    """The patch tokens, visible and infrared (1, N, D) each, that a CSET's MHGA (``model.graph``)
    receives for one image pair (3, H, W) in training's mixed pass: block L-1's output of both
    streams, after the SE that follows it when there is one, without the CLS token."""
    if model.graph is None:
        raise ValueError("this CSET has no MHGA (cset.model.mhga: false)")
    visible, infrared = cset_pair_tokens(
        model, visible_image[None], infrared_image[None], model.depth - 1, exchanged=True
    )
    return visible[:, 1:], infrared[:, 1:]  # (1, N, D) each: the CLS token left out
