"""Seed 000, CAST with GLAA (chapter 15): the branches (both switches off is the symmetric
Siamese ViT), one image at a time at test, GLAA's pairs and its two attention paths, the
objective, the paired visible-X-ray sampler, the profile's data, the config and the ablation
spec, the exercises, the figures, and training through ``reidkit train`` then ``reidkit eval``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from reidkit.cli import main
from reidkit.data.batch import Batch, image_batch
from reidkit.data.records import Record
from reidkit.losses import label_smoothing_cross_entropy
from reidkit.methods import get_method
from reidkit.methods.cast import (
    CASTLossOptions,
    CASTObjective,
    cast_chapter_config,
    glaa_alignment,
    square_side,
)
from reidkit.models.cast import CAST, GLAA, branch_tokens, build_cast_model, partner_rows
from reidkit.models.vit import attention_path
from reidkit.profiles import get_profile
from reidkit.train.ablation_spec import load_bundled_spec, load_spec
from reidkit.train.config import DataConfig, config_from_profile, load_config
from reidkit.train.measure import embedding_parameters
from reidkit.train.sampling import build_sampler

SIZE = (32, 32)  # vit_nano: patches of 8, a 4 x 4 grid
CLASSES = 5
V, X = 0, 2  # reidkit.data.MODALITIES: visible, xray


def tiny(**switches) -> CAST:
    torch.manual_seed(0)
    return build_cast_model(CLASSES, SIZE, backbone="vit_nano", **switches)


def paired_batch(pairs_per_id: int = 2, ids: int = 2, seed: int = 0) -> Batch:
    """Blocks as the sampler deals them: per package K photographs, then its K scans."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(ids).repeat_interleave(2 * pairs_per_id)
    modalities = torch.tensor(([V] * pairs_per_id + [X] * pairs_per_id) * ids)
    images = torch.randn(len(labels), 3, *SIZE, generator=g)
    return Batch(labels, modalities, modalities, images)


# ---- the branches -----------------------------------------------------------------------
def test_outputs_and_shapes():
    model, batch = tiny().train(), paired_batch()
    D = model.embed_dim
    out = model(batch)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "features": (8, D),
        "logits": (8, CLASSES),
        "glaa": (8, D),
        "glaa_logits": (8, CLASSES),
    }
    assert tuple(model.forward_features(batch.images, batch.modalities).shape) == (8, 17, D)
    assert set(tiny(glaa=False)(batch)) == {"features", "logits"}
    assert model.forward_embedding(batch).shape == (8, D)


def test_both_switches_off_is_the_symmetric_siamese_vit():
    images = torch.randn(3, 3, *SIZE, generator=torch.Generator().manual_seed(1))

    def as_each(model):
        model.eval()
        with torch.no_grad():
            visible = model.forward_embedding(image_batch(images, ["visible"] * 3))
            xray = model.forward_embedding(image_batch(images, ["xray"] * 3))
        return visible, xray

    visible, xray = as_each(tiny(asym_ln=False, modality_embed=False))
    assert torch.equal(visible, xray)  # one transformer: the label changes nothing
    for switch in ("asym_ln", "modality_embed"):
        on = {"asym_ln": False, "modality_embed": False, switch: True}
        visible, xray = as_each(tiny(**on))
        assert not torch.allclose(visible, xray, atol=1e-4), switch
    # one set of transformer weights: the parts add a LayerNorm (2D) and a vector (D)
    D = 64
    plain, full = tiny(asym_ln=False, modality_embed=False, glaa=False), tiny(glaa=False)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(full) - count(plain) == 3 * D
    assert (
        embedding_parameters(full, SIZE, torch.device("cpu"), ("visible", "xray"))
        == count(full) - CLASSES * D
    )  # everything but the classifier (GLAA is off)
    with_glaa = tiny()
    used = embedding_parameters(with_glaa, SIZE, torch.device("cpu"), ("visible", "xray"))
    assert used == count(full) - CLASSES * D  # GLAA is training-only


def test_the_xray_branch_tokens():
    model = tiny().eval()
    vit = model.backbone
    images = torch.randn(4, 3, *SIZE, generator=torch.Generator().manual_seed(2))
    is_xray = torch.tensor([False, True, False, True])
    z = model.embed(images, is_xray)  # (4, 17, D)
    assert torch.equal(z[~is_xray], vit.embed(images[~is_xray]))  # visible: the plain eq. 1
    patches = model.xray_norm(vit.patch_embed(images[is_xray]))  # (2, 16, D)
    cls = vit.cls_token.expand(2, -1, -1)
    expected = torch.cat([cls, patches], 1) + vit.pos_embed + model.modality_embedding
    assert torch.allclose(z[is_xray], expected, atol=1e-6)
    bare = branch_tokens(vit.patch_embed(images), is_xray, vit.cls_token, vit.pos_embed)
    assert torch.equal(bare, vit.embed(images))  # both parts off


