"""Seed 002 as a method (chapters 5-8): each of Table 3's parts is one switch that really
changes the model or the data, Table 4's losses reach the objective, and the full model trains
and evaluates through ``reidkit train``."""

from pathlib import Path

import pytest
import torch
from conftest import train_tiny_run

from reidkit.cli import main
from reidkit.data.batch import Batch
from reidkit.methods import get_method
from reidkit.models.crossvit import CrossViT
from reidkit.models.csa import ChannelSpatialAttention
from reidkit.models.fused_attention import build_fused_attention_model
from reidkit.profiles import get_profile
from reidkit.train.ablation_spec import (
    AblationError,
    bundled_specs,
    load_bundled_spec,
    load_spec,
)
from reidkit.train.config import config_from_profile

SIZE = (64, 32)


def csa_modules(model) -> list[ChannelSpatialAttention]:
    return [m for m in model.modules() if isinstance(m, ChannelSpatialAttention)]


def tiny_model(**switches):
    torch.manual_seed(0)
    return build_fused_attention_model(
        5, SIZE, crossvit_backbone="crossvit_nano", vit_backbone="vit_hybrid_nano", **switches
    )


def test_each_switch_builds_its_parts():
    both = tiny_model(crossvit=True, csa=True)
    assert isinstance(both.backbone, CrossViT) and both.csa is None
    # one CSA per branch, in the last multi-scale block only (before its fusion)
    last = both.backbone.blocks[-1]
    assert [m.dim for m in last.patch_modules] == list(both.backbone.embed_dims)
    assert len(csa_modules(both)) == 2
    every = tiny_model(crossvit=True, csa=True, csa_every_block=True)
    assert len(csa_modules(every)) == 2 * len(every.backbone.blocks)

    plain = tiny_model(crossvit=False, csa=False)
    assert not isinstance(plain.backbone, CrossViT) and csa_modules(plain) == []
    vit_csa = tiny_model(crossvit=False, csa=True)
    assert vit_csa.csa is not None and len(csa_modules(vit_csa)) == 1
    assert tiny_model(crossvit=True, csa=False).backbone.blocks[-1].patch_modules is None


def test_branch_csa_changes_the_embedding_and_learns():
    model = tiny_model(crossvit=True, csa=True).eval()
    images = torch.randn(4, 3, *SIZE)
    modalities = torch.tensor([0, 1, 0, 1])
    batch = Batch(labels=torch.arange(4), modalities=modalities, cameras=modalities, images=images)
    before = model.forward_embedding(batch)
    assert before.shape == (4, model.embed_dim)
    for module in csa_modules(model):  # zero the spatial conv: every map becomes sigmoid(0)
        torch.nn.init.zeros_(module.spatial.conv.weight)
    assert not torch.allclose(model.forward_embedding(batch), before)
    model.train()
    model(batch)["logits"].sum().backward()
    assert all(p.grad is not None for m in csa_modules(model) for p in m.parameters())


def test_a_vit_name_as_crossvit_backbone_is_refused():
    with pytest.raises(ValueError, match="crossvit_backbone: 'vit_hybrid_nano' is not a CrossViT"):
        build_fused_attention_model(5, SIZE, crossvit_backbone="vit_hybrid_nano")


def test_profile_options_follow_the_profile():
    for name, crossvit in [("smoke", "crossvit_hybrid_nano"), ("quick", "crossvit_hybrid_cpu")]:
        profile = get_profile(name)
        config = config_from_profile(profile, method="fused_attention")
        model = config.options.model
        assert (model.crossvit_backbone, model.vit_backbone) == (crossvit, profile.backbone)
        assert config.options.loss.triplet == "weighted_hinge"  # eq. 15
        assert config.options.loss.margin == 1.0  # the paper's alpha
        assert config.options.loss.triplet_start_epoch == profile.epochs / 4
    # full without ImageNet weights: both backbones are hybrids trained from scratch
    scratch = get_profile("full").replace(pretrained=None, backbone="vit_hybrid_gpu")
    model = get_method("fused_attention").profile_options(scratch).model
    assert (model.crossvit_backbone, model.vit_backbone, model.pretrained) == (
        "crossvit_hybrid_gpu",
        "vit_hybrid_gpu",
        None,
    )
    with_timm = get_profile("full").replace(pretrained="timm")
    model = get_method("fused_attention").profile_options(with_timm).model
    assert (model.crossvit_backbone, model.pretrained) == ("crossvit_small", "timm")
    assert get_method("fused_attention").task == "visible-infrared"


