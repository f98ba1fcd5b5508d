"""Figures for training: loss curves (live in notebooks), embedding projections and the
geometry of the weighted triplet loss."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from reidkit.data.records import MODALITIES
from reidkit.losses import pairwise_euclidean, weighted_triplet
from reidkit.plotting import RENDERER, configure_plotly

MODALITY_SYMBOLS = {"visible": "circle", "infrared": "diamond-open", "xray": "square", "text": "x"}
EVAL_KEYS = ("rank1", "mAP", "mINP")
# Keys of a train record that are not loss terms; every other numeric key is one.
NON_LOSS_KEYS = frozenset({"kind", "epoch", "step", "lr", "images_per_s", "seconds"})
LOSS_COLOURS = ("#264653", "#2a9d8f", "#e76f51", "#e9c46a", "#8338ec", "#f4a261", "#3a86ff")


def loss_terms(records: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the loss terms in the train records of ``records``: every numeric key that is
    not bookkeeping (:data:`NON_LOSS_KEYS`), in the order they first appear, ``loss`` first."""
    names: dict[str, None] = {}
    for record in (r for r in records if r.get("kind") == "train"):
        for key, value in record.items():
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if numeric and key not in NON_LOSS_KEYS:
                names[key] = None
    return sorted(names, key=lambda name: name != "loss")  # stable: "loss" first, rest in order


def loss_curve_figure(history: Sequence[dict[str, Any]], title: str = "Training") -> go.Figure:
    """Per-step losses (left: every loss term the train records carry, e.g. ``loss``, ``ce``,
    ``triplet``, ``distill``) and evaluation metrics per epoch (right) from a metrics log."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("losses per step", "evaluation"))
    train = [r for r in history if r.get("kind") == "train"]
    for number, name in enumerate(loss_terms(train)):
        logged = [r for r in train if name in r]  # a term may start later than the others
        figure.add_trace(
            go.Scatter(
                x=[r["step"] for r in logged],
                y=[r[name] for r in logged],
                name=name,
                mode="lines",
                line={"color": LOSS_COLOURS[number % len(LOSS_COLOURS)]},
            ),
            row=1,
            col=1,
        )
    evals = [r for r in history if r.get("kind") == "eval"]
    for name in EVAL_KEYS:
        if evals and name in evals[0]:
            figure.add_trace(
                go.Scatter(
                    x=[r["epoch"] for r in evals],
                    y=[r[name] for r in evals],
                    name=name,
                    mode="lines+markers",
                ),
                row=1,
                col=2,
            )
    figure.update_xaxes(title_text="step", row=1, col=1)
    figure.update_xaxes(title_text="epoch", row=1, col=2)
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    figure.update_layout(title=title, height=380, margin={"t": 60, "b": 40})
    return figure


def figure_bundle(figure: go.Figure) -> dict[str, Any]:
    """The MIME bundle the notebook's plotly renderer makes for ``figure``: with the
    ``reidkit`` renderer, plotly JSON plus light HTML (no plotly.js inside); on Colab, HTML
    that loads plotly.js from its CDN."""
    if pio.renderers.default not in (RENDERER, "colab"):
        configure_plotly()
    return pio.renderers[pio.renderers.default].to_mimebundle(figure.to_dict())


class LiveCurves:
    """A training callback that redraws :func:`loss_curve_figure` in the notebook.

    Every ``every`` steps and after each evaluation it updates ONE output in place: the
    figure's MIME bundle goes out raw with a display id, and later redraws replace it through
    the display handle (``update_display_data``). Plotly figures cannot be displayed by id
    themselves (their own display hook ignores the id, so each redraw would add an output).
    This works in JupyterLab, Notebook, VS Code, Colab and under nbclient, needs no widget
    library, and leaves the final figure in the saved notebook. Outside IPython it only
    collects the records.
    """

    def __init__(self, every: int = 10, title: str = "Training") -> None:
        self.every, self.title = every, title
        self.records: list[dict[str, Any]] = []
        self.handle = None

    def __call__(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        due = record.get("kind") == "eval" or (
            record.get("kind") == "train" and record["step"] % self.every == 0
        )
        if due:
            self.draw()

    def draw(self) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        bundle = figure_bundle(loss_curve_figure(self.records, self.title))
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


def _modality_names(modalities: Sequence[Any]) -> list[str]:
    return [MODALITIES[int(m)] if not isinstance(m, str) else m for m in modalities]


def pca_2d(features: torch.Tensor | np.ndarray, basis: np.ndarray | None = None):
    """Centre and project (N, D) features on their two main directions (or on ``basis``,
    (D, 2), to reuse one projection). Returns ``(points (N, 2), basis)``."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(0, keepdims=True)
    if basis is None:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        basis = vt[:2].T  # (D, 2)
        basis = basis * np.sign(basis[np.abs(basis).argmax(0), [0, 1]])  # a fixed orientation
    return x @ basis, basis


