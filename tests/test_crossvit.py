"""CrossViT (chapter 6): parity with timm's CrossViT on the same weights, the two attention
paths, the CLS-only fusion of eq. 5-8, non-square inputs, and the re-id backbone."""

import json

import pytest
import torch
from conftest import tiny_run_yaml

from reidkit.cli import main
from reidkit.data.batch import image_batch
from reidkit.models.backbones import build_backbone
from reidkit.models.baseline import CrossModalBaseline
from reidkit.models.cross_attention import CrossAttention, MultiScaleBlock
from reidkit.models.crossvit import (
    CROSSVIT_CONFIGS,
    PROFILE_CROSSVIT,
    branch_image_sizes,
    create_crossvit,
    profile_crossvit,
)
from reidkit.models.crossvit_pretrained import (
    crossvit_from_timm,
    load_timm_crossvit_state_dict,
    timm_crossvit_key,
)
from reidkit.models.pretrained import resize_pos_embed
from reidkit.models.stem import ConvPyramid
from reidkit.models.vit import attention_path, create_vit, set_fused_attention

timm = pytest.importorskip("timm")
TOL = 1e-5


def timm_tiny(img_size=240):
    torch.manual_seed(0)
    return timm.create_model("crossvit_tiny_240", pretrained=False, img_size=img_size).eval()


@pytest.fixture(scope="module")
def reference():
    """timm's crossvit_tiny_240, randomly initialised (seeded): nothing is downloaded."""
    return timm_tiny()


@pytest.fixture(scope="module")
def ours_240(reference):
    model = create_crossvit("crossvit_tiny", img_size=240, num_classes=1000).eval()
    load_timm_crossvit_state_dict(model, reference.state_dict())  # strict, no key map needed
    return model


def assert_close_features(ours, theirs):
    assert [tuple(z.shape) for z in ours] == [tuple(z.shape) for z in theirs]
    for a, b in zip(ours, theirs):
        assert (a - b).abs().max().item() < TOL


@pytest.mark.parametrize("fused", [True, False])
def test_parity_with_timm_at_240(fused, reference, ours_240):
    model = ours_240
    assert model.branch_sizes == [(240, 240), (224, 224)]  # timm's img_scale (1, 224/240)
    x = torch.randn(2, 3, 240, 240, generator=torch.Generator().manual_seed(1))
    set_fused_attention(model, fused)
    with torch.no_grad():
        theirs, ours = reference.forward_features(x), model.forward_features(x)
        assert_close_features(ours, theirs)
        assert (model(x) - reference(x)).abs().max().item() < TOL  # mean of the two heads
    set_fused_attention(model, True)
    embedding = model.forward_head(ours, pre_logits=True)
    assert embedding.shape == (2, 96 + 192)
    assert torch.allclose(embedding, reference.forward_head(theirs, pre_logits=True), atol=TOL)


def test_weights_file_offline_and_original_key_names(tmp_path, reference):
    """``crossvit_from_timm`` reads a local safetensors file; the original release's
    ``pos_embed.0`` names load through the key map."""
    from safetensors.torch import save_file

    state = {
        k.replace("pos_embed_", "pos_embed.").replace("cls_token_", "cls_token."): v
        for k, v in reference.state_dict().items()
    }
    assert timm_crossvit_key("pos_embed.1") == "pos_embed_1"
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = crossvit_from_timm("crossvit_tiny", img_size=240, weights_file=path).eval()
    x = torch.randn(1, 3, 240, 240)
    with torch.no_grad():
        assert_close_features(model.forward_features(x), reference.forward_features(x))
    with pytest.raises(ValueError, match="safetensors"):
        crossvit_from_timm("crossvit_tiny", weights_file=tmp_path / "model.bin")
    with pytest.raises(ValueError, match="no pretrained CrossViT weights"):
        crossvit_from_timm("crossvit_cpu", weights_file=path)


def test_non_square_parity_with_resized_position_embeddings(reference):
    """At 240x120 timm and we agree once timm holds our bicubically resized embeddings."""
    model = crossvit_from_timm(
        "crossvit_tiny", img_size=(240, 120), num_classes=1000, pretrained=False
    )
    load_timm_crossvit_state_dict(model, reference.state_dict())
    assert model.grids == [(20, 10), (14, 7)]
    state = reference.state_dict()
    expected = resize_pos_embed(state["pos_embed_1"], (14, 14), (14, 7))
    assert torch.equal(model.pos_embed_1.data, expected)
    assert torch.equal(model.pos_embed_1.data[:, 0], state["pos_embed_1"][:, 0])  # CLS kept
    narrow = timm_tiny(img_size=(240, 120))
    narrow.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 240, 120)
    with torch.no_grad():
        assert_close_features(model.eval().forward_features(x), narrow.forward_features(x))


