"""The cross-modal baseline: BNNeck outputs, the modality-specific patch embedding, pooling."""

import pytest
import torch

from reidkit.models.baseline import build_baseline


def test_bnneck_outputs_and_shapes():
    torch.manual_seed(0)
    model = build_baseline("vit_nano", (32, 16), num_classes=5)
    images = torch.randn(6, 3, 32, 16)
    f, logits = model(images, torch.tensor([0, 1] * 3))
    assert f.shape == (6, 64) and logits.shape == (6, 5)
    assert not model.neck.bn.bias.requires_grad  # the BN shift is frozen at zero
    assert model.neck.classifier.bias is None
    model.eval()
    embedding = model.forward_features(images)
    expected = (f - model.neck.bn.running_mean) / torch.sqrt(model.neck.bn.running_var + 1e-5)
    assert torch.allclose(embedding, expected * model.neck.bn.weight, atol=1e-5)
    assert torch.allclose(model.forward_head(embedding), model(images)[1], atol=1e-5)


def test_modality_specific_patch_embedding_routes_by_modality():
    torch.manual_seed(0)
    model = build_baseline("vit_nano", (32, 16), 5, modality_patch_embed=True).eval()
    images = torch.randn(4, 3, 32, 16)
    modalities = torch.tensor([0, 1, 0, 1])  # visible, infrared, visible, infrared
    before = model.forward_features(images, modalities)
    # Initialised as a copy: the same output as the shared embedding at first.
    assert torch.allclose(before, model.forward_features(images), atol=1e-5)
    with torch.no_grad():
        model.infrared_patch_embed.proj.weight.mul_(2.0)
    after = model.forward_features(images, modalities)
    assert torch.allclose(after[[0, 2]], before[[0, 2]], atol=1e-5)  # visible unchanged
    assert not torch.allclose(after[[1, 3]], before[[1, 3]], atol=1e-3)  # infrared changed


def test_mean_pooling_and_bad_pool():
    model = build_baseline("vit_nano", (32, 16), 3, pool="mean")
    assert model.forward_pre_bn(torch.randn(2, 3, 32, 16)).shape == (2, 64)
    with pytest.raises(ValueError, match="pool must be"):
        build_baseline("vit_nano", (32, 16), 3, pool="max")
