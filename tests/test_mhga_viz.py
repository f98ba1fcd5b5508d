"""Chapter 10's views: R as an image, one node's attention over both grids, shares by relation."""

import pytest
import torch

from reidkit.data.batch import Batch
from reidkit.models.cset import build_cset_model
from reidkit.models.mhga import HeterogeneousGraphAttention, relation_matrix
from reidkit.viz.mhga import (
    cset_graph_tokens,
    mhga_attention_view,
    node_attention_figure,
    node_attention_maps,
    node_names,
    relation_figure,
    weight_by_relation,
)


def test_node_names_follow_the_relation_order():
    assert node_names((2, 2)) == [
        "visible (0, 0)",
        "visible (0, 1)",
        "visible (1, 0)",
        "visible (1, 1)",
        "infrared (0, 0)",
        "infrared (0, 1)",
        "infrared (1, 0)",
        "infrared (1, 1)",
    ]


def test_relation_figure_is_the_matrix_with_block_lines_and_hover_names():
    R = relation_matrix((2, 3))
    fig = relation_figure(R, (2, 3))
    heat = fig.data[0]
    assert heat.type == "heatmap" and torch.equal(torch.tensor(heat.z), R)
    assert heat.y[0] == "visible (0, 0)" and heat.x[6] == "infrared (0, 0)"  # hover names
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == 5.5  # between 6 and 6
    assert list(fig.layout.xaxis.ticktext) == ["visible", "infrared"]
    assert "values 1, 0.7, 0.3" in fig.layout.title.text
    single = relation_figure(relation_matrix((2, 3), modalities=1), (2, 3), ["visible"])
    assert len(single.layout.shapes) == 0
    with pytest.raises(ValueError, match=r"expected \(12, 12\) for 2 modalities on a 2x3 grid"):
        relation_figure(R[:6, :6], (2, 3))


def test_node_attention_maps_put_each_query_row_on_both_grids():
    alpha = torch.rand(3, 12, 12).softmax(-1)  # 3 heads, 2 modalities on a 3x2 grid
    maps = node_attention_maps(alpha, (3, 2))
    assert maps.shape == (12, 2, 3, 2)
    mean = alpha.mean(0)
    assert torch.allclose(maps[4, 0, 1, 1], mean[4, 3])  # visible cell (1, 1) is node 3
    assert torch.allclose(maps[4, 1, 2, 0], mean[4, 6 + 4])  # infrared cell (2, 0) is node 10
    assert torch.allclose(maps.sum(dim=(1, 2, 3)), torch.ones(12), atol=1e-6)
    assert node_attention_maps(alpha[0, :6, :6], (3, 2)).shape == (6, 1, 3, 2)
    with pytest.raises(ValueError, match=r"n = N or 2N nodes of a 4x2 grid \(N = 8\)"):
        node_attention_maps(alpha, (4, 2))