def test_one_image_at_a_time_and_only_two_modalities():
    model, batch = tiny().eval(), paired_batch()
    with torch.no_grad():
        together = model.forward_embedding(batch)
        alone = torch.cat(
            [
                model.forward_embedding(
                    image_batch(batch.images[i : i + 1], batch.modalities[i : i + 1])
                )
                for i in range(len(batch))
            ]
        )
    assert torch.allclose(together, alone, atol=1e-5)
    with pytest.raises(ValueError, match=r"the batch has \['infrared'\]"):
        model.forward_embedding(image_batch(batch.images[:2], ["visible", "infrared"]))
    with pytest.raises(ValueError, match="routes images by modality"):
        model.forward_features(batch.images)
    with pytest.raises(ValueError, match="VisionTransformer"):
        CAST(nn.Linear(2, 2), CLASSES)


# ---- GLAA -----------------------------------------------------------------------------------
def test_partner_rows_pair_the_nth_photograph_with_the_nth_scan():
    batch = paired_batch()
    partner = partner_rows(batch.modalities, batch.labels)
    assert partner.tolist() == [2, 3, 0, 1, 6, 7, 4, 5]
    assert torch.equal(partner[partner], torch.arange(8))
    with pytest.raises(ValueError, match="same package"):
        partner_rows(batch.modalities, torch.tensor([0, 0, 1, 1, 0, 0, 1, 1]))
    with pytest.raises(ValueError, match="as many visible as X-ray"):
        partner_rows(torch.tensor([V, V, X]), torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match="no other modality"):
        partner_rows(torch.tensor([V, 1]), torch.tensor([0, 0]))


def test_glaa_paths_agree_and_the_weights_sum_to_one():
    torch.manual_seed(0)
    glaa = GLAA(16, 4).eval()
    g = torch.Generator().manual_seed(3)
    cls, patches = torch.randn(3, 16, generator=g), torch.randn(3, 10, 16, generator=g)
    fused, none = glaa(cls, patches)
    assert none is None and fused.shape == (3, 16)
    with attention_path(glaa, fused=False):
        explicit, weights = glaa(cls, patches)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert weights.shape == (3, 4, 10)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4), atol=1e-6)
    assert glaa.attn.fused  # the path is restored


def test_glaa_reads_the_partners_patches_only():
    """vit_nano has no BatchNorm, so each image's tokens depend on that image alone."""
    model, batch = tiny().train(), paired_batch()
    before = model(batch)["glaa"]
    changed = batch.images.clone()
    changed[4:] = torch.randn_like(changed[4:])  # the second package's images
    after = model(Batch(batch.labels, batch.modalities, batch.cameras, changed))["glaa"]
    assert torch.allclose(before[:4], after[:4], atol=1e-6)  # first package: its own pairs
    assert not torch.allclose(before[4:], after[4:], atol=1e-4)
    maps = tiny().glaa_maps(batch.images[:2], batch.images[2:4])
    assert [tuple(m.shape) for m in maps] == [(2, 2, 4, 4)] * 2  # (B, heads, grid)
    assert torch.allclose(maps[0].sum((-1, -2)), torch.ones(2, 2), atol=1e-5)
    with pytest.raises(ValueError, match="without GLAA"):
        tiny(glaa=False).glaa_maps(batch.images[:2], batch.images[2:4])


