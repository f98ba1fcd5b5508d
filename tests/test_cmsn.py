"""Chapter 14's method, CMSN: IMFI on both encoders (both attention paths, padding masked),
CRL, the objective's terms, the switched-off model against chapter 12's, and a smoke-sized
train + eval end to end."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import ConvImage
from torch import nn

from reidkit.data.batch import Batch
from reidkit.losses import cria_loss, semi_positive_triplet
from reidkit.methods.cmsn import (
    CMSNLossOptions,
    CMSNObjective,
    CMSNOptions,
    build_model,
    profile_options,
)
from reidkit.methods.text_baseline import (
    TextAlignLossOptions,
    TextAlignObjective,
    build_text_image_model,
    text_chapter_config,
)
from reidkit.models.cmsn import (
    CMSNModel,
    MaskedCrossAttention,
    depth_keys,
    masked_attention,
)
from reidkit.models.text_encoder import scratch_text_encoder
from reidkit.models.text_image import TextImageModel
from reidkit.models.vit import attention_path, create_vit
from reidkit.profiles import get_profile
from reidkit.train.config import config_from_profile, load_config

B, L, E = 4, 7, 16


def encoders(text_layers: int = 3) -> tuple[nn.Module, nn.Module]:
    """A 2-block ViT on 32x16 images (9 tokens) and a 3-layer BERT, without dropout."""
    image = create_vit("vit_nano", img_size=(32, 16))  # patch 8: 4 x 2 patches + CLS
    text = scratch_text_encoder(
        vocab_size=40, width=16, layers=text_layers, heads=2, max_length=12, dropout=0.0
    )
    return image, text


def tiny_cmsn(imfi: bool = True, crl: bool = True, seed: int = 0) -> CMSNModel:
    torch.manual_seed(seed)
    return CMSNModel(*encoders(), num_classes=3, embed_dim=E, imfi=imfi, crl=crl, depths=3)


def batch(images: bool = True, captions: bool = True) -> Batch:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 40, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[0, 3:] = 0  # caption 0: 3 real tokens, 4 padded
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    return Batch(
        labels=torch.tensor([0, 0, 1, 2]),
        modalities=torch.zeros(B, dtype=torch.long),
        cameras=torch.zeros(B, dtype=torch.long),
        images=torch.randn(B, 3, 32, 16, generator=g) if images else None,
        token_ids=ids if captions else None,
        attention_mask=mask if captions else None,
    )


def test_encode_layers_gives_several_depths_in_one_pass():
    torch.manual_seed(0)
    _, text = encoders()
    b = batch()
    with torch.no_grad():
        layers, sentence = text.encode_layers(b.token_ids, b.attention_mask, [0, 1, -1])
        tokens, expected = text.encode(b.token_ids, b.attention_mask)
    assert text.num_layers == 3 and len(layers) == 3
    assert all(t.shape == (B, L, 16) for t in layers)
    assert torch.allclose(layers[-1], tokens) and torch.allclose(sentence, expected)
    assert not torch.allclose(layers[0], layers[1])  # embeddings, then layer 1
    with pytest.raises(IndexError, match="layers 0..3"):
        text.encode_layers(b.token_ids, b.attention_mask, [4])


def test_imfi_shapes_on_both_modalities():
    model = tiny_cmsn().eval()
    assert (model.image_depths, model.text_depths) == (2, 3)  # the ViT has only 2 blocks
    b = batch()
    with torch.no_grad():
        weights = model.imfi_attention(b)
        out = model.train()(b)
    assert weights["image"].shape == (B, 4, 2, 9)  # (B, heads, depths, 1 + 4 x 2 tokens)
    assert weights["text"].shape == (B, 4, 3, L)
    assert out["image"].shape == out["text"].shape == out["combined"].shape == (B, E)
    assert out["image_logits"].shape == out["combined_logits"].shape == (B, 3)
    # one fusion block for both modalities; per-modality projections and depth embeddings
    assert model.image_depth.depth_embed.shape == (2, E)
    assert model.text_depth.depth_embed.shape == (3, E)
    assert model.image_depth.proj.in_features == 64 and model.text_depth.proj.in_features == 16
    with pytest.raises(ValueError, match="one of reidkit's ViTs"):
        CMSNModel(ConvImage(), encoders()[1], 3, E)
    assert CMSNModel(ConvImage(), encoders()[1], 3, E, imfi=False).fusion is None


def test_masked_attention_paths_agree_and_weights_sum_to_one_over_real_keys():
    torch.manual_seed(0)
    attention = MaskedCrossAttention(16, 4).eval()
    queries, context = torch.randn(3, 2, 16), torch.randn(3, 6, 16)
    key_mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0]])
    fused, none = attention.attend(queries, context, key_mask)
    with attention_path(attention, fused=False):
        explicit, weights = attention.attend(queries, context, key_mask)
    assert none is None and weights.shape == (3, 4, 2, 6)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 2), atol=1e-6)
    assert torch.all(weights.masked_select(~key_mask.bool()[:, None, None, :]) == 0)
    q, k, v = torch.randn(3, 1, 2, 4), torch.randn(3, 1, 6, 4), torch.randn(3, 1, 6, 4)
    out, w = masked_attention(q, k, v)  # no mask: plain attention
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6)
    keys, mask = depth_keys([torch.zeros(3, 6, 4), torch.ones(3, 6, 4)], torch.eye(2, 4), key_mask)
    assert keys.shape == (3, 12, 4) and torch.equal(mask, key_mask.bool().repeat(1, 2))
    assert torch.equal(keys[0, 6], torch.tensor([1.0, 2.0, 1.0, 1.0]))  # depth 2: ones + e_2


def test_model_paths_agree_and_padding_changes_nothing():
    model = tiny_cmsn().eval()
    b = batch()
    with torch.no_grad():
        fused = (
            model.forward_embedding(b),
            model.forward_embedding(dataclasses.replace(b, images=None)),
        )
        weights = model.imfi_attention(b)
        with attention_path(model.fusion, fused=False):
            explicit_image = model.forward_embedding(b)
            explicit_text = model.forward_embedding(dataclasses.replace(b, images=None))
    assert torch.allclose(fused[0], explicit_image, atol=1e-5)
    assert torch.allclose(fused[1], explicit_text, atol=1e-5)
    for w in weights.values():  # over each record's real keys, all depths together
        assert torch.allclose(w.sum((-2, -1)), torch.ones(w.shape[:2]), atol=1e-5)
    assert torch.all(weights["text"][0, :, :, 3:] == 0)  # caption 0's padding, every depth
    # another id in a padded position changes no caption's embedding, on either path
    other = b.token_ids.clone()
    other[0, 4], other[2, 6] = 17, 23
    captions, changed = dataclasses.replace(b, images=None), None
    for path in (True, False):
        with torch.no_grad(), attention_path(model.fusion, fused=path):
            before = model.forward_embedding(captions)
            changed = model.forward_embedding(dataclasses.replace(captions, token_ids=other))
        assert torch.allclose(before, changed, atol=1e-6)
    # one record at a time = in a batch (retrieval: one embedding per record)
    with torch.no_grad():
        alone = model.forward_embedding(
            dataclasses.replace(
                captions, token_ids=b.token_ids[:1], attention_mask=b.attention_mask[:1]
            )
        )
    assert torch.allclose(alone, fused[1][:1], atol=1e-5)


def test_switched_off_cmsn_is_the_global_baseline():
    b = batch()
    off = tiny_cmsn(imfi=False, crl=False).train()
    torch.manual_seed(0)
    base = TextImageModel(*encoders(), num_classes=3, embed_dim=E).train()
    assert off.state_dict().keys() == base.state_dict().keys()
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in off.state_dict().items())
    out_off, out_base = off(b), base(b)
    assert set(out_off) == set(out_base) == {"image", "text", "image_logits", "text_logits"}
    assert all(torch.allclose(out_off[k], out_base[k]) for k in out_base)
    options = CMSNLossOptions(cria_weight=0, spt_weight=0)
    ours = CMSNObjective(options)(out_off, b, 0.0)
    theirs = TextAlignObjective(TextAlignLossOptions())(out_base, b, 0.0)
    assert set(ours) == set(theirs) == {"loss", "sdm", "id"}
    assert torch.allclose(ours["loss"], theirs["loss"])


def test_the_method_builder_switched_off_builds_text_baselines_model():
    smoke = get_profile("smoke")
    config = text_chapter_config(
        smoke,
        "ch14-off",
        method="cmsn",
        model={"imfi": False, "crl": False},
        loss={"cria_weight": 0},
    )
    base = text_chapter_config(smoke, "ch14-off")
    torch.manual_seed(0)
    ours = build_model(config, 5)
    torch.manual_seed(0)
    theirs = build_text_image_model(base, 5)
    assert isinstance(ours, CMSNModel) and ours.state_dict().keys() == theirs.state_dict().keys()
    assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in ours.state_dict().items())


def test_crl_combines_each_pair_and_shares_the_classifier():
    model = tiny_cmsn().train()
    out = model(batch())
    assert torch.allclose(out["combined_logits"], out["combined"] @ model.classifier.weight.T)
    c = model.combine(out["image"], out["text"])
    assert torch.allclose(c, out["combined"])
    swapped = model.combine(out["image"], out["text"].roll(1, 0))  # another caption: another c
    assert not torch.allclose(swapped[0], c[0])
    assert "combined" not in tiny_cmsn(crl=False).train()(batch())


def test_objective_terms_follow_their_weights():
    model = tiny_cmsn().train()
    b = batch()
    out = model(b)
    terms = CMSNObjective(CMSNLossOptions())(out, b, 0.0)
    assert set(terms) == {"loss", "sdm", "id", "id_combined", "cria", "spt"}
    expected_cria = cria_loss(out["image"], out["text"], out["combined"], b.labels)
    expected_spt = semi_positive_triplet(out["image"], out["text"], b.labels, 0.3, 0.1)
    assert torch.allclose(terms["cria"], expected_cria) and torch.allclose(
        terms["spt"], expected_spt
    )
    total = terms["sdm"] + terms["id"] + terms["id_combined"] + terms["cria"] + 0.5 * terms["spt"]
    assert torch.allclose(terms["loss"], total)
    some = CMSNObjective(
        CMSNLossOptions(sdm_weight=0, id_weight=0, combined_id_weight=0, cria_weight=0)
    )
    only_spt = some(out, b, 0.0)
    assert set(only_spt) == {"loss", "spt"} and torch.allclose(only_spt["loss"], 0.5 * terms["spt"])
    nothing = CMSNLossOptions(
        sdm_weight=0, id_weight=0, combined_id_weight=0, cria_weight=0, spt_weight=0
    )
    with pytest.raises(ValueError, match="every weight is 0"):
        CMSNObjective(nothing)(out, b, 0.0)
    with pytest.raises(ValueError, match="model.crl"):
        CMSNObjective(CMSNLossOptions())(tiny_cmsn(crl=False).train()(b), b, 0.0)


def test_options_refuse_cria_without_crl():
    with pytest.raises(ValueError, match="cmsn.loss.cria_weight"):
        text_chapter_config(get_profile("smoke"), "x", method="cmsn", model={"crl": False})
    with pytest.raises(ValueError, match="model.heads"):
        CMSNOptions(model=dataclasses.replace(CMSNOptions().model, heads=5))


def test_gradients_reach_imfi_and_crl():
    model = tiny_cmsn().train()
    b = batch()
    CMSNObjective(CMSNLossOptions())(model(b), b, 0.0)["loss"].backward()
    for part in (model.image_depth, model.text_depth, model.fusion, model.combine):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_profile_options_and_the_yaml_config():
    smoke = get_profile("smoke")
    options = profile_options(smoke)
    assert options.model.imfi and options.model.crl and options.loss.spt_weight == 0.5
    assert options.model.backbone == smoke.backbone and options.model.embed_dim == 32
    config = config_from_profile(smoke, method="cmsn")
    assert config.data.dataset == "synthetic-pedes" and config.eval.setting == "t2i"
    yaml = load_config("configs/cmsn.yaml")
    assert yaml.method == "cmsn" and yaml.options.model.depths == 3
    assert (yaml.options.loss.margin, yaml.options.loss.semi_margin) == (0.3, 0.1)


def test_trains_and_evaluates_caption_to_image(tmp_path, monkeypatch, capsys):
    from reidkit.commands import eval as eval_command
    from reidkit.train.run import prepare, train

    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REIDKIT_RUNS", str(tmp_path / "runs"))
    config = text_chapter_config(get_profile("smoke"), "ch14-e2e", method="cmsn")
    prepared = prepare(config)
    trainer, history = train(config, prepared=prepared, progress=False)
    last = history[-1]
    assert last["kind"] == "test" and set(last) >= {"R1", "mAP", "mINP"}
    logged = next(r for r in history if r["kind"] == "train")
    assert all(math.isfinite(logged[k]) for k in ("sdm", "id", "id_combined", "cria", "spt"))
    assert trainer.model.image_depths == 2 and trainer.model.text_depths == 1  # smoke sizes

    class Args:
        checkpoint, dataset, root, trial, protocol, split, trials, json = (
            config.out_dir,
            None,
            None,
            None,
            None,
            None,
            None,
            True,
        )

    eval_command.run(Args())
    reported = json.loads(capsys.readouterr().out)
    assert reported["R1"] == pytest.approx(last["R1"])
    assert reported["mAP"] == pytest.approx(last["mAP"])
