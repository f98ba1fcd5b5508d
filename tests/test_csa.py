"""Channel and spatial attention (CSA, eq. 9-12): shapes, a case worked out by hand, infrared
input, gradients, and CSA inside the baseline (off by default)."""

import math

import pytest
import torch

from reidkit.data.batch import image_batch
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import CrossModalBaseline
from reidkit.models.csa import ChannelSpatialAttention, map_to_tokens, tokens_to_map
from reidkit.train import config_from_dict
from reidkit.train.run import build_model


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_shapes_and_maps_in_unit_interval():
    torch.manual_seed(0)
    csa = ChannelSpatialAttention(dim=32, reduction=16)
    tokens = torch.randn(3, 4 * 2, 32)  # (B, N, C) of a 4 x 2 grid
    out, maps = csa(tokens, (4, 2), return_maps=True)
    assert out.shape == tokens.shape
    assert maps.channel.shape == (3, 32) and maps.spatial.shape == (3, 4, 2)
    assert ((maps.channel > 0) & (maps.channel < 1)).all()
    assert ((maps.spatial > 0) & (maps.spatial < 1)).all()
    assert csa.channel.mlp[0].weight.shape == (2, 32)  # hidden width 32 // 16
    assert torch.equal(csa(tokens, (4, 2)), out)
    # Tokens are row-major: token 1 is grid cell (0, 1).
    grid = tokens_to_map(tokens, (4, 2))
    assert torch.equal(grid[:, :, 0, 1], tokens[:, 1]) and torch.equal(map_to_tokens(grid), tokens)


def test_bad_shapes_name_what_was_expected():
    csa = ChannelSpatialAttention(dim=8, reduction=2)
    with pytest.raises(ValueError, match="9 patch tokens do not fill a 4 x 2 grid"):
        csa(torch.randn(1, 9, 8), (4, 2))
    with pytest.raises(ValueError, match=r"expected a feature map \(B, 8, h, w\)"):
        csa.forward_map(torch.randn(1, 6, 2, 2))
    with pytest.raises(ValueError, match="odd"):
        ChannelSpatialAttention(dim=8, kernel_size=4)


def hand_module() -> ChannelSpatialAttention:
    """C = 2, hidden 1: W1 = [1, 1], W2 = [1, -1]^T; spatial kernel 7x7 zero but the centre
    tap, which weighs the channel-mean map by 1 and the channel-max map by 1."""
    csa = ChannelSpatialAttention(dim=2, reduction=2)
    with torch.no_grad():
        csa.channel.mlp[0].weight.copy_(torch.tensor([[1.0, 1.0]]))
        csa.channel.mlp[2].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        csa.spatial.conv.weight.zero_()
        csa.spatial.conv.weight[0, :, 3, 3] = 1.0
    return csa


def test_hand_computed_case():
    # A 1 x 2 grid, channel 0 = [1, 3], channel 1 = [-2, 0].
    # avg = (2, -1) -> relu(2 - 1) = 1 -> (1, -1); max = (3, 0) -> relu(3) = 3 -> (3, -3)
    # A_c = sigmoid((4, -4)).
    c0, c1 = sigmoid(4.0), sigmoid(-4.0)
    # M' = [c0 * (1, 3); c1 * (-2, 0)]; spatial at each cell = sigmoid(mean_C + max_C).
    m_left, m_right = (1 * c0, -2 * c1), (3 * c0, 0.0)
    s_left = sigmoid(sum(m_left) / 2 + max(m_left))
    s_right = sigmoid(sum(m_right) / 2 + max(m_right))
    tokens = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])  # (B=1, N=2, C=2): cells left, right
    out, maps = hand_module()(tokens, (1, 2), return_maps=True)
    assert maps.channel[0].tolist() == pytest.approx([c0, c1], abs=1e-6)
    assert maps.spatial[0, 0].tolist() == pytest.approx([s_left, s_right], abs=1e-6)
    expected = [[m * s_left for m in m_left], [m * s_right for m in m_right]]
    assert out[0].tolist() == [pytest.approx(row, abs=1e-6) for row in expected]