def test_weight_by_relation_of_uniform_and_of_one_hot_attention():
    R = relation_matrix((1, 3))  # 6 nodes
    uniform = torch.full((2, 6, 6), 1 / 6)
    shares = weight_by_relation(uniform, R, 3)
    # Node counts per row: λ1 2 everywhere; λ2 2, 4, 2 (mean 8/3); λ3 2, 0, 2 (mean 4/3).
    assert shares == pytest.approx(
        {"R = 1": 2 / 6, "R = 0.7": 8 / 18, "R = 0.3": 4 / 18, "other modality": 0.5}
    )
    own = torch.eye(6)  # every node attends to itself alone
    assert weight_by_relation(own, R, 3) == pytest.approx(
        {"R = 1": 1.0, "R = 0.7": 0.0, "R = 0.3": 0.0, "other modality": 0.0}
    )
    alone = weight_by_relation(torch.full((3, 3), 1 / 3), R[:3, :3], 3)
    assert "other modality" not in alone and sum(alone.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must agree"):
        weight_by_relation(uniform, R[:3, :3], 3)


def test_node_attention_figure_slider_over_nodes_and_box_on_the_query():
    images = torch.rand(2, 3, 24, 16)  # 3x2 grid of 8x8 cells
    maps = torch.rand(12, 2, 3, 2)
    fig = node_attention_figure(images, maps, active=7)
    assert [t.type for t in fig.data] == ["image", "heatmap", "image", "heatmap"]
    assert torch.allclose(torch.tensor(fig.data[3].z), maps[7, 1])
    assert fig.data[1].dx == 8 and fig.data[1].zmax == pytest.approx(float(maps[7].max()))
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == 12 and slider.active == 7
    step = slider.steps[9]  # infrared (1, 1)
    assert step.label == "infrared (1, 1)" and list(step.args[2]) == [1, 3]
    assert torch.allclose(torch.tensor(step.args[0]["z"][0]), maps[9, 0])
    box = step.args[1]["shapes"][0]
    assert (box["xref"], box["yref"]) == ("x2", "y2")  # the infrared panel
    assert (box["x0"], box["y0"]) == (7.5, 7.5)  # column 1, row 1 of 8-pixel cells
    first = fig.layout.shapes[0]  # node 7 = infrared (0, 1)
    assert first.xref == "x2" and (first.x0, first.y0) == (7.5, -0.5)
    with pytest.raises(ValueError, match=r"images: expected \(2, 3, H, W\)"):
        node_attention_figure(images[:1], maps)
    with pytest.raises(ValueError, match="does not tile"):
        node_attention_figure(torch.rand(2, 3, 25, 16), maps)
    with pytest.raises(ValueError, match="active: a node index in 0..11"):
        node_attention_figure(images, maps, active=12)


def test_view_runs_the_module_on_one_pair():
    torch.manual_seed(0)
    mhga = HeterogeneousGraphAttention(8, 2, (3, 2)).eval()
    v, i = torch.randn(1, 6, 8), torch.randn(1, 6, 8)
    fig = mhga_attention_view(mhga, v, i, torch.rand(2, 3, 24, 16), active=2)
    assert mhga.fused is True  # the view does not leave the switch changed
    _, _, alpha = mhga(v, i, return_weights=True)
    expected = node_attention_maps(alpha[0], (3, 2))
    assert torch.allclose(torch.tensor(fig.data[1].z), expected[2, 0], atol=1e-6)
    with pytest.raises(ValueError, match="one pair at a time"):
        mhga_attention_view(mhga, v.expand(2, -1, -1), i, torch.rand(2, 3, 24, 16))


def test_cset_graph_tokens_are_what_the_model_mhga_reads_in_training():
    torch.manual_seed(0)
    model = build_cset_model(2, (64, 32), "vit_nano", se="none", ca=False, mhga=True)
    images = torch.rand(2, 3, 64, 32)  # one visible image, then its infrared partner
    batch = Batch(torch.zeros(2, dtype=torch.long), torch.tensor([0, 1]), torch.zeros(2), images)
    visible, infrared = cset_graph_tokens(model, images[0], images[1])
    assert visible.shape == infrared.shape == (1, 8 * 4, 64)
    stream = model.streams["visible"]
    assert torch.allclose(visible, stream.eval().forward_intermediates(images[:1]).tokens[0][:, 1:])
    # the mixed pass pools [CLS; mean of MHGA's tokens over both images' nodes]
    graph_v, graph_i = model.graph(visible, infrared)
    mixed = model.eval()(batch)["features_mixed"]  # (2, 2D)
    assert torch.allclose(mixed[0, 64:], graph_v.mean(dim=1)[0], atol=1e-5)
    assert torch.allclose(mixed[1, 64:], graph_i.mean(dim=1)[0], atol=1e-5)
    without = build_cset_model(2, (64, 32), "vit_nano", se="both", ca=False, mhga=False)
    with pytest.raises(ValueError, match="no MHGA"):
        cset_graph_tokens(without, images[0], images[1])
