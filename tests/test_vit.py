"""reidkit's ViT against timm's on the same weights, and its two attention paths."""

from __future__ import annotations

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer as TimmViT

from reidkit.models.stem import ConvStem
from reidkit.models.vit import (
    VIT_CONFIGS,
    Attention,
    DropPath,
    attention_path,
    create_vit,
    set_fused_attention,
)
from reidkit.profiles import PROFILES


def small_pair(img_size: tuple[int, int], num_classes: int):
    timm_model = TimmViT(
        img_size=img_size,
        patch_size=16,
        embed_dim=64,
        depth=2,
        num_heads=4,
        num_classes=num_classes,
    ).eval()
    ours = create_vit(
        "vit_nano", img_size=img_size, num_classes=num_classes, patch_size=16, num_heads=4
    ).eval()
    ours.load_state_dict(timm_model.state_dict(), strict=True)
    return timm_model, ours


@pytest.mark.parametrize("img_size", [(64, 64), (96, 48), (80, 48)])
@pytest.mark.parametrize("fused", [True, False])
def test_matches_timm_on_the_same_weights(img_size: tuple[int, int], fused: bool) -> None:
    torch.manual_seed(0)
    timm_model, ours = small_pair(img_size, num_classes=7)
    set_fused_attention(ours, fused)
    x = torch.randn(2, 3, *img_size)
    with torch.no_grad():
        assert (ours.forward_features(x) - timm_model.forward_features(x)).abs().max() < 1e-5
        assert (ours(x) - timm_model(x)).abs().max() < 1e-5
    assert ours(x).shape == (2, 7)