# ---- the objective and the sampler ------------------------------------------------------
def test_the_objective_adds_glaa_and_detaches_nothing():
    model, batch = tiny().train(), paired_batch()
    outputs = model(batch)
    options = CASTLossOptions(glaa_weight=0.5, triplet_start_epoch=1.0)
    terms = CASTObjective(options)(outputs, batch, progress=0.5)  # before the triplet joins
    assert set(terms) == {"loss", "ce", "triplet", "glaa_id", "glaa_align"}
    glaa_id = label_smoothing_cross_entropy(outputs["glaa_logits"], batch.labels, 0.1)
    assert torch.allclose(terms["glaa_id"], glaa_id)
    cos = torch.nn.functional.cosine_similarity(outputs["glaa"], outputs["features"], dim=1)
    assert torch.allclose(terms["glaa_align"], (1 - cos).mean())
    expected = terms["ce"] + 0.5 * (terms["glaa_id"] + terms["glaa_align"])
    assert torch.allclose(terms["loss"], expected)
    a, c = torch.randn(2, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True)
    glaa_alignment(a, c).backward()
    assert a.grad.abs().sum() > 0 and c.grad.abs().sum() > 0  # both ends move
    off = CASTObjective(CASTLossOptions(glaa_weight=0.0))(outputs, batch, 2.0)
    assert set(off) == {"loss", "ce", "triplet"}
    assert CASTLossOptions().triplet == "batch_hard" and CASTLossOptions().margin == 0.3
    with pytest.raises(ValueError, match="no center loss"):
        CASTLossOptions(center_weight=0.1)


def test_the_sampler_pairs_photographs_with_scans():
    records = [
        Record(f"{m}{pid}-{k}", pid, 1 if m == "visible" else 2, m)
        for pid in range(5)
        for m in ("visible", "xray")
        for k in range(3)
    ]
    data = DataConfig(ids_per_batch=3, images_per_id=2)
    sampler = build_sampler(get_method("cast").sampler, records, data, seed=0)
    sampler.set_epoch(1)
    batches = list(sampler)
    assert batches and all(len(b) == 3 * 2 * 2 for b in batches)
    for batch in batches:
        chosen = [records[i] for i in batch]
        modalities = torch.tensor([V if r.modality == "visible" else X for r in chosen])
        labels = torch.tensor([r.pid for r in chosen])
        partner = partner_rows(modalities, labels)  # raises if a pair were not one package
        assert modalities.tolist() == [V, V, X, X] * 3
        assert torch.equal(labels[partner], labels)


# ---- configuration ----------------------------------------------------------------------
def test_profile_config_and_the_yaml_config():
    assert [square_side(get_profile(p).img_size) for p in ("smoke", "quick", "full")] == [
        48,
        96,
        176,
    ]
    smoke = get_profile("smoke")
    config = config_from_profile(smoke, method="cast")
    assert (config.data.dataset, config.data.img_size) == ("synthetic-xray", (48, 48))
    assert (config.eval.setting, config.eval.split, config.data.train_on_val) == (
        "v2x",
        "val",
        False,
    )
    assert "grayscale" in config.data.augment.visible
    assert "grayscale" not in config.data.augment.xray
    model = config.options.model
    assert (model.backbone, model.asym_ln, model.modality_embed, model.glaa) == (
        smoke.backbone,
        True,
        True,
        True,
    )
    assert config.options.loss.triplet_start_epoch == smoke.epochs / 4
    assert config_from_profile(smoke).data.dataset == "synthetic"  # the baseline's untouched
    chapter = cast_chapter_config(smoke, "ch15", model={"glaa": False})
    assert not chapter.options.model.glaa and chapter.out_dir.endswith("ch15-smoke")
    yaml_config = load_config("configs/cast.yaml")
    assert yaml_config.method == "cast" and yaml_config.data.dataset == "synthetic-xray"
    assert (yaml_config.eval.setting, yaml_config.eval.split) == ("v2x", "val")
    assert yaml_config.options.loss.glaa_weight == 1.0


def test_the_ablation_spec_adds_one_part_per_row(monkeypatch):
    monkeypatch.setenv("REIDKIT_PROFILE", "smoke")
    spec = load_spec("configs/ablations/cast.yaml")
    assert spec.seeds == [0, 1, 2] and spec.paper is None
    switches = [
        (c.options.model.asym_ln, c.options.model.modality_embed, c.options.model.glaa)
        for c in (r.config for r in spec.rows)
    ]
    assert [r.name for r in spec.rows] == [
        "baseline",
        "+ asymmetric LN",
        "+ modality encoding",
        "+ GLAA",
    ]
    assert switches == [
        (False, False, False),
        (True, False, False),
        (True, True, False),
        (True, True, True),
    ]
    profile_data = config_from_profile(get_profile(), method="cast", out_dir="x")
    for row in spec.rows:
        assert (row.config.data, row.config.eval) == (profile_data.data, profile_data.eval)
    repo, packaged = (
        Path("configs/ablations/cast.yaml"),
        Path("reidkit/configs/ablations/cast.yaml"),
    )
    assert repo.is_symlink() and repo.read_bytes() == packaged.read_bytes()
    bundled = load_bundled_spec("cast")
    assert [r.config.to_dict() for r in bundled.rows] == [r.config.to_dict() for r in spec.rows]


