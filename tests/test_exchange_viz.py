"""Chapter 9's views (reidkit.viz.exchange): the matrices of one pair, the patch slider over the
image pair, the matrix heat maps and the two summary numbers. Figure structure, not pixels."""

import pytest
import torch

from reidkit.models.cset import CSET, build_cset_model
from reidkit.models.exchange import SimilarityExchange, matching_weights, tanimoto_distance
from reidkit.models.vit import create_vit
from reidkit.viz.exchange import (
    cset_matching_maps,
    cset_pair_tokens,
    effective_partners,
    exchange_view_figure,
    layer_tokens,
    matching_maps,
    matching_matrices_figure,
    same_position_weight,
)


def test_layer_tokens_and_matching_maps_of_one_pair():
    torch.manual_seed(0)
    model = create_vit("vit_nano", img_size=(64, 32)).train()
    images = torch.rand(2, 3, 64, 32)
    tokens = layer_tokens(model, images, 0)
    assert tokens.shape == (2, 1 + 8 * 4, 64) and model.training  # the mode is restored
    assert torch.allclose(tokens, model.eval().forward_intermediates(images).tokens[0])
    with pytest.raises(ValueError, match="layer 2: the model has 2 blocks"):
        layer_tokens(model, images, 2)
    visible, infrared = tokens[:1], layer_tokens(model, images.flip(-1), 0)[:1]
    exchange = SimilarityExchange("v2i", tau=0.1)
    maps = matching_maps(visible, infrared, exchange)
    assert set(maps) == {"J", "A", "S", "W"} and all(m.shape == (32, 32) for m in maps.values())
    assert torch.allclose(maps["J"], tanimoto_distance(visible[:, 1:], infrared[:, 1:])[0])
    assert torch.allclose(maps["S"], matching_weights(visible[:, 1:], infrared[:, 1:])[0])
    _, _, applied = exchange(visible, infrared, return_weights=True)
    assert torch.allclose(maps["W"], applied["v2i"][0])  # the weights the exchange applies


def test_same_position_weight_and_effective_partners():
    assert same_position_weight(torch.eye(4)) == pytest.approx(1.0)
    assert same_position_weight(torch.full((4, 4), 0.25)) == pytest.approx(0.25)
    assert effective_partners(torch.full((4, 4), 0.25)) == pytest.approx(4.0)
    hard = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert effective_partners(hard) == pytest.approx(1.0)  # the zero row (no exchange) is left out
    with pytest.raises(ValueError, match="square"):
        same_position_weight(torch.ones(2, 3))
    with pytest.raises(ValueError, match="no row takes anything"):
        effective_partners(torch.zeros(2, 2))


def weights_pair(N: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "before training": torch.rand(N, N, generator=g).softmax(-1),
        "after training": torch.eye(N).roll(1, dims=1),  # patch i takes patch i + 1 only
    }


def test_exchange_view_slider_moves_the_boxes_and_the_weights():
    images = torch.rand(2, 3, 32, 16)  # a 4 x 2 grid of 8-pixel patches
    weights = weights_pair()
    fig = exchange_view_figure(images[0], images[1], weights, (4, 2))
    assert [t.type for t in fig.data] == ["image", "image", "heatmap"] * 2
    start = 2 * 2 + 1  # the centre of a 4 x 2 grid: row 2, col 1
    heat = fig.data[5]  # "after training" heatmap
    assert heat.z.tolist() == weights["after training"][start].reshape(4, 2).tolist()
    assert heat.dx == 8 and heat.zmax == pytest.approx(1.0) and fig.data[2].showscale
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 8 and fig.layout.sliders[0].active == start
    data, layout, traces = steps[6].args
    assert list(traces) == [2, 5]
    assert torch.allclose(torch.tensor(data["z"][0]), weights["before training"][6].reshape(4, 2))
    assert data["z"][1].tolist() == [[0, 0], [0, 0], [0, 0], [0, 1]]  # patch 6 takes patch 7
    boxes = layout["shapes"]
    assert [(b["xref"], b["line"]["dash"]) for b in boxes] == [
        ("x", "solid"),
        ("x2", "dash"),
        ("x3", "solid"),
        ("x4", "dash"),
    ]
    assert (boxes[0]["x0"], boxes[0]["y0"]) == (-0.5, 23.5)  # patch 6: row 3, col 0
    assert (boxes[3]["x0"], boxes[3]["y0"]) == (7.5, 23.5)  # its partner 7: row 3, col 1
    assert "Visible patch 6 (row 3, col 0)" in layout["title.text"]
    assert len(fig.layout.shapes) == 4