def test_reid_input_256x128(reference):
    model = crossvit_from_timm("crossvit_tiny", img_size=(256, 128), pretrained=False).eval()
    load_timm_crossvit_state_dict(model, reference.state_dict())
    assert model.branch_sizes == [(252, 120), (224, 112)]
    assert model.grids == [(21, 10), (14, 7)]
    features = model.forward_features(torch.randn(2, 3, 256, 128))
    assert [tuple(z.shape) for z in features] == [(2, 1 + 210, 96), (2, 1 + 98, 192)]
    with pytest.raises(ValueError, match=r"built for \(256, 128\)"):
        model(torch.randn(1, 3, 128, 64))


def test_branch_image_sizes_divide_by_the_patches():
    assert branch_image_sizes((128, 64), (8, 16), (1.0, 1.0)) == [(128, 64), (128, 64)]
    assert branch_image_sizes((240, 240), (12, 16), (1.0, 224 / 240)) == [(240, 240), (224, 224)]
    with pytest.raises(ValueError, match="smaller than one 16px patch"):
        branch_image_sizes((8, 8), (8, 16), (1.0, 1.0))


def test_cross_attention_paths_agree_and_only_cls_queries():
    torch.manual_seed(0)
    attention = CrossAttention(24, 3).eval()
    z = torch.randn(2, 7, 24)
    fused, none = attention(z)
    attention.fused = False
    explicit, weights = attention(z)
    assert none is None and fused.shape == (2, 1, 24)
    assert torch.allclose(fused, explicit, atol=1e-6)
    assert weights.shape == (2, 3, 1, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 1))
    changed = z.clone()
    changed[:, 1:2] += 1.0  # a patch token is a key/value, never a query: the output moves
    assert not torch.allclose(attention(changed)[0], explicit, atol=1e-4)


def test_fusion_reads_pre_fusion_tokens_and_keeps_patches():
    torch.manual_seed(0)
    block = MultiScaleBlock((8, 16), (1, 1), (2, 2), (2.0, 2.0)).eval()
    tokens = [torch.randn(2, 1 + 6, 8), torch.randn(2, 1 + 3, 16)]
    fused, weights = block.fuse(tokens)
    assert [tuple(t.shape) for t in fused] == [(2, 7, 8), (2, 4, 16)]
    for before, after in zip(tokens, fused):
        assert torch.equal(before[:, 1:], after[:, 1:])  # eq. 8: the branch keeps its patches
    # Branch 0's new CLS depends on branch 1's patches but not on branch 1's CLS.
    other = [tokens[0], tokens[1].clone()]
    other[1][:, 0] += 5.0
    assert torch.allclose(block.fuse(other)[0][0], fused[0], atol=1e-6)
    other[1][:, 1:] += torch.randn(2, 3, 16)  # (a constant shift would vanish in the LN)
    assert not torch.allclose(block.fuse(other)[0][0], fused[0], atol=1e-4)
    assert weights == [None, None]


def test_whole_model_paths_agree_and_intermediates():
    torch.manual_seed(0)
    model = create_crossvit("crossvit_nano", img_size=(64, 32)).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        fused = model.forward_features(x)
        with attention_path(model, fused=False):
            explicit = model.forward_features(x)
        out = model.forward_intermediates(x, return_attention=True)
    assert_close_features(fused, explicit)
    assert all(m.fused for m in model.modules() if isinstance(getattr(m, "fused", None), bool))
    assert len(out.cross_attentions) == CROSSVIT_CONFIGS["crossvit_nano"].num_blocks
    small, large = out.cross_attentions[-1]
    assert small.shape == (2, 2, 1, 1 + 4 * 2)  # small CLS over [itself; 4x2 large patches]
    assert large.shape == (2, 2, 1, 1 + 8 * 4)  # large CLS over [itself; 8x4 small patches]
    assert_close_features(out.features, fused)


def test_conv_pyramid_taps_one_cnn_at_each_patch_size():
    torch.manual_seed(0)
    stem = ConvPyramid((64, 32), (8, 16), 3, (32, 64), (16, 32, 64, 64)).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        small, large = stem(x)
        maps = [x]
        for stage in stem.stages:
            maps.append(stage(maps[-1]))
        by_hand = [proj(maps[k]).flatten(2).transpose(1, 2) for proj, k in zip(stem.proj, (3, 4))]
    assert stem.grid_sizes == [(8, 4), (4, 2)]
    assert small.shape == (2, 8 * 4, 32) and large.shape == (2, 4 * 2, 64)  # (B, N_b, D_b)
    assert torch.allclose(small, by_hand[0], atol=1e-6)  # the stride-8 map (after stage 3)
    assert torch.allclose(large, by_hand[1], atol=1e-6)  # the stride-16 map, same CNN
    with pytest.raises(ValueError, match="one width per stride-2 stage"):
        ConvPyramid((64, 32), (8, 16), 3, (32, 64), (16, 32, 64))
    with pytest.raises(ValueError, match="multiple of 16"):
        ConvPyramid((72, 32), (8, 16), 3, (32, 64), (16, 32, 64, 64))
    with pytest.raises(ValueError, match="built for"):
        stem(torch.randn(1, 3, 32, 32))