# ---- views (the exercises' checks are tested in tests/test_exercises.py) --------------------
def test_glaa_attention_figure():
    from reidkit.viz.xray import glaa_attention_figure

    weights = torch.rand(2, 4, 4)
    weights = weights / weights.sum((-1, -2), keepdim=True)
    scan, photo = torch.rand(3, *SIZE), np.zeros((*SIZE, 3), np.uint8)
    fig = glaa_attention_figure(scan, weights, visible_image=photo)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 3 and [bool(t.visible) for t in heat] == [True, False, False]
    assert np.allclose(np.asarray(heat[0].z), weights.mean(0).numpy())
    assert heat[0].dx == SIZE[1] / 4 and len(fig.layout.updatemenus[0].buttons) == 3
    assert "patches" in fig.layout.title.text
    assert len(glaa_attention_figure(scan, weights[0]).data) == 2  # one map: image + heatmap
    with pytest.raises(ValueError, match="weights must be"):
        glaa_attention_figure(scan, torch.rand(4))


def test_trains_through_the_cli_then_reidkit_eval_reports_the_protocol(
    tmp_path, monkeypatch, capsys
):
    from reidkit.data.xray import XrayPackages
    from reidkit.train.engine import read_metrics
    from reidkit.viz.xray import package_browser_figure, package_widget

    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    sizes = {
        "data.img_size": [32, 32],
        "data.train_ids": 10,
        "data.test_ids": 4,
        "data.images_per_camera": 2,
        "data.ids_per_batch": 3,
        "data.images_per_id": 2,
        "cast.model.backbone": "vit_hybrid_nano",
        "eval.every": 1,
        "eval.trials": 2,
    }
    run = tmp_path / "run"
    sets = [
        item for key, value in sizes.items() for item in ("--set", f"{key}={json.dumps(value)}")
    ]
    args = ["train", "configs/cast.yaml", "--out", str(run), "--epochs", "1", "--no-progress"]
    assert main(args + sets) == 0
    log = read_metrics(run / "metrics.jsonl")
    train = [r for r in log if r["kind"] == "train"]
    assert train and all(np.isfinite(r["glaa_id"]) and np.isfinite(r["glaa_align"]) for r in train)
    test = log[-1]
    assert test["kind"] == "test" and set(test) >= {"R1", "mAP", "mINP"}
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["R1"] == pytest.approx(test["R1"]) and reported["mAP"] == pytest.approx(
        test["mAP"]
    )
    assert main(["eval", str(run), "--protocol", "x2v"]) == 0
    assert "(x2v)" in capsys.readouterr().out

    # the package browser on the packages just written
    root = next((tmp_path / "cache" / "synthetic").iterdir())
    packages = XrayPackages(root, train_on_val=False)
    records, pids = (
        packages.query(split="test") + packages.gallery_candidates(split="test"),
        packages.test_ids[:2],
    )
    fig = package_browser_figure(records, pids, per_modality=3)
    assert len(fig.data) == 2 * 2 * 3 and len(fig.layout.sliders[0].steps) == 2
    assert sum(bool(t.visible) for t in fig.data) == 6
    box = package_widget(records, pids, per_modality=3)
    slider, label = box.children[:2]
    before = [view.value for line in box.children[2:] for view in line.children[1:]]
    slider.value = pids[1]
    after = [view.value for line in box.children[2:] for view in line.children[1:]]
    assert before != after and f"#{pids[1]}" in label.value
    with pytest.raises(ValueError, match="no visible or X-ray image of package 999"):
        package_browser_figure(records, [999])


def test_the_profile_run_trains_on_the_packages(tmp_path, monkeypatch):
    from reidkit.train.run import prepare, train

    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REIDKIT_RUNS", str(tmp_path / "runs"))
    config = cast_chapter_config(get_profile("smoke"), "ch15-e2e")
    prepared = prepare(config)
    assert prepared.dataset.task == "visible-xray" and prepared.dataset.default_setting == "v2x"
    trainer, history = train(config, prepared=prepared, progress=False)
    assert isinstance(trainer.model, CAST)
    assert [r["kind"] for r in history if r["kind"] in ("eval", "test")] == ["eval", "test"]
    assert "glaa_align" in history[0]