def modality_gap(features: torch.Tensor | np.ndarray, modalities: Sequence[Any]) -> float:
    """Distance between the visible and infrared centroids of L2-normalised features, divided
    by the mean distance of a feature to its own modality's centroid (0: no gap)."""
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32))
    names = np.asarray(_modality_names(modalities))
    groups = [x[torch.from_numpy(names == m)] for m in ("visible", "infrared")]
    if any(len(g) == 0 for g in groups):
        raise ValueError("modality_gap needs both visible and infrared features")
    centres = [g.mean(0) for g in groups]
    spread = torch.cat([(g - c).norm(dim=1) for g, c in zip(groups, centres)]).mean()
    return float((centres[0] - centres[1]).norm() / spread.clamp_min(1e-12))


def embedding_projection_figure(
    panels: dict[str, torch.Tensor | np.ndarray],
    pids: Sequence[int],
    modalities: Sequence[Any],
    max_ids: int = 12,
) -> go.Figure:
    """Side-by-side PCA projections (one panel per entry of ``panels``, e.g. before / after
    training) coloured by identity, marker by modality; the titles quote the modality gap."""
    pids = np.asarray(pids)
    names = np.asarray(_modality_names(modalities))
    shown = np.isin(pids, np.unique(pids)[:max_ids])
    titles = [
        f"{name} (modality gap {modality_gap(f, modalities):.2f})" for name, f in panels.items()
    ]
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=titles)
    palette = [f"hsl({int(h)},65%,45%)" for h in np.linspace(0, 330, max_ids)]
    for col, features in enumerate(panels.values(), start=1):
        points, _ = pca_2d(np.asarray(features)[shown])
        for rank, pid in enumerate(np.unique(pids[shown])):
            for modality in ("visible", "infrared"):
                mask = (pids[shown] == pid) & (names[shown] == modality)
                if not mask.any():
                    continue
                figure.add_trace(
                    go.Scatter(
                        x=points[mask, 0],
                        y=points[mask, 1],
                        mode="markers",
                        name=f"id {pid} {modality}",
                        legendgroup=str(pid),
                        showlegend=False,
                        marker={
                            "color": palette[rank % len(palette)],
                            "size": 8,
                            "symbol": MODALITY_SYMBOLS[modality],
                        },
                        hovertemplate=f"id {pid}, {modality}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    figure.update_layout(
        height=420,
        title="Embeddings (PCA): colour = identity; filled circle = visible, "
        "open diamond = infrared",
        margin={"t": 80},
    )
    return figure


def triplet_geometry_figure(
    points: torch.Tensor,
    labels: torch.Tensor,
    anchor: int = 0,
    margin: float = 0.3,
    anchor_as_positive: bool = False,
) -> go.Figure:
    """One anchor of the weighted triplet loss in 2-D: every positive and negative drawn with a
    marker size proportional to its softmax weight, and circles at the weighted distances
    ``d_p`` (positives) and ``d_n`` (negatives). ``anchor_as_positive`` counts the anchor among
    its positives (at distance 0), as AGW's public loss does."""
    if points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) to draw, got {tuple(points.shape)}")
    _, d_p, d_n = weighted_triplet(points, labels, margin, anchor_as_positive)
    distances = pairwise_euclidean(points)[anchor]
    same = labels == labels[anchor]
    figure = go.Figure()
    centre = points[anchor].tolist()
    for radius, name, colour in ((d_p[anchor], "d_p", "#2a9d8f"), (d_n[anchor], "d_n", "#e76f51")):
        r = float(radius)
        figure.add_shape(
            type="circle",
            x0=centre[0] - r,
            y0=centre[1] - r,
            x1=centre[0] + r,
            y1=centre[1] + r,
            line={"color": colour, "dash": "dot"},
        )
        figure.add_annotation(
            x=centre[0] + r,
            y=centre[1],
            text=f"{name} = {r:.2f}",
            showarrow=False,
            font={"color": colour},
            xanchor="left",
        )
    for group, mask, sign, colour in (
        ("positives", same, 1.0, "#2a9d8f"),
        ("negatives", ~same, -1.0, "#e76f51"),
    ):
        mask = mask.clone()
        mask[anchor] = anchor_as_positive and group == "positives"
        weights = torch.softmax(sign * distances[mask], dim=0)
        figure.add_trace(
            go.Scatter(
                x=points[mask, 0].tolist(),
                y=points[mask, 1].tolist(),
                mode="markers+text",
                name=group,
                marker={"color": colour, "size": (10 + 40 * weights).tolist()},
                text=[f"{w:.2f}" for w in weights.tolist()],
                textposition="top center",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[centre[0]],
            y=[centre[1]],
            mode="markers",
            name="anchor",
            marker={"color": "black", "size": 14, "symbol": "star"},
        )
    )
    figure.update_layout(
        title="Weighted triplet: marker size and label = softmax weight of each pair",
        height=420,
        yaxis={"scaleanchor": "x"},
    )
    return figure
