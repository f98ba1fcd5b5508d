"""Training figures: loss curves, embedding projections, triplet geometry, modality gap."""

import numpy as np
import pytest
import torch

from reidkit.viz.training import (
    LiveCurves,
    embedding_projection_figure,
    loss_curve_figure,
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
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        triplet_geometry_figure(torch.zeros(3, 3), torch.tensor([0, 0, 1]))