def test_named_config_matches_timm_create_model() -> None:
    import timm

    torch.manual_seed(0)
    timm_model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=(64, 32), depth=2, num_classes=0
    ).eval()
    ours = create_vit("vit_tiny", img_size=(64, 32), depth=2).eval()
    ours.load_state_dict(timm_model.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert (ours(x) - timm_model(x)).abs().max() < 1e-5
    assert ours(x).shape == (2, 192)


@pytest.mark.parametrize("name", ["vit_tiny", "vit_small", "vit_base"])
def test_parameter_names_and_shapes_match_timm(name: str) -> None:
    config = VIT_CONFIGS[name]
    with torch.device("meta"):
        ours = create_vit(name, img_size=(256, 128), num_classes=10)
        theirs = TimmViT(
            img_size=(256, 128),
            patch_size=16,
            embed_dim=config.embed_dim,
            depth=config.depth,
            num_heads=config.num_heads,
            num_classes=10,
        )
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert ours_shapes == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_fused_and_explicit_paths_agree_and_weights_are_a_distribution() -> None:
    torch.manual_seed(1)
    model = create_vit("vit_nano", img_size=(64, 32), num_classes=5).eval()
    x = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        set_fused_attention(model, True)
        fused = model(x)
        set_fused_attention(model, False)
        explicit = model(x)
        inter = model.forward_intermediates(x, return_attention=True)
    assert (fused - explicit).abs().max() < 1e-5
    tokens = 1 + (64 // 8) * (32 // 8)
    assert len(inter.attentions) == len(inter.tokens) == 2
    for weights, z in zip(inter.attentions, inter.tokens):
        assert weights.shape == (3, 2, tokens, tokens)
        assert torch.allclose(weights.sum(-1), torch.ones(3, 2, tokens), atol=1e-5)
        assert z.shape == (3, tokens, 64)
    assert torch.allclose(inter.features, model.forward_features(x), atol=1e-5)


def test_one_switch_sets_every_layer_and_attention_path_restores_it() -> None:
    model = create_vit("vit_nano", img_size=(64, 32))
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    assert len(layers) == 2 and all(m.fused for m in layers)
    set_fused_attention(model, False)
    assert not any(m.fused for m in layers)
    with attention_path(model, fused=True):
        assert all(m.fused for m in layers)
    assert not any(m.fused for m in layers)
    set_fused_attention(model, True)
    model.forward_intermediates(torch.randn(1, 3, 64, 32), return_attention=True)
    assert all(m.fused for m in layers)
    _, weights = layers[0](torch.randn(1, 5, 64))
    assert weights is None  # the fused path has no weights to give


def test_outputs_embedding_and_head() -> None:
    model = create_vit("vit_nano", img_size=(64, 32), num_classes=4).eval()
    x = torch.randn(2, 3, 64, 32)
    features = model.forward_features(x)
    assert features.shape == (2, 1 + 32, 64)
    y = model.forward_embedding(x)
    assert torch.equal(y, features[:, 0])
    assert torch.equal(model.forward_head(features, pre_logits=True), y)
    assert torch.allclose(model.forward_head(features), model.head(y))
    headless = create_vit("vit_nano", img_size=(64, 32), num_classes=0).eval()
    assert headless(x).shape == (2, 64)


def test_overlapping_patches_transreid_stride() -> None:
    model = create_vit("vit_nano", img_size=(256, 128), patch_size=16, stride=12)
    assert model.patch_embed.grid_size == (21, 10)
    assert model.pos_embed.shape == (1, 1 + 210, 64)
    assert model.forward_features(torch.randn(1, 3, 256, 128)).shape == (1, 211, 64)
    assert create_vit("vit_nano", img_size=(288, 144), patch_size=16).patch_embed.grid_size == (
        18,
        9,
    )


def test_wrong_input_size_is_named() -> None:
    model = create_vit("vit_nano", img_size=(64, 32))
    with pytest.raises(ValueError, match=r"\(64, 64\).*\(64, 32\)"):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="unknown ViT configuration 'vit_huge'"):
        create_vit("vit_huge")
    with pytest.raises(ValueError, match="not divisible"):
        create_vit("vit_nano", num_heads=3)


def test_drop_path_and_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    drop = DropPath(0.5)
    x = torch.ones(4000, 3, 2)
    out = drop.train()(x)
    kept = out[:, 0, 0]
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # whole samples dropped, the rest scaled
    assert torch.equal(out, kept[:, None, None].expand_as(out))
    assert abs(kept.mean().item() - 1.0) < 0.1
    assert torch.equal(drop.eval()(x), x)
    model = create_vit("vit_nano", img_size=(64, 32), drop_path_rate=0.2, drop_rate=0.1)
    assert [b.drop_path1.p for b in model.blocks] == pytest.approx([0.0, 0.2])
    x = torch.randn(2, 3, 64, 32)
    model.eval()
    assert torch.equal(model(x), model(x))


def test_profile_models_fit_their_profiles() -> None:
    for profile in PROFILES.values():
        for name in (profile.vit, profile.backbone):
            model = create_vit(name, img_size=profile.img_size, num_classes=3)
            h, w = profile.img_size
            patch = VIT_CONFIGS[name].patch_size
            assert model.patch_embed.num_patches == (h // patch) * (w // patch)
            assert model(torch.randn(2, 3, h, w)).shape == (2, 3)


def test_hybrid_tokens_come_from_the_conv_stem() -> None:
    torch.manual_seed(0)
    model = create_vit("vit_hybrid_cpu", img_size=(128, 64)).eval()
    assert isinstance(model.patch_embed, ConvStem)
    assert model.patch_embed.grid_size == (8, 4)
    x = torch.randn(2, 3, 128, 64)
    tokens = model.patch_embed(x)
    assert tokens.shape == (2, 32, 192)  # (B, N, D), one token per 16x16 cell
    # a token sees only its neighbourhood (the stem's receptive field is under 200 pixels):
    # changing the bottom rows leaves the top-left token unchanged, unlike attention
    y = x.clone()
    y[:, :, 112:, :] = 0
    changed = (model.patch_embed(y) - tokens).abs().amax(dim=2)  # (B, N)
    assert changed[:, 0].max() == 0 and changed[:, -1].min() > 0
    with attention_path(model, fused=False):
        explicit = model.forward_embedding(x)
    assert torch.allclose(explicit, model.forward_embedding(x), atol=1e-5)


def test_conv_stem_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="log2"):
        ConvStem((128, 64), 16, 3, 32, widths=(8, 16, 32))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ConvStem((100, 64), 16, 3, 32)
    with pytest.raises(ValueError, match="built for"):
        ConvStem((64, 32), 8, 3, 32, widths=(8, 16, 32))(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="no patch stride"):
        create_vit("vit_hybrid_cpu", img_size=(128, 64), stride=12)


def test_a_training_step_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = create_vit("vit_nano", img_size=(64, 32), num_classes=4)
    x, labels = torch.randn(8, 3, 64, 32), torch.arange(8) % 4
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
