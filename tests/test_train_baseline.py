"""The cross-modal baseline: BNNeck outputs, any backbone, pretrained weights from a config,
the modality-specific patch embedding and the baseline's objective."""

import pytest
import torch

from reidkit.data.batch import image_batch
from reidkit.methods.baseline import BaselineLossOptions, BaselineObjective
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import CrossModalBaseline
from reidkit.train import config_from_dict
from reidkit.train.run import build_model


def nano(num_classes=5, **kwargs):
    return CrossModalBaseline(build_backbone("vit_nano", (32, 16)), num_classes, **kwargs)


def test_bnneck_outputs_and_shapes():
    torch.manual_seed(0)
    model = nano()
    batch = image_batch(torch.randn(6, 3, 32, 16), ["visible", "infrared"] * 3)
    outputs = model(batch)
    f, logits = outputs["features"], outputs["logits"]
    assert f.shape == (6, 64) and logits.shape == (6, 5)
    tokens = model.forward_features(batch.images)  # timm: forward_features gives tokens
    assert tokens.shape == (6, 1 + 4 * 2, 64)  # CLS + a 4 x 2 grid of 8-pixel patches
    assert not model.neck.bn.bias.requires_grad  # the BN shift is frozen at zero
    assert model.neck.classifier.bias is None
    model.eval()
    embedding = model.forward_embedding(batch)
    expected = (f - model.neck.bn.running_mean) / torch.sqrt(model.neck.bn.running_var + 1e-5)
    assert torch.allclose(embedding, expected * model.neck.bn.weight, atol=1e-5)
    tokens = model.forward_features(batch.images)
    assert torch.allclose(model.forward_head(tokens, pre_logits=True), embedding, atol=1e-6)
    assert torch.allclose(model.forward_head(tokens), model(batch)["logits"], atol=1e-5)


def test_modality_specific_patch_embedding_routes_by_modality():
    torch.manual_seed(0)
    model = nano(modality_patch_embed=True).eval()
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
    only_infrared = model.forward_features(images[[1, 3]], modalities[[1, 3]])
    assert torch.allclose(only_infrared, after[[1, 3]], atol=1e-5)


def test_any_timm_backbone_works():
    """A CNN from timm (feature map + timm pooling) behind the same BNNeck."""
    torch.manual_seed(0)
    model = CrossModalBaseline(build_backbone("timm:resnet10t", (64, 32)), 4)
    batch = image_batch(torch.randn(3, 3, 64, 32))
    assert model(batch)["logits"].shape == (3, 4)
    assert model.eval().forward_embedding(batch).shape == (3, model.embed_dim)
    with pytest.raises(ValueError, match="modality_patch_embed needs a backbone"):
        CrossModalBaseline(build_backbone("timm:resnet10t", (64, 32)), 4, True)


def test_pretrained_weights_come_from_a_local_file_named_in_the_config(tmp_path):
    """``pretrained: <file>`` loads a timm state dict through from_timm (no download)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    teacher = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
    path = tmp_path / "vit_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(path))
    config = config_from_dict(
        {
            "data": {"img_size": [224, 224]},
            "baseline": {"model": {"backbone": "vit_tiny", "pretrained": str(path)}},
        }
    )
    model = build_model(config, num_classes=3).eval()
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours = model.backbone.forward_head(model.forward_features(images), pre_logits=True)
        theirs = teacher.eval()(images)
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize(
    ("backbone", "pretrained", "error", "message"),
    [
        ("vit_huge", None, ValueError, "backbone: unknown name 'vit_huge'"),
        ("vit_hybrid_nano", "timm", ValueError, "has no pretrained weights"),
        ("vit_tiny", "weights.bin", ValueError, "expected 'timm' or a .safetensors file"),
        ("vit_tiny", "missing.safetensors", FileNotFoundError, "weights file not found"),
    ],
)
def test_bad_backbones_are_named(backbone, pretrained, error, message):
    with pytest.raises(error, match=message):
        build_backbone(backbone, (64, 32), pretrained)


def test_objective_is_ce_plus_weighted_triplet_after_its_start():
    torch.manual_seed(0)
    outputs = {"features": torch.randn(8, 4), "logits": torch.randn(8, 3)}
    batch = image_batch(torch.zeros(8, 3, 2, 2))
    batch.labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    objective = BaselineObjective(BaselineLossOptions(triplet_weight=0.5, triplet_start_epoch=1))
    early, late = objective(outputs, batch, 0.5), objective(outputs, batch, 1.0)
    assert set(late) == {"loss", "ce", "triplet"}
    assert torch.allclose(early["loss"], early["ce"])
    assert torch.allclose(late["loss"], late["ce"] + 0.5 * late["triplet"])
    none = BaselineObjective(BaselineLossOptions(triplet="none"))(outputs, batch, 5.0)
    assert none["triplet"].item() == 0 and torch.allclose(none["loss"], none["ce"])


def test_objective_adds_the_center_loss_held_by_the_model():
    config = config_from_dict(
        {
            "data": {"img_size": [32, 16]},
            "baseline": {"model": {"backbone": "vit_nano"}, "loss": {"center_weight": 0.25}},
        }
    )
    torch.manual_seed(0)
    model = build_model(config, 3)
    assert model.centers.centers.shape == (3, 64)
    batch = image_batch(torch.randn(6, 3, 32, 16), ["visible", "infrared"] * 3)
    batch.labels = torch.tensor([0, 0, 1, 1, 2, 2])
    outputs = model(batch)
    expected = 0.5 * (outputs["features"] - model.centers.centers[batch.labels]).pow(2).sum(1)
    assert outputs["center"].item() == pytest.approx(expected.mean().item(), rel=1e-5)
    terms = BaselineObjective(config.options.loss)(outputs, batch, 10.0)
    total = terms["ce"] + terms["triplet"] + 0.25 * terms["center"]
    assert torch.allclose(terms["loss"], total)
    terms["loss"].backward()
    assert model.centers.centers.grad[0].abs().sum() > 0  # the optimiser moves the centers
    with pytest.raises(KeyError, match="center_weight > 0 needs the model's center loss"):
        BaselineObjective(config.options.loss)(
            {k: v for k, v in outputs.items() if k != "center"}, batch, 10.0
        )
    assert build_model(config_from_dict({"data": {"img_size": [32, 16]}}), 3).centers is None