def test_spatial_kernel_orientation_and_zero_padding():
    # Only the tap right of centre: cell (0, 0) sees cell (0, 1)'s pooled values, cell (0, 1)
    # sees the zero padding -> sigmoid(0) = 0.5.
    csa = hand_module()
    with torch.no_grad():
        csa.spatial.conv.weight.zero_()
        csa.spatial.conv.weight[0, 1, 3, 4] = 1.0  # the channel-max map, one cell to the right
    tokens = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])
    _, maps = csa(tokens, (1, 2), return_maps=True)
    assert maps.spatial[0, 0].tolist() == pytest.approx([sigmoid(3 * sigmoid(4.0)), 0.5], abs=1e-6)


def test_infrared_like_input_works():
    """An infrared image has three equal channels; a flat one gives a token map whose channels
    barely vary. CSA stays finite, keeps the shape and gives weights in (0, 1)."""
    torch.manual_seed(0)
    backbone = build_backbone("vit_nano", (32, 16))
    thermal = torch.rand(2, 1, 32, 16).expand(2, 3, 32, 16)  # (B, 3, H, W), equal channels
    tokens = backbone.forward_features(thermal)[:, 1:]  # (B, N, D) patch tokens
    csa = ChannelSpatialAttention(64)
    out, maps = csa(tokens, backbone.patch_embed.grid_size, return_maps=True)
    assert out.shape == tokens.shape and torch.isfinite(out).all()
    flat = torch.full((1, 8, 64), 0.7)  # every token and channel equal
    out, maps = csa(flat, (4, 2), return_maps=True)
    assert torch.isfinite(out).all()
    assert maps.spatial.min() > 0 and maps.spatial.max() < 1
    # The average- and max-pooled descriptors are equal: A_c = sigmoid(2 MLP(0.7)).
    expected = torch.sigmoid(2 * csa.channel.mlp(torch.full((1, 64), 0.7)))
    assert torch.allclose(maps.channel, expected, atol=1e-6)


def test_gradients_reach_input_and_parameters():
    torch.manual_seed(0)
    csa = ChannelSpatialAttention(dim=64, reduction=4)  # 16 hidden units: some are active
    tokens = torch.randn(2, 6, 64, requires_grad=True)
    csa(tokens, (3, 2)).pow(2).sum().backward()
    for name, parameter in csa.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert tokens.grad.abs().sum() > 0


def nano(**kwargs):
    return CrossModalBaseline(build_backbone("vit_nano", (32, 16)), 5, **kwargs)


def test_baseline_with_csa_pools_the_refined_patch_tokens():
    torch.manual_seed(0)
    model = nano(csa=True).eval()
    batch = image_batch(torch.randn(4, 3, 32, 16), ["visible", "infrared"] * 2)
    raw = model.backbone_features(batch.images)  # (B, 1+N, D)
    refined = model.forward_features(batch.images)
    assert refined.shape == raw.shape == (4, 1 + 8, 64)
    assert torch.equal(refined[:, 0], raw[:, 0])  # the CLS token is left alone
    assert torch.allclose(refined[:, 1:], model.csa(raw[:, 1:], (4, 2)), atol=1e-6)
    f = model(batch)["features"]
    assert torch.allclose(f, refined[:, 1:].mean(dim=1), atol=1e-6)
    maps = model.csa_maps(batch.images, batch.modalities)
    assert maps.channel.shape == (4, 64) and maps.spatial.shape == (4, 4, 2)
    # CSA is in the gradient path of the training feature.
    model.train()
    model(batch)["features"].sum().backward()
    assert model.csa.spatial.conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="without CSA"):
        nano().csa_maps(batch.images)


def test_baseline_with_csa_on_a_cnn_feature_map():
    torch.manual_seed(0)
    model = CrossModalBaseline(build_backbone("timm:resnet10t", (64, 32)), 4, csa=True)
    batch = image_batch(torch.randn(3, 3, 64, 32))
    assert model(batch)["features"].shape == (3, model.embed_dim)
    maps = model.csa_maps(batch.images)
    assert maps.spatial.shape == (3, 2, 1)  # the resnet's stride-32 map of a 64 x 32 image


def test_csa_option_is_off_by_default_and_builds_from_the_config():
    off = config_from_dict({"data": {"img_size": [32, 16]}})
    assert off.options.model.csa is False
    torch.manual_seed(0)
    assert build_model(off, 3).csa is None
    on = config_from_dict(
        {
            "data": {"img_size": [32, 16]},
            "baseline": {"model": {"backbone": "vit_nano", "csa": True, "csa_reduction": 8}},
        }
    )
    model = build_model(on, 3)
    assert model.csa.channel.mlp[0].weight.shape == (64 // 8, 64)
