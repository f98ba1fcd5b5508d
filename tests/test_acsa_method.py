"""Chapter 13's method: the ACSA model (global + local branches), its packed test-time rows and
own retrieval distance, the objective, and training + evaluation end to end at smoke size."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from reidkit.data import wordpiece_tokenizer
from reidkit.data.batch import TEXT, Batch, tokenize
from reidkit.data.phrases import PhraseTokenizer
from reidkit.data.synth import SynthSettings, image_captions
from reidkit.eval.distance import metric_name, pairwise_distance
from reidkit.eval.protocols import rank_records
from reidkit.losses import sdm_from_similarity, sdm_loss
from reidkit.methods.acsa import ACSALossOptions, ACSAObjective, build_acsa_model
from reidkit.methods.text_baseline import text_chapter_config
from reidkit.models.acsa import combined_score
from reidkit.profiles import get_profile
from reidkit.train.config import config_from_profile, load_config
from reidkit.train.evaluation import retrieval_metric


@pytest.fixture(scope="module")
def parts():
    """A smoke-size ACSA model, a phrase tokenizer and 6 captions of 3 people."""
    settings = SynthSettings(seed=0)
    captions = [image_captions(settings, pid, 1, i)[0] for pid in range(3) for i in range(2)]
    tokenizer = PhraseTokenizer(wordpiece_tokenizer(captions, vocab_size=200, max_length=80))
    config = text_chapter_config(get_profile("smoke"), "acsa-test", method="acsa")
    torch.manual_seed(0)
    model = build_acsa_model(config, num_classes=3).eval()
    return model, tokenizer, captions, config


def caption_batch(captions, tokenizer, labels) -> Batch:
    batch = Batch(
        labels=torch.tensor(labels),
        modalities=torch.full((len(captions),), TEXT),
        cameras=torch.zeros(len(captions), dtype=torch.long),
        captions=list(captions),
    )
    return tokenize(batch, tokenizer)


def pair_batch(model, tokenizer, captions, config) -> Batch:
    batch = caption_batch(captions, tokenizer, [0, 0, 1, 1, 2, 2])
    torch.manual_seed(1)
    batch.images = torch.randn(len(captions), 3, *config.data.img_size)
    return batch


def test_forward_scores_every_image_against_every_caption(parts):
    model, tokenizer, captions, config = parts
    out = model(pair_batch(model, tokenizer, captions, config))
    assert out["image"].shape == out["text"].shape == (6, model.embed_dim)
    assert out["local"].shape == (6, 6) and out["image_logits"].shape == (6, 3)
    assert out["local"].abs().max() <= 1.0 + 1e-5  # means of cosines


def test_packed_rows_give_the_combined_score(parts):
    model, tokenizer, captions, config = parts
    batch = pair_batch(model, tokenizer, captions, config)
    with torch.no_grad():
        out = model(batch)
        image_rows = model.forward_embedding(
            Batch(batch.labels, batch.modalities, batch.cameras, images=batch.images)
        )
        caption_rows = model.forward_embedding(caption_batch(captions, tokenizer, [0] * 6))
    assert image_rows.shape == caption_rows.shape == (6, model.packed_width)
    assert (image_rows[:, -1] == 0).all() and (caption_rows[:, -1] == 1).all()
    cos = F.normalize(out["text"], dim=1) @ F.normalize(out["image"], dim=1).T  # (captions, images)
    expected = 1.0 - combined_score(cos, out["local"].T, 0.1)
    distance = model.retrieval_distance(caption_rows, image_rows, chunk=4)
    assert torch.allclose(distance, expected, atol=1e-5)
    assert torch.allclose(model.retrieval_distance(image_rows, caption_rows), expected.T, atol=1e-5)
    # the evaluator and the views rank by it
    assert retrieval_metric(model) == model.retrieval_distance
    assert torch.allclose(
        pairwise_distance(caption_rows, image_rows, retrieval_metric(model)), expected, atol=1e-5
    )
    assert metric_name(model.retrieval_distance) == "retrieval_distance"
    model.local_weight = 0.0  # global only: chapter 12's cosine ranking
    try:
        assert torch.allclose(
            model.retrieval_distance(caption_rows, image_rows), 1 - cos, atol=1e-5
        )
    finally:
        model.local_weight = 0.1
    with pytest.raises(ValueError, match="captions against images"):
        model.retrieval_distance(image_rows, image_rows)


def test_a_models_own_distance_cannot_rerank(parts):
    model, tokenizer, captions, _ = parts
    rows = torch.randn(4, model.packed_width)
    with pytest.raises(ValueError, match="re-ranking"):
        rank_records(rows, {}, [], [], "cuhk-pedes", metric=model.retrieval_distance, rerank=True)


def test_a_caption_batch_without_phrases_is_refused(parts):
    model, tokenizer, captions, _ = parts
    batch = caption_batch(captions, tokenizer.tokenizer, [0] * 6)  # a plain tokenizer
    with pytest.raises(ValueError, match="PhraseTokenizer"):
        model.forward_embedding(batch)


def test_sdm_from_similarity_is_sdm_on_cosines():
    torch.manual_seed(0)
    image, text, labels = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 0, 1, 2, 2])
    cos = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T
    assert torch.allclose(sdm_from_similarity(cos, labels), sdm_loss(image, text, labels))
    with pytest.raises(ValueError, match=r"\(B, B\)"):
        sdm_from_similarity(cos[:, :3], labels)


def test_objective_adds_the_local_term(parts):
    model, tokenizer, captions, config = parts
    batch = pair_batch(model, tokenizer, captions, config)
    out = model(batch)
    terms = ACSAObjective(ACSALossOptions())(out, batch, 0.0)
    assert set(terms) == {"loss", "sdm", "id", "local"}
    assert torch.allclose(terms["loss"], terms["sdm"] + terms["id"] + terms["local"])
    assert torch.allclose(terms["local"], sdm_from_similarity(out["local"], batch.labels))
    off = ACSAObjective(ACSALossOptions(local_loss_weight=0.0))(out, batch, 0.0)
    assert "local" not in off and torch.allclose(off["loss"], terms["sdm"] + terms["id"])
    terms["loss"].backward()
    assert model.local.region_proj.weight.grad.abs().sum() > 0  # the local branch learns


def test_config_and_profile():
    config = load_config("configs/acsa.yaml")
    assert config.method == "acsa" and config.options.model.local_weight == 0.1
    assert config.options.model.lam == 20.0 and config.data.dataset == "synthetic-pedes"
    smoke = config_from_profile(get_profile("smoke"), method="acsa")
    assert smoke.eval.setting == "t2i" and smoke.options.model.local_dim == 16


def test_trains_and_evaluates_with_its_own_score(tmp_path, monkeypatch, capsys):
    from reidkit.commands import eval as eval_command
    from reidkit.train.run import prepare, train

    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REIDKIT_RUNS", str(tmp_path / "runs"))
    config = text_chapter_config(get_profile("smoke"), "ch13-e2e", method="acsa")
    prepared = prepare(config)
    assert isinstance(prepared.collate.tokenizer, PhraseTokenizer)
    trainer, history = train(config, prepared=prepared, progress=False)
    last = history[-1]
    assert last["kind"] == "test" and set(last) >= {"R1", "mAP", "mINP"}
    assert any(r["kind"] == "train" and "local" in r for r in history)

    class Args:
        checkpoint, dataset, root, trial, protocol = config.out_dir, None, None, None, None
        split, trials, json = None, None, True

    eval_command.run(Args())
    reported = json.loads(capsys.readouterr().out)
    assert reported["R1"] == pytest.approx(last["R1"])
    assert reported["mAP"] == pytest.approx(last["mAP"])


def test_phrase_region_weights_of_one_pair(parts):
    from reidkit.viz.phrases import phrase_attention_figure, phrase_region_weights

    model, tokenizer, captions, config = parts
    batch = pair_batch(model, tokenizer, captions, config)
    phrases, weights, score = phrase_region_weights(model, tokenizer, batch.images[0], captions[0])
    assert phrases == tokenizer.phrases(captions[0]) and len(phrases) >= 2
    assert weights.shape == (len(phrases), model.num_regions)
    assert torch.allclose(weights.sum(1), torch.ones(len(phrases)), atol=1e-5)
    with torch.no_grad():
        local = model(batch)["local"]
    assert score.item() == pytest.approx(local[0, 0].item(), abs=1e-5)  # the batched path's
    figure = phrase_attention_figure(batch.images[0], phrases, weights, model.grid)
    assert len(figure.layout.updatemenus[0].buttons) == len(phrases)
