"""Training figures: loss curves, embedding projections, triplet geometry, modality gap."""

import json

import nbformat
import numpy as np
import pytest
import torch

from reidkit.viz.training import (
    LiveCurves,
    embedding_projection_figure,
    figure_bundle,
    loss_curve_figure,
    loss_terms,
    modality_gap,
    pca_2d,
    triplet_geometry_figure,
)

HISTORY = [
    {"kind": "train", "epoch": 1, "step": 1, "loss": 3.0, "ce": 2.0, "triplet": 1.0},
    {"kind": "train", "epoch": 1, "step": 2, "loss": 2.5, "ce": 1.8, "triplet": 0.7},
    {"kind": "epoch", "epoch": 1, "loss": 2.75},
    {"kind": "eval", "epoch": 1, "rank1": 0.5, "mAP": 0.4, "mINP": 0.2},
]


def test_loss_curve_figure_has_losses_and_metrics():
    figure = loss_curve_figure(HISTORY)
    names = [trace.name for trace in figure.data]
    assert names == ["loss", "ce", "triplet", "rank1", "mAP", "mINP"]
    assert list(figure.data[0].y) == [3.0, 2.5]


def test_loss_curve_figure_plots_every_named_loss_term():
    history = [
        {
            "kind": "train",
            "epoch": 1,
            "step": 1,
            "loss": 3.0,
            "ce": 2.0,
            "lr": 1e-3,
            "images_per_s": 50.0,
            "seconds": 0.2,
        },
        {
            "kind": "train",
            "epoch": 1,
            "step": 2,
            "ce": 1.5,
            "distill": 0.4,
            "loss": 2.1,
            "center": np.float32(0.2),
            "note": "text is not a loss",
            "flag": True,
        },
        {"kind": "eval", "epoch": 1, "rank1": 0.5, "mAP": 0.4, "mINP": 0.2},
    ]
    assert loss_terms(history) == ["loss", "ce", "distill", "center"]
    figure = loss_curve_figure(history)
    losses = {trace.name: trace for trace in figure.data if trace.xaxis == "x"}
    assert list(losses) == ["loss", "ce", "distill", "center"]
    assert list(losses["distill"].x) == [2] and list(losses["distill"].y) == [0.4]
    assert list(losses["ce"].y) == [2.0, 1.5]
    assert len({trace.line.color for trace in losses.values()}) == 4


def test_figure_bundle_carries_plotly_json_and_light_html():
    bundle = figure_bundle(loss_curve_figure(HISTORY))
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert len(bundle["text/html"]) < 50_000  # the figure only: plotly.js is not inlined
    assert "Plotly.newPlot" in bundle["text/html"]


LIVE_CELL = """
from reidkit.viz.training import LiveCurves

live = LiveCurves(every=1, title="live")
for step in range(1, 31):
    live({"kind": "train", "epoch": 1 + step // 11, "step": step, "loss": 1 / step,
          "ce": 0.5 / step, "distill": 0.1})
    if step % 10 == 0:
        live({"kind": "eval", "epoch": step // 10, "rank1": 0.1 * step / 10, "mAP": 0.2,
              "mINP": 0.1})
print(len(live.records), "records")
"""


def test_live_curves_update_one_output_in_place(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LIVE_CELL)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    displays = [o for o in outputs if o.output_type == "display_data"]
    assert len(displays) == 1, f"33 redraws left {len(displays)} figures"
    assert [o.text for o in outputs if o.output_type == "stream"] == ["33 records\n"]
    figure = displays[0].data["application/vnd.plotly.v1+json"]
    figure = json.loads(figure) if isinstance(figure, str) else figure
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert list(traces) == ["loss", "ce", "distill", "rank1", "mAP", "mINP"]
    assert traces["loss"]["x"][-1] == 30  # the shown figure is the last redraw
    assert len(traces["rank1"]["x"]) == 3
    assert len(displays[0].data["text/html"]) < 50_000


def test_live_curves_collects_records_outside_ipython():
    live = LiveCurves(every=1)
    for record in HISTORY:
        live(record)
    assert live.records == HISTORY and live.handle is None


def test_modality_gap_is_zero_without_a_gap_and_grows_with_one():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 8))
    modalities = [0, 1] * 20
    mixed = modality_gap(base, modalities)
    shifted = base.copy()
    shifted[1::2] += 3.0  # infrared features moved away
    assert modality_gap(shifted, modalities) > 3 * mixed
    same = np.repeat(base[::2], 2, axis=0)  # each infrared feature equals its visible twin
    assert modality_gap(same, modalities) == pytest.approx(0.0, abs=1e-6)


def test_pca_recovers_the_main_direction():
    x = np.zeros((5, 3))
    x[:, 1] = [-2, -1, 0, 1, 2]
    points, basis = pca_2d(x)
    assert np.allclose(np.abs(basis[:, 0]), [0, 1, 0])
    assert np.allclose(np.abs(points[:, 0]), [2, 1, 0, 1, 2])


def test_embedding_projection_and_triplet_geometry_figures():
    features = torch.randn(24, 6)
    pids = [i // 4 for i in range(24)]
    modalities = ["visible", "infrared"] * 12
    figure = embedding_projection_figure(
        {"before": features, "after": 2 * features}, pids, modalities
    )
    assert len(figure.data) == 2 * 6 * 2  # panels x identities x modalities
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [5.0, 0.0], [0.0, 2.0]])
    geometry = triplet_geometry_figure(points, torch.tensor([0, 0, 0, 1, 1]))
    positives = next(t for t in geometry.data if t.name == "positives")
    assert [float(w) for w in positives.text] == pytest.approx(
        [np.e / (np.e + np.e**3), np.e**3 / (np.e + np.e**3)], abs=0.006
    )
    with_anchor = triplet_geometry_figure(
        points, torch.tensor([0, 0, 0, 1, 1]), anchor_as_positive=True
    )
    positives = next(t for t in with_anchor.data if t.name == "positives")
    weights = np.array([1, np.e, np.e**3]) / (1 + np.e + np.e**3)  # anchor (0), then 1 and 3
    assert [float(w) for w in positives.text] == pytest.approx(weights, abs=0.006)
    assert "d_p = 2.65" in [a.text for a in with_anchor.layout.annotations]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        triplet_geometry_figure(torch.zeros(3, 3), torch.tensor([0, 0, 1]))
