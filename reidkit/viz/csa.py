"""What channel and spatial attention (``reidkit.models.csa``) weighs: figures and numbers.

* ``channel_weights_by_modality``: CSA's channel weights (B, C) averaged per modality.
* ``channel_weights_figure``: each channel as a point, its mean weight on visible images
  against infrared ones, one colour per stage (before / after training); points off the
  diagonal are channels CSA treats differently in the two modalities.
* ``spatial_maps_figure``: the spatial maps over the images of the same people in both
  modalities, one row per stage, and a plotly menu over the people (works in the static book).
* ``same_person_pairs`` and ``csa_probe`` pick the images and run a model's CSA on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.data.batch import Batch, Collate, RecordDataset
from reidkit.data.records import MODALITIES, Record, modality_index
from reidkit.data.transforms import test_transform
from reidkit.models.csa import CSAMaps
from reidkit.viz.attention import _heatmap, image_to_uint8


def same_person_pairs(records: Sequence[Record], count: int) -> list[tuple[Record, Record]]:
    """(visible, infrared) records of the first ``count`` identities (in ``records`` order)
    that have both: the first image of each modality."""
    first: dict[int, dict[str, Record]] = {}
    for record in records:
        first.setdefault(record.pid, {}).setdefault(record.modality, record)
    pairs = [(m["visible"], m["infrared"]) for m in first.values() if len(m) == 2]
    if len(pairs) < count:
        raise ValueError(f"only {len(pairs)} identities have both modalities, {count} wanted")
    return pairs[:count]


@torch.no_grad()
def csa_probe(model: torch.nn.Module, records: Sequence[Record], img_size) -> tuple[Batch, CSAMaps]:
    """Load ``records`` as the evaluation does (test transform) and return the batch (on the
    CPU) and the CSA maps ``model.csa_maps`` gives it, in evaluation mode."""
    dataset = RecordDataset(records, test_transform(tuple(img_size)))
    batch = Collate()([dataset[i] for i in range(len(dataset))])
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    maps = model.csa_maps(batch.images.to(device), batch.modalities.to(device))
    model.train(was_training)
    return batch, CSAMaps(channel=maps.channel.float().cpu(), spatial=maps.spatial.float().cpu())


def channel_weights_by_modality(channel: Tensor, modalities: Tensor) -> dict[str, Tensor]:
    """Channel weights (B, C) and modality indices (B,) -> {modality: mean weights (C,)} for
    every modality present in the batch."""
    if channel.dim() != 2 or modalities.shape != channel.shape[:1]:
        raise ValueError(
            f"expected channel weights (B, C) and modalities (B,), got {tuple(channel.shape)} "
            f"and {tuple(modalities.shape)}"
        )
    means = {}
    for name in MODALITIES:
        chosen = modalities.to(channel.device) == modality_index(name)  # (B,)
        if chosen.any():
            means[name] = channel[chosen].detach().float().mean(dim=0).cpu()  # (C,)
    return means


def channel_gap(weights: dict[str, Tensor]) -> float:
    """Mean absolute difference between the visible and the infrared channel weights."""
    return float((weights["visible"] - weights["infrared"]).abs().mean())


def channel_weights_figure(stages: dict[str, dict[str, Tensor]]) -> go.Figure:
    """``stages``: {stage name: {"visible": (C,), "infrared": (C,)}} -> a scatter, one point per
    channel, visible weight on x and infrared weight on y, one trace per stage."""
    fig = go.Figure()
    for stage, weights in stages.items():
        if set(weights) != {"visible", "infrared"}:
            raise ValueError(f"stage {stage!r}: expected visible and infrared weights")
        visible, infrared = weights["visible"], weights["infrared"]
        if visible.shape != infrared.shape or visible.dim() != 1:
            raise ValueError(
                f"stage {stage!r}: expected two (C,) weight vectors, got "
                f"{tuple(visible.shape)} and {tuple(infrared.shape)}"
            )
        fig.add_trace(
            go.Scatter(
                x=visible.tolist(),
                y=infrared.tolist(),
                mode="markers",
                name=f"{stage} (gap {channel_gap(weights):.3f})",
                text=[f"channel {c}" for c in range(len(visible))],
                marker={"size": 6, "opacity": 0.7},
            )
        )
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"})
    fig.update_layout(
        title="CSA channel weights: mean over visible vs infrared images, one point per channel",
        xaxis_title="weight on visible images",
        yaxis_title="weight on infrared images",
        height=460,
        width=560,
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1], scaleanchor="x")
    return fig


def _check_maps(images: Tensor, maps: dict[str, Tensor], people: int, views: int) -> None:
    if images.dim() != 5 or images.shape[:2] != (people, views):
        raise ValueError(
            f"images must be (people={people}, views={views}, 3, H, W), got {tuple(images.shape)}"
        )
    for stage, stage_maps in maps.items():
        if stage_maps.dim() != 4 or stage_maps.shape[:2] != (people, views):
            raise ValueError(
                f"maps[{stage!r}] must be (people={people}, views={views}, h, w), got "
                f"{tuple(stage_maps.shape)}"
            )


def spatial_maps_figure(
    images: Tensor, maps: dict[str, Tensor], people: Sequence[str], views: Sequence[str]
) -> go.Figure:
    """Spatial maps over their images: ``images`` (P, V, 3, H, W) of P people in V views
    (e.g. visible and infrared), ``maps`` {stage: (P, V, h, w)}. One row per stage, one column
    per view; the menu picks the person. One colour range for the whole figure, so stages
    compare honestly."""
    _check_maps(images, maps, len(people), len(views))
    height, width = images.shape[-2:]
    grid = next(iter(maps.values())).shape[-2:]
    patch = height // grid[0]
    if patch * grid[0] != height or patch * grid[1] != width:
        raise ValueError(f"a {tuple(grid)} map does not tile a {height} x {width} image")
    values = torch.stack([m.detach().float().cpu() for m in maps.values()])  # (S, P, V, h, w)
    low, high = float(values.min()), float(values.max())
    stages = list(maps)
    fig = make_subplots(
        rows=len(stages),
        cols=len(views),
        subplot_titles=[f"{view}, {stage}" for stage in stages for view in views],
        vertical_spacing=0.08,
    )
    per_person = 2 * len(stages) * len(views)  # an image and a heatmap in every panel
    for p in range(len(people)):
        for s in range(len(stages)):
            for v in range(len(views)):
                shown = p == 0
                fig.add_trace(
                    go.Image(z=image_to_uint8(images[p, v]), visible=shown), row=s + 1, col=v + 1
                )
                heat = _heatmap(
                    values[s, p, v].numpy(),
                    patch,
                    patch,
                    zmin=low,
                    zmax=high,
                    visible=shown,
                    showscale=s == 0 and v == 0,
                    name=f"{people[p]} {views[v]} {stages[s]}",
                )
                fig.add_trace(heat, row=s + 1, col=v + 1)
    total = per_person * len(people)
    fig.layout.updatemenus = [
        {
            "type": "dropdown",
            "x": 1.0,
            "y": 1.12,
            "buttons": [
                {
                    "label": person,
                    "method": "restyle",
                    "args": [{"visible": [k // per_person == p for k in range(total)]}],
                }
                for p, person in enumerate(people)
            ],
        }
    ]
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        title="CSA spatial maps (pick the person)",
        height=300 * len(stages) + 120,
        width=180 * len(views) + 200,
    )
    return fig
