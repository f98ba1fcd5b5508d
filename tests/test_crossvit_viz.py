"""Chapter 6's view: each CrossViT branch's CLS cross-attention over the other's patches."""

import pytest
import torch

from reidkit.models.crossvit import create_crossvit
from reidkit.viz.crossvit import (
    cross_attention_maps,
    crossvit_attention_figure,
    crossvit_attention_view,
    patch_cells,
)


def nano():
    torch.manual_seed(0)
    return create_crossvit("crossvit_nano", img_size=(64, 32)).eval()


def test_maps_lie_on_the_other_branch_grid_and_leave_out_the_cls():
    model = nano()
    out = model.forward_intermediates(torch.randn(2, 3, 64, 32), return_attention=True)
    small, large = cross_attention_maps(out.cross_attentions, model.grids)
    assert small.shape == (2, 2, 2, 4, 2)  # (blocks, B, heads, large grid 4x2)
    assert large.shape == (2, 2, 2, 8, 4)  # (blocks, B, heads, small grid 8x4)
    on_self = out.cross_attentions[-1][0][:, :, 0, 0]  # (B, heads): the CLS's weight on itself
    assert torch.allclose(small[-1].sum(dim=(-2, -1)) + on_self, torch.ones(2, 2), atol=1e-6)
    with pytest.raises(ValueError, match="grid 8x4"):
        cross_attention_maps(out.cross_attentions, [(4, 2), (8, 4)])


def test_patch_cells_in_input_pixels():
    assert patch_cells((64, 32), [(64, 32), (64, 32)], (8, 16)) == [(8.0, 8.0), (16.0, 16.0)]
    # 256x128 with timm's scales: branch 0 sees 252x120, branch 1 224x112
    cells = patch_cells((256, 128), [(252, 120), (224, 112)], (12, 16))
    assert cells[1] == pytest.approx((16 * 256 / 224, 16 * 128 / 112))


def test_figure_rows_columns_and_block_slider():
    model = nano()
    images = torch.rand(2, 3, 64, 32)
    fig = crossvit_attention_view(model, images, ["visible", "infrared"])
    kinds = [trace.type for trace in fig.data]
    assert kinds == ["image", "heatmap"] * 4  # 2 images x 2 directions
    assert len(fig.layout.sliders[0].steps) == 2  # one step per multi-scale block
    first_heatmap = fig.data[1]  # visible, small-patch CLS over the large (16-pixel) patches
    assert first_heatmap.z.shape == (4, 2) and first_heatmap.dx == 16
    assert fig.data[3].z.shape == (8, 4) and fig.data[3].dx == 8
    step = fig.layout.sliders[0].steps[0]
    assert len(step.args[0]["z"]) == 4 and list(step.args[1]) == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="one of each per image"):
        crossvit_attention_figure(images, ["visible"], [torch.rand(2, 2, 4, 2)] * 2, [(8, 8)] * 2)
