"""CLS attention maps, attention rollout and the plotly figures of reidkit.viz.attention."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from reidkit.models import create_vit
from reidkit.viz.attention import (
    attention_explorer,
    attention_overlay,
    attention_rollout,
    cls_attention_maps,
    effective_patches,
    image_to_uint8,
)

GRID = (4, 2)
TOKENS = 1 + 8


def random_attention(layers: int = 3, batch: int = 2, heads: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(batch, heads, TOKENS, TOKENS).softmax(-1) for _ in range(layers)]


def test_cls_attention_maps_are_the_cls_rows_on_the_grid() -> None:
    attentions = random_attention()
    maps = cls_attention_maps(attentions, GRID)
    assert maps.shape == (3, 2, 2, 4, 2)
    # layer 1, image 0, head 1, patch (row 2, column 1) is token 1 + 2 * 2 + 1
    assert maps[1, 0, 1, 2, 1] == attentions[1][0, 1, 0, 1 + 2 * 2 + 1]


def test_rollout_of_uniform_and_identity_attention() -> None:
    uniform = [torch.full((1, 2, TOKENS, TOKENS), 1 / TOKENS) for _ in range(3)]
    rolled = attention_rollout(uniform, GRID, residual=0.0)
    assert torch.allclose(rolled, torch.full((1, *GRID), 1 / TOKENS))
    identity = [torch.eye(TOKENS).expand(1, 2, TOKENS, TOKENS) for _ in range(3)]
    assert torch.equal(attention_rollout(identity, GRID), torch.zeros(1, *GRID))


def test_rollout_of_one_layer_without_residual_is_the_head_mean() -> None:
    attentions = random_attention(layers=1)
    rolled = attention_rollout(attentions, GRID, residual=0.0)
    expected = cls_attention_maps(attentions, GRID)[0].mean(1)
    assert torch.allclose(rolled, expected, atol=1e-6)


def test_rollout_multiplies_layers_and_stays_a_distribution() -> None:
    attentions = random_attention(layers=2, batch=1)
    mixed = [0.5 * torch.eye(TOKENS) + 0.5 * a[0].mean(0) for a in attentions]
    expected = (mixed[1] @ mixed[0])[0, 1:].reshape(GRID)
    rolled = attention_rollout(attentions, GRID)
    assert torch.allclose(rolled[0], expected, atol=1e-6)
    assert 0 < rolled.sum() < 1  # the rest stays on the CLS token itself


def test_image_to_uint8() -> None:
    chw = torch.rand(3, 8, 4)
    assert image_to_uint8(chw).shape == (8, 4, 3)
    assert image_to_uint8(chw).dtype == np.uint8
    normalised = torch.randn(3, 8, 4) * 2
    pixels = image_to_uint8(normalised)
    assert pixels.min() == 0 and pixels.max() == 255
    grey = np.zeros((8, 4, 1), dtype=np.uint8)
    assert image_to_uint8(grey).shape == (8, 4, 3)
    with pytest.raises(ValueError, match="expected one image"):
        image_to_uint8(torch.rand(2, 3, 8, 4))


def test_overlay_puts_each_cell_over_its_patch() -> None:
    fig = attention_overlay(torch.rand(3, 64, 32), torch.rand(*GRID), patch_size=16)
    assert isinstance(fig, go.Figure)
    image, heat = fig.data
    assert isinstance(image, go.Image) and isinstance(heat, go.Heatmap)
    assert np.asarray(heat.z).shape == GRID
    assert heat.x0 == 7.5 and heat.dx == 16 and heat.y0 == 7.5 and heat.dy == 16
    overlapping = attention_overlay(torch.rand(3, 64, 32), torch.rand(5, 2), 16, stride=12)
    assert overlapping.data[1].dx == 12


def test_explorer_slider_picks_layers_and_menu_picks_heads() -> None:
    model = create_vit("vit_nano", img_size=(64, 32)).eval()
    image = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        inter = model.forward_intermediates(image, return_attention=True)
    grid = model.patch_embed.grid_size
    fig = attention_explorer(image[1], inter.attentions, grid, patch_size=8, index=1)
    maps = cls_attention_maps(inter.attentions, grid)[:, 1]  # (layers, heads, gh, gw)
    heads = maps.shape[1]
    assert len(fig.data) == 1 + 1 + heads  # image, mean, one per head
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 2
    z_mean, z_head1 = steps[0].args[0]["z"][0], steps[0].args[0]["z"][2]
    assert np.allclose(z_mean, maps[0].mean(0).numpy(), atol=1e-6)
    assert np.allclose(z_head1, maps[0, 1].numpy(), atol=1e-6)
    assert list(steps[0].args[1]) == list(range(1, 2 + heads))  # restyles only the heatmaps
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["mean of heads", "head 0", "head 1"]
    assert list(buttons[2].args[0]["visible"]) == [False, False, True]
    assert [trace.visible for trace in fig.data[1:]] == [True, False, False]
    assert np.allclose(fig.data[1].z, maps[-1].mean(0).numpy(), atol=1e-6)  # starts at last
    fig.to_json()  # serialisable for the book


def test_patch_grid_numbers_patches_in_token_order() -> None:
    from reidkit.viz.attention import patch_grid_figure

    fig = patch_grid_figure(torch.rand(3, 64, 32), patch_size=16)
    assert len(fig.layout.shapes) == (4 + 1) + (2 + 1)
    labels = fig.data[1]
    assert list(labels.text) == [str(i) for i in range(1, 9)]
    # token 4 is row 1, column 1: its centre is at (16 + 7.5, 16 + 7.5)
    assert (labels.x[3], labels.y[3]) == (23.5, 23.5)
    assert "4 x 2 = 8 patches" in fig.layout.title.text


def test_effective_patches_counts_where_the_weight_is() -> None:
    assert effective_patches(torch.ones(4, 2)) == pytest.approx(8.0)
    one = torch.zeros(4, 2)
    one[1, 1] = 0.3
    assert effective_patches(one) == pytest.approx(1.0)
    half = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # even over two patches
    assert effective_patches(half) == pytest.approx(2.0)
    skewed = torch.tensor([[3.0, 1.0]])  # p = 3/4, 1/4: between one and two patches
    expected = np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert effective_patches(skewed) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"shape \(2, 2\) has no weight"):
        effective_patches(torch.zeros(2, 2))