def test_exchange_view_rejects_what_does_not_fit():
    images = torch.rand(2, 3, 32, 16)
    with pytest.raises(ValueError, match="does not tile a 32 x 16 image"):
        exchange_view_figure(images[0], images[1], weights_pair(6), (3, 2))
    with pytest.raises(ValueError, match=r"weights\['after training'\]: expected \(8, 8\)"):
        exchange_view_figure(images[0], images[1], {"after training": torch.ones(4, 4)}, (4, 2))
    with pytest.raises(ValueError, match="two images"):
        exchange_view_figure(images[0], images[1, :, :16], weights_pair(), (4, 2))
    with pytest.raises(ValueError, match="start: a patch index in 0..7"):
        exchange_view_figure(images[0], images[1], weights_pair(), (4, 2), start=8)


def test_matching_matrices_menu_shows_one_matrix_at_a_time():
    matrices = {"J": torch.rand(6, 6), "S": torch.rand(6, 6), "W": torch.eye(6)}
    fig = matching_matrices_figure(matrices)
    assert [t.visible for t in fig.data] == [True, False, False]
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["J", "S", "W"]
    assert buttons[2].args[0]["visible"] == [False, False, True]
    assert fig.data[2].z.tolist() == torch.eye(6).tolist()
    assert fig.layout.yaxis.autorange == "reversed"  # visible patch 0 on top
    with pytest.raises(ValueError, match=r"matrices\['J'\]: expected \(N, M\)"):
        matching_matrices_figure({"J": torch.rand(2, 2, 2)})


def three_block_cset(direction: str = "both") -> CSET:
    """vit_nano streams of depth 3 (an 8 x 4 grid on 64 x 32 images), SE after blocks 1, 2."""
    torch.manual_seed(0)
    visible, infrared = (create_vit("vit_nano", (64, 32), depth=3) for _ in range(2))
    return CSET(visible, infrared, 3, SimilarityExchange(direction), exchange_after=(1, 2))


def test_cset_pair_tokens_follow_the_mixed_pass():
    model = three_block_cset().train()
    v_images, i_images = torch.rand(2, 3, 64, 32), torch.rand(2, 3, 64, 32)
    v_stream, i_stream = model.streams["visible"], model.streams["infrared"]
    clean_v = layer_tokens(v_stream, v_images, 0)  # block 1's output, nothing exchanged yet
    clean_i = layer_tokens(i_stream, i_images, 0)
    first = cset_pair_tokens(model, v_images, i_images, 1)
    assert model.training  # the mode is restored
    assert torch.allclose(first[0], clean_v) and torch.allclose(first[1], clean_i)
    mixed_v, mixed_i = model.exchange(clean_v, clean_i)
    after = cset_pair_tokens(model, v_images, i_images, 1, exchanged=True)
    assert torch.allclose(after[0], mixed_v) and torch.allclose(after[1], mixed_i)
    second = cset_pair_tokens(model, v_images, i_images, 2)  # block 2 reads the mixed tokens
    assert torch.allclose(second[0], v_stream.blocks[1](mixed_v)[0], atol=1e-6)
    assert not torch.allclose(second[0], layer_tokens(v_stream, v_images, 1), atol=1e-4)
    with pytest.raises(ValueError, match="block 4: the CSET's streams have blocks 1..3"):
        cset_pair_tokens(model, v_images, i_images, 4)
    with pytest.raises(ValueError, match="paired images"):
        cset_pair_tokens(model, v_images, i_images[:1], 1)


def test_cset_matching_maps_use_the_model_exchange_where_it_acts():
    model = three_block_cset("v2i")
    visible, infrared = torch.rand(3, 64, 32), torch.rand(3, 64, 32)
    maps = cset_matching_maps(model, visible, infrared)  # default: the first exchange, block 1
    tokens = cset_pair_tokens(model, visible[None], infrared[None], 1)
    _, _, applied = model.exchange(*tokens, return_weights=True)
    assert torch.allclose(maps["W"], applied["v2i"][0])
    second = cset_matching_maps(model, visible, infrared, block=2)
    assert not torch.allclose(second["W"], maps["W"])
    with pytest.raises(ValueError, match=r"exchanges after blocks \(1, 2\) only"):
        cset_matching_maps(model, visible, infrared, block=3)
    no_se = build_cset_model(3, (64, 32), "vit_nano", se="none", ca=False, mhga=False)
    with pytest.raises(ValueError, match="no similarity exchange"):
        cset_matching_maps(no_se, visible, infrared)
