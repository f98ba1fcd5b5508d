"""Chapter 14's IMFI view (reidkit.viz.cmsn)."""

import pytest
import torch

from reidkit.models.cmsn import CMSNModel
from reidkit.models.text_encoder import scratch_text_encoder
from reidkit.models.vit import create_vit
from reidkit.viz.cmsn import depth_labels, depth_mass, imfi_attention_figure


def test_depth_mass_averages_heads_and_sums_each_depth():
    weights = torch.zeros(2, 3, 4)  # (heads, depths, tokens)
    weights[0, 0, 1], weights[0, 2, 3] = 0.25, 0.75  # head 0: depths 1 and 3
    weights[1, 1, 0] = 1.0  # head 1: depth 2
    assert depth_mass(weights).tolist() == pytest.approx([0.125, 0.5, 0.375])
    assert depth_mass(weights[0]).tolist() == pytest.approx([0.25, 0.0, 0.75])
    with pytest.raises(ValueError, match="one record's IMFI weights"):
        depth_mass(torch.ones(1, 2, 3, 4))


def test_text_view_one_row_per_depth_without_padding():
    weights = torch.softmax(torch.randn(4, 3, 9), -1) / 3  # (heads, 3 depths, 9 positions)
    tokens = ["[CLS]", "a", "red", "a", "[SEP]"]  # 5 real tokens, 4 padded positions
    fig = imfi_attention_figure(weights, ["layer 1", "layer 2", "layer 3"], tokens=tokens)
    heat = fig.data[0]
    assert torch.allclose(torch.tensor(heat.z), weights.mean(0)[:, :5].float())
    assert list(fig.layout.xaxis.ticktext) == tokens  # the repeated "a" keeps its own column
    mass = depth_mass(weights)
    assert heat.y[1] == f"layer 2 ({float(mass[1]):.0%})"
    with pytest.raises(ValueError, match="2 depth labels for 3 depths"):
        imfi_attention_figure(weights, ["a", "b"], tokens=tokens)
    with pytest.raises(ValueError, match="pass tokens"):
        imfi_attention_figure(weights, ["a", "b", "c"])


def test_image_view_one_panel_per_depth_on_one_scale():
    weights = torch.softmax(torch.randn(2, 2, 1 + 4 * 2), -1) / 2  # 2 depths, 4 x 2 grid
    image = torch.rand(3, 32, 16)
    fig = imfi_attention_figure(weights, ["block 1", "block 2"], image=image, grid=(4, 2))
    heats = [t for t in fig.data if t.type == "heatmap"]
    assert len(heats) == 2 and len(fig.data) == 4  # image + overlay per depth
    w = weights.mean(0)
    assert torch.allclose(torch.tensor(heats[1].z), w[1, 1:].reshape(4, 2))
    assert heats[0].zmax == heats[1].zmax == pytest.approx(float(w[:, 1:].max()))
    assert heats[0].dx == 8 and heats[0].dy == 8  # 16 / 2 and 32 / 4 pixels per token
    assert f"(CLS {float(w[0, 0]):.0%})" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="expected 1 \\+ 4 x 3"):
        imfi_attention_figure(weights, ["a", "b"], image=image, grid=(4, 3))


def test_the_view_of_a_model():
    torch.manual_seed(0)
    image = create_vit("vit_nano", img_size=(32, 16))
    text = scratch_text_encoder(vocab_size=40, width=16, layers=3, heads=2, max_length=12)
    model = CMSNModel(image, text, 3, 16, depths=2).eval()
    assert depth_labels(model, "image") == ["block 1 of 2", "block 2 of 2"]
    assert depth_labels(model, "text") == ["layer 2 of 3", "layer 3 of 3"]
    from reidkit.data.batch import Batch

    b = Batch(
        labels=torch.zeros(1, dtype=torch.long),
        modalities=torch.zeros(1, dtype=torch.long),
        cameras=torch.zeros(1, dtype=torch.long),
        images=torch.randn(1, 3, 32, 16),
        token_ids=torch.tensor([[2, 9, 7, 3, 0]]),
        attention_mask=torch.tensor([[1, 1, 1, 1, 0]]),
    )
    with torch.no_grad():
        weights = model.imfi_attention(b)
    assert depth_mass(weights["text"][0]).sum().item() == pytest.approx(1.0, abs=1e-5)
    fig = imfi_attention_figure(
        weights["image"][0],
        depth_labels(model, "image"),
        image=b.images[0],
        grid=image.patch_embed.grid_size,
    )
    assert len(fig.data) == 4
    fig = imfi_attention_figure(
        weights["text"][0], depth_labels(model, "text"), tokens=["[CLS]", "a", "b", "[SEP]"]
    )
    assert torch.tensor(fig.data[0].z).shape == (2, 4)
    with pytest.raises(ValueError, match="'image' or 'text'"):
        depth_labels(model, "audio")
