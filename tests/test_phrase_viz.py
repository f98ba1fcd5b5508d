"""Chapter 13's view: region cells, per-phrase weight maps and the phrase dropdown figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.models.acsa import region_features
from reidkit.viz.phrases import phrase_attention_figure, region_cells, region_weight_maps


def test_region_cells_cover_what_region_features_averages():
    grid, image_hw = (8, 4), (128, 64)
    cells = region_cells(image_hw, grid)
    assert len(cells) == 10
    assert cells[0] == (0.0, 64.0, 0.0, 64.0) and cells[1] == (64.0, 128.0, 0.0, 64.0)
    assert cells[2] == (0.0, 32.0, 0.0, 32.0) and cells[-1] == (96.0, 128.0, 32.0, 64.0)
    # a patch grid whose value is its pixel row: each region's mean is its cell's centre row
    rows = torch.arange(8.0).repeat_interleave(4) * 16 + 8  # (32,) patch centre rows, row-major
    tokens = torch.cat([torch.zeros(1), rows])[None, :, None]  # (1, 1 + 32, 1)
    means = region_features(tokens, grid)[0, :, 0]
    centres = torch.tensor([(top + bottom) / 2 for top, bottom, _, _ in cells])
    assert torch.allclose(means, centres)


def test_uneven_grids_overlap_as_adaptive_pooling_does():
    cells = region_cells((96, 48), (6, 3), scales=((4, 2),))
    # 6 patch rows into 4 cells: [0, 2), [1, 3), [3, 5), [4, 6); 3 columns into 2: [0, 2), [1, 3)
    assert [c[:2] for c in cells[::2]] == [(0, 32), (16, 48), (48, 80), (64, 96)]
    assert [c[2:] for c in cells[:2]] == [(0, 32), (16, 48)]


def test_weight_maps_split_the_regions_by_scale():
    weights = torch.arange(20.0).reshape(2, 10)
    maps = region_weight_maps(weights)
    assert [m.shape for m in maps[0]] == [(2, 1), (4, 2)]
    assert maps[1][0].ravel().tolist() == [10.0, 11.0]
    assert maps[1][1].ravel().tolist() == list(range(12, 20))
    with pytest.raises(ValueError, match="10 regions"):
        region_weight_maps(torch.ones(2, 9))


def test_figure_has_one_view_per_phrase():
    image = np.zeros((128, 64, 3), dtype=np.uint8)
    weights = torch.softmax(torch.randn(3, 10, generator=torch.Generator().manual_seed(0)), 1)
    phrases = ["a red jacket", "black trousers", "a black crossbody bag"]
    fig = phrase_attention_figure(image, phrases, weights, (8, 4), title="image 0:")
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 6 and sum(bool(t.visible) for t in heat) == 2
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == phrases
    shown = buttons[2].args[0]["visible"]
    assert [t.name for t, v in zip(fig.data, shown) if v and t.type == "heatmap"] == [
        phrases[2]
    ] * 2
    assert heat[0].zmax == pytest.approx(float(weights.max()))
    with pytest.raises(ValueError, match="one row per phrase"):
        phrase_attention_figure(image, phrases[:2], weights, (8, 4))