@pytest.mark.parametrize("table, rows", [("fused_table3", 7), ("fused_table4", 3)])
def test_the_table_specs_switch_what_the_paper_switches(table, rows, monkeypatch):
    monkeypatch.setenv("REIDKIT_PROFILE", "smoke")
    spec = load_spec(f"configs/ablations/{table}.yaml")
    assert len(spec.rows) == rows and spec.seeds == [0, 1, 2]
    assert set(spec.paper.rows) == {r.name for r in spec.rows}
    for row in spec.rows:
        assert row.config.method == "fused_attention"
        augmented = "trivial_augment" in row.config.data.augment.visible
        assert augmented == ("trivial_augment" in row.config.data.augment.infrared)
    if table == "fused_table3":
        parts = {
            r.name: (
                "trivial_augment" in r.config.data.augment.visible,
                r.config.options.model.crossvit,
                r.config.options.model.csa,
                r.config.options.loss.triplet == "weighted_hinge",
            )
            for r in spec.rows
        }
        assert list(parts.values()) == [  # the check marks of the paper's Table 3
            (False, False, False, False),
            (True, False, False, False),
            (False, True, False, False),
            (False, False, True, False),
            (True, True, False, False),
            (True, True, True, False),
            (True, True, True, True),
        ]
    else:
        losses = [
            (r.config.options.loss.triplet, r.config.options.loss.center_weight) for r in spec.rows
        ]
        assert losses == [("none", 0.0005), ("batch_hard", 0.0), ("weighted_hinge", 0.0)]


def test_the_full_model_trains_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    tiny = {
        "epochs": 1,
        "method": "fused_attention",
        "data": {"augment": {"visible": ["flip", "trivial_augment", "erasing"]}},
        "fused_attention": {
            "model": {"crossvit_backbone": "crossvit_nano"},
            "loss": {"center_weight": 0.01},
        },
    }
    run, log = train_tiny_run(tmp_path, tiny)
    train = [r for r in log if r["kind"] == "train"]
    assert train and all(r["center"] > 0 and r["triplet"] >= 0 for r in train)
    assert [r["epoch"] for r in log if r["kind"] == "eval"] == [1]
    assert main(["eval", str(run)]) == 0


def test_the_seed_002_config_builds():
    from reidkit.train.config import load_config

    config = load_config("configs/crossvit_csa.yaml")
    assert config.method == "fused_attention"
    assert "trivial_augment" in config.data.augment.infrared
    assert config.options.model.crossvit and config.options.model.csa


def test_the_table_specs_ship_with_the_package_and_are_the_repository_files(monkeypatch):
    monkeypatch.setenv("REIDKIT_PROFILE", "smoke")
    assert {"fused_table3", "fused_table4"} <= set(bundled_specs())
    for table in ("fused_table3", "fused_table4"):
        repo = Path("configs/ablations") / f"{table}.yaml"
        packaged = Path("reidkit/configs/ablations") / f"{table}.yaml"
        assert repo.read_bytes() == packaged.read_bytes()  # one file, two paths
        bundled, loaded = load_bundled_spec(table), load_spec(repo)
        assert [r.config.to_dict() for r in bundled.rows] == [
            r.config.to_dict() for r in loaded.rows
        ]
        assert (bundled.name, bundled.paper) == (loaded.name, loaded.paper)
    out = load_bundled_spec("fused_table4", out="elsewhere").out
    assert out == Path("elsewhere")
    with pytest.raises(AblationError, match="no bundled ablation spec 'table9'.*fused_table4"):
        load_bundled_spec("table9")