def test_hybrid_crossvit_paths_agree_and_it_trains_a_step():
    torch.manual_seed(0)
    model = create_crossvit("crossvit_hybrid_nano", img_size=(64, 32), num_classes=5).eval()
    assert isinstance(model.patch_embed, ConvPyramid)
    assert model.grids == [(8, 4), (4, 2)]
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        fused = model.forward_features(x)
        with attention_path(model, fused=False):
            explicit = model.forward_features(x)
    assert [tuple(z.shape) for z in fused] == [(2, 1 + 32, 32), (2, 1 + 8, 64)]
    assert_close_features(fused, explicit)
    model.train()
    model(torch.randn(4, 3, 64, 32)).sum().backward()
    assert model.patch_embed.stages[0][0].weight.grad.abs().sum() > 0  # the stem learns
    with pytest.raises(ValueError, match="share one stem"):
        create_crossvit("crossvit_hybrid_nano", img_size=(64, 32), img_scales=(1.0, 0.5))


@pytest.mark.parametrize(
    "crossvit_name, vit_name, img_size",
    [
        ("crossvit_hybrid_cpu", "vit_hybrid_cpu", (128, 64)),
        ("crossvit_hybrid_gpu", "vit_hybrid_gpu", (256, 128)),
    ],
)
def test_hybrid_crossvit_extends_the_hybrid_vit(crossvit_name, vit_name, img_size):
    """A hybrid CrossViT = the hybrid ViT's stem and transformer as its large-patch branch, plus
    a small-patch branch and the CLS fusion (what chapter 8's '+ CrossViT' adds)."""
    crossvit = create_crossvit(crossvit_name, img_size=img_size)
    vit = create_vit(vit_name, img_size=img_size)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(crossvit.patch_embed.stages) == count(vit.patch_embed.cnn)
    config = CROSSVIT_CONFIGS[crossvit_name]
    assert config.embed_dims[1] == vit.embed_dim
    assert config.num_heads[1] == vit.blocks[0].attn.num_heads
    assert config.depths[1] * config.num_blocks == len(vit.blocks)
    assert crossvit.grids[1] == vit.patch_embed.grid_size


def test_each_profile_trains_a_crossvit_that_can_learn():
    assert profile_crossvit("smoke", None) == PROFILE_CROSSVIT["smoke"] == "crossvit_hybrid_nano"
    assert profile_crossvit("quick", None) == PROFILE_CROSSVIT["quick"] == "crossvit_hybrid_cpu"
    # full fine-tunes timm's CrossViT-S; from scratch (no hub, or a ViT weights file) a hybrid
    assert profile_crossvit("full", "timm") == "crossvit_small"
    assert profile_crossvit("full", None) == "crossvit_hybrid_gpu"
    assert profile_crossvit("full", "/weights/vit_small.safetensors") == "crossvit_hybrid_gpu"


def test_patch_module_hook_changes_the_embedding():
    seen = []

    class Scale(torch.nn.Module):
        def forward(self, patches, grid):
            seen.append((tuple(patches.shape), grid))
            return patches + torch.linspace(0, 1, patches.shape[-1])  # LN undoes a plain scale

    torch.manual_seed(0)
    model = create_crossvit("crossvit_nano", img_size=(64, 32)).eval()
    x = torch.randn(2, 3, 64, 32)
    before = model.forward_embedding(x)
    model.add_patch_modules(lambda branch, dim, grid: Scale())
    after = model.forward_embedding(x)
    assert seen == [((2, 32, 32), (8, 4)), ((2, 8, 64), (4, 2))]
    assert not torch.allclose(before, after, atol=1e-4)


def test_backbone_behind_the_bnneck():
    torch.manual_seed(0)
    backbone = build_backbone("crossvit_nano", (64, 32))
    assert backbone.num_features == 32 + 64
    model = CrossModalBaseline(backbone, num_classes=5)
    batch = image_batch(torch.randn(4, 3, 64, 32), ["visible", "infrared"] * 2)
    outputs = model(batch)
    assert outputs["features"].shape == (4, 96) and outputs["logits"].shape == (4, 5)
    assert model.eval().forward_embedding(batch).shape == (4, 96)
    with pytest.raises(ValueError, match="patch_embed"):
        CrossModalBaseline(build_backbone("crossvit_nano", (64, 32)), 5, modality_patch_embed=True)
    with pytest.raises(ValueError, match="has no pretrained weights"):
        build_backbone("crossvit_nano", (64, 32), pretrained="timm")
    assert set(PROFILE_CROSSVIT.values()) <= set(CROSSVIT_CONFIGS)


def test_reidkit_train_with_a_crossvit_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "crossvit.yaml"
    config.write_text(
        tiny_run_yaml({"epochs": 1, "baseline": {"model": {"backbone": "crossvit_nano"}}})
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["kind"] == "eval"] == [1]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log if r["kind"] == "train")
