"""Chapter 12's method: the two-encoder model, its objective, per-module learning rates, the
config and the views; trained end to end on the synthetic CUHK-PEDES layout at smoke size."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import ConvImage

from reidkit.data.batch import TEXT, Batch
from reidkit.losses import id_loss, sdm_loss
from reidkit.methods.text_baseline import (
    TextAlignLossOptions,
    TextAlignObjective,
    build_text_image_model,
    profile_options,
    text_chapter_config,
)
from reidkit.models.text_encoder import scratch_text_encoder
from reidkit.models.text_image import TextImageModel
from reidkit.profiles import get_profile
from reidkit.train.config import OptimConfig, config_from_profile, load_config
from reidkit.train.schedule import EpochSchedule, build_optimizer, lr_scale_of, parameter_groups


def tiny_model(num_classes: int = 3) -> TextImageModel:
    torch.manual_seed(0)
    text = scratch_text_encoder(vocab_size=30, width=16, layers=1, heads=2, max_length=12)
    return TextImageModel(ConvImage(), text, num_classes, embed_dim=6)


def batch(n: int = 4, length: int = 5, images: bool = True, captions: bool = True) -> Batch:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 30, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[0, 3:] = 0
    ids[0, 3:] = 0
    return Batch(
        labels=torch.tensor([0, 0, 1, 2][:n]),
        modalities=torch.zeros(n, dtype=torch.long),
        cameras=torch.zeros(n, dtype=torch.long),
        images=torch.randn(n, 3, 16, 16, generator=g) if images else None,
        token_ids=ids if captions else None,
        attention_mask=mask if captions else None,
    )


def test_training_outputs_share_one_classifier():
    model = tiny_model().train()
    out = model(batch())
    assert out["image"].shape == out["text"].shape == (4, 6)
    assert out["image_logits"].shape == out["text_logits"].shape == (4, 3)
    weight = model.classifier.weight  # (C, E), no bias
    assert model.classifier.bias is None
    assert torch.allclose(out["text_logits"], out["text"] @ weight.T)
    assert torch.allclose(out["image_logits"], out["image"] @ weight.T)


def test_forward_embedding_picks_the_encoder_and_normalises():
    model = tiny_model().eval()
    b = batch()
    image_only = dataclasses.replace(b, token_ids=None, attention_mask=None)
    text_only = dataclasses.replace(b, images=None, modalities=torch.full((4,), TEXT))
    with torch.no_grad():
        f_image, f_text = model.forward_embedding(image_only), model.forward_embedding(text_only)
        expected_text = F.normalize(model.encode_text(b.token_ids, b.attention_mask), dim=-1)
    assert torch.allclose(f_text, expected_text)
    assert torch.allclose(f_image.norm(dim=-1), torch.ones(4))
    assert not torch.allclose(f_image, f_text)
    with pytest.raises(ValueError, match="token_ids"):
        model.forward_embedding(dataclasses.replace(text_only, token_ids=None))
    with pytest.raises(ValueError, match="training needs images and tokenized captions"):
        model(image_only)


def test_objective_weighs_the_losses_and_skips_zero_weights():
    g = torch.Generator().manual_seed(0)
    outputs = {
        "image": torch.randn(4, 6, generator=g),
        "text": torch.randn(4, 6, generator=g),
        "image_logits": torch.randn(4, 3, generator=g),
        "text_logits": torch.randn(4, 3, generator=g),
    }
    b = batch()
    terms = TextAlignObjective(TextAlignLossOptions(sdm_weight=0.5, id_weight=2.0))(outputs, b, 0)
    sdm = sdm_loss(outputs["image"], outputs["text"], b.labels, 0.02)
    ids = id_loss(outputs["image_logits"], outputs["text_logits"], b.labels)
    assert set(terms) == {"loss", "sdm", "id"}  # cmpm has weight 0: not computed
    assert torch.allclose(terms["loss"], 0.5 * sdm + 2.0 * ids)
    with_cmpm = TextAlignObjective(TextAlignLossOptions(cmpm_weight=1.0))(outputs, b, 0)
    assert "cmpm" in with_cmpm and torch.allclose(
        with_cmpm["loss"], with_cmpm["sdm"] + with_cmpm["id"] + with_cmpm["cmpm"]
    )
    nothing = TextAlignLossOptions(sdm_weight=0, id_weight=0)
    with pytest.raises(ValueError, match="every weight is 0"):
        TextAlignObjective(nothing)(outputs, b, 0)


def test_lr_scales_make_their_own_parameter_groups():
    model = tiny_model()
    plain = parameter_groups(model, 0.05)
    assert [g["lr_scale"] for g in plain] == [1.0, 1.0]  # as before: decay, no decay
    model.lr_scales = {"text_encoder.": 0.1, "text_encoder.model.embeddings.": 0.01}
    embeddings = "text_encoder.model.embeddings.word_embeddings.weight"
    assert lr_scale_of(embeddings, model.lr_scales) == 0.01
    groups = parameter_groups(model, 0.05)
    assert groups[0]["lr_scale"] == 1.0 and groups[0]["weight_decay"] == 0.05
    counted = sum(p.numel() for g in groups for p in g["params"])
    assert counted == sum(p.numel() for p in model.parameters())
    text_ids = {id(p) for p in model.text_encoder.parameters()}
    for group in groups:
        in_text = {id(p) in text_ids for p in group["params"]}
        assert in_text <= ({group["lr_scale"] != 1.0})
    optimizer = build_optimizer(model, OptimConfig(lr=1e-3, warmup_epochs=0))
    schedule = EpochSchedule(optimizer, epochs=4, config=OptimConfig(lr=1e-3, warmup_epochs=0))
    schedule.step(2.0)  # halfway through the cosine
    factor = optimizer.param_groups[0]["lr"] / 1e-3
    for group in optimizer.param_groups:
        assert math.isclose(group["lr"], 1e-3 * group["lr_scale"] * factor, rel_tol=1e-9)


def test_profile_options_and_chapter_config():
    smoke = get_profile("smoke")
    options = profile_options(smoke)
    assert options.text.kind == "scratch" and options.model.backbone == smoke.backbone
    config = text_chapter_config(smoke, "ch12-test", loss={"temperature": 0.1})
    assert config.method == "text_baseline" and config.data.dataset == "synthetic-pedes"
    assert config.eval.setting == "t2i" and config.options.loss.temperature == 0.1
    assert config.data.grayscale == 0.0 and "grayscale" not in config.data.augment.visible
    assert config.out_dir.endswith("ch12-test-smoke")
    # the text task's setting comes with the method (profile_config), so an ablation spec
    # with `base: profile` and `method: text_baseline` trains on captions too
    plain = config_from_profile(smoke, method="text_baseline")
    assert plain.data.dataset == "synthetic-pedes" and plain.eval.setting == "t2i"
    assert plain.epochs == max(1, smoke.epochs // 2)
    assert config_from_profile(smoke).data.dataset == "synthetic"  # the baseline's untouched


def test_the_yaml_config_loads():
    config = load_config("configs/text_baseline.yaml")
    assert config.method == "text_baseline" and config.options.text.kind == "scratch"
    assert config.data.grayscale == 0.0


def test_a_pretrained_text_encoder_learns_at_its_scale(tmp_path):
    config = text_chapter_config(
        get_profile("smoke"), "ch12-lr", text={"lr_scale": 0.1}, model={"embed_dim": 8}
    )
    model = build_text_image_model(config, 5)
    assert model.lr_scales == {"text_encoder.": 0.1}
    assert model.embed_dim == 8
    scratch = text_chapter_config(get_profile("smoke"), "ch12-lr")
    assert not hasattr(build_text_image_model(scratch, 5), "lr_scales")  # 1 from scratch
    packaged = dataclasses.replace(scratch.options.text, kind="packaged")
    assert packaged.learning_rate_scale() == 0.1  # a pretrained encoder: a tenth by default


def test_trains_and_evaluates_caption_to_image(tmp_path, monkeypatch, capsys):
    from reidkit.train.run import prepare, train
    from reidkit.viz.text_search import (
        caption_ranking_figure,
        caption_search_widget,
        embed_captions,
        similarity_matrix_figure,
        top_k,
    )

    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REIDKIT_RUNS", str(tmp_path / "runs"))
    config = text_chapter_config(get_profile("smoke"), "ch12-e2e")
    prepared = prepare(config)
    trainer, history = train(config, prepared=prepared, progress=False)
    last = history[-1]
    assert last["kind"] == "test" and set(last) >= {"R1", "mAP", "mINP"}
    assert any(r["kind"] == "train" and math.isfinite(r["sdm"]) for r in history)
    # the tokenizer is rebuilt identically from the same records (reidkit eval relies on it)
    again = prepare(config).collate.tokenizer
    caption = prepared.records[0].caption
    assert torch.equal(again([caption])[0], prepared.collate.tokenizer([caption])[0])

    # reidkit eval rebuilds the model and its tokenizer from the checkpoint and reports the same
    from reidkit.commands import eval as eval_command

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
    assert reported["R1"] == pytest.approx(last["R1"]) and reported["mAP"] == pytest.approx(
        last["mAP"]
    )

    model = trainer.model.eval()
    queries, gallery = prepared.dataset.query(split="test"), prepared.dataset.gallery(split="test")
    from reidkit.train.evaluation import model_extractor

    g_emb = model_extractor(model, config.data.img_size, collate=prepared.collate)(gallery)
    q_emb = embed_captions(model, prepared.collate.tokenizer, [q.caption for q in queries[:3]])
    together = embed_captions(model, prepared.collate.tokenizer, [q.caption for q in queries[:1]])
    assert torch.allclose(q_emb[:1], together, atol=1e-5)  # one at a time = in a batch
    values, order = top_k(q_emb @ g_emb.T, 4)
    assert values.shape == order.shape == (3, 4)
    assert torch.all(values[:, :-1] >= values[:, 1:])
    figure = caption_ranking_figure(
        [q.caption for q in queries[:3]], q_emb, gallery, g_emb, [q.pid for q in queries[:3]]
    )
    assert len(figure.layout.updatemenus[0].buttons) == 3
    assert sum(bool(trace.visible) for trace in figure.data) == min(8, len(gallery))
    widget = caption_search_widget(model, prepared.collate.tokenizer, gallery, g_emb)
    assert widget.search("   ") is None  # an empty caption shows a message, no figure
    found = widget.search(queries[0].caption)
    assert found is widget.figure and len(found.data) == min(8, len(gallery))
    widget.children[0].value = queries[1].caption  # what pressing Enter in the box does
    assert widget.figure is not found and queries[1].caption[:20] in widget.figure.layout.title.text
    heat = similarity_matrix_figure(
        q_emb, g_emb, [q.pid for q in queries[:3]], [r.pid for r in gallery]
    )
    assert heat.data[0].z.shape == (3, len(gallery))


def test_full_profile_takes_the_packaged_encoder_when_it_is_installed(monkeypatch):
    from reidkit.methods import text_baseline

    full = get_profile("full")
    monkeypatch.setattr(text_baseline, "packaged_encoder_installed", lambda: True)
    options = profile_options(full)
    assert (options.text.kind, options.text.name) == ("packaged", "all-MiniLM-L6-v2")
    assert options.text.learning_rate_scale() == 0.1
    monkeypatch.setattr(text_baseline, "packaged_encoder_installed", lambda: False)
    assert profile_options(full).text.kind == "scratch"
    assert profile_options(get_profile("quick")).text.kind == "scratch"  # whatever is installed
