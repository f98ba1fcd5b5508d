"""Seed 003, CSET, as a method (chapter 11): shapes; each of Table 1's switches really turns its
part on or off; at test an image's embedding depends on nothing but the image; the objective's
terms and its detached distillation target; the paired batches; the Table 1 spec; and a
training run through ``reidkit train`` that evaluates."""

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import train_tiny_run

from reidkit.cli import main
from reidkit.data.batch import Batch
from reidkit.losses import cosine_distillation
from reidkit.methods import get_method
from reidkit.methods.cset import CSETLossOptions, CSETObjective, profile_options
from reidkit.models.cross_attention import CrossAttention
from reidkit.models.cset import CSET, MixedCleanAttention, build_cset_model
from reidkit.models.exchange import SimilarityExchange
from reidkit.models.mhga import HeterogeneousGraphAttention
from reidkit.models.vit import attention_path, create_vit
from reidkit.profiles import get_profile
from reidkit.train.ablation_spec import load_bundled_spec, load_spec
from reidkit.train.config import config_from_profile, load_config

SIZE = (64, 32)
CLASSES = 5


def tiny(**switches) -> CSET:
    """vit_nano streams (width 64, depth 2, a 8 x 4 grid): SE after block 1."""
    torch.manual_seed(0)
    return build_cset_model(CLASSES, SIZE, backbone="vit_nano", **switches)


def paired_batch(pairs: int = 4, seed: int = 0) -> Batch:
    """``pairs`` visible images, then their ``pairs`` infrared partners (two identities)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(pairs) % 2
    modalities = torch.tensor([0] * pairs + [1] * pairs)
    images = torch.randn(2 * pairs, 3, *SIZE, generator=generator)
    return Batch(torch.cat([labels, labels]), modalities, modalities, images)


def rows_of(batch: Batch, modality: int) -> torch.Tensor:
    return (batch.modalities == modality).nonzero().flatten()


def test_shapes_of_every_output():
    model, batch = tiny(), paired_batch()
    D = model.embed_dim
    out = model(batch)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "features": (8, 2 * D),  # [CLS; mean of MHGA's tokens]
        "logits": (8, CLASSES),
        "features_mixed": (8, 2 * D),
        "logits_mixed": (8, CLASSES),
        "ca_student": (8, D),
        "ca_teacher": (8, D),
    }
    tokens, graph = model.forward_features(batch.images, batch.modalities)
    assert tokens.shape == (8, 1 + 32, D) and graph.shape == (8, 32, D)
    assert model.forward_head([tokens, graph]).shape == (8, CLASSES)
    assert model.eval().forward_embedding(batch).shape == (8, 2 * D)
    plain = tiny(se="none", ca=False, mhga=False).eval()
    assert plain.forward_embedding(batch).shape == (8, D) and plain.feature_dim == D


def test_each_switch_builds_its_part_or_leaves_it_out():
    full = tiny()
    assert isinstance(full.exchange, SimilarityExchange) and full.exchange_after == (1,)
    assert isinstance(full.graph, HeterogeneousGraphAttention)
    assert set(full.ca) == {"visible", "infrared"}
    assert full.streams["visible"] is not full.streams["infrared"]  # not shared
    plain = tiny(se="none", ca=False, mhga=False)
    assert (plain.exchange, plain.ca, plain.graph, plain.exchange_after) == (None, None, None, ())
    assert set(plain(paired_batch())) == {"features", "logits"}
    for direction in ("i2v", "v2i", "both"):
        assert tiny(se=direction, ca=False, mhga=False).exchange.direction == direction
    params = {
        name: sum(p.numel() for p in tiny(**s).parameters())
        for name, s in [
            ("plain", {"se": "none", "ca": False, "mhga": False}),
            ("se", {"ca": False, "mhga": False}),  # SE has no parameters
            ("ca", {"mhga": False}),
            ("mhga", {}),
        ]
    }
    assert params["plain"] == params["se"] < params["ca"] < params["mhga"]


@pytest.mark.parametrize("direction, receives", [("i2v", 1), ("v2i", 0), ("both", None)])
def test_se_direction_changes_only_the_receiving_stream(direction, receives):
    model, batch = tiny(se=direction, ca=False, mhga=False), paired_batch()
    out = model(batch)
    for modality in (0, 1):
        rows = rows_of(batch, modality)
        same = torch.allclose(out["features"][rows], out["features_mixed"][rows])
        assert same == (receives is not None and modality != receives)


def test_se_layers_choose_where_the_exchange_runs():
    torch.manual_seed(0)
    streams = [create_vit("vit_nano", SIZE, depth=3) for _ in range(2)]
    calls = []

    class Recorder(torch.nn.Module):
        def forward(self, visible, infrared):
            calls.append(visible.shape)
            return visible, infrared + 1.0

    model = CSET(*streams, CLASSES, Recorder(), exchange_after=[2, 1])
    assert model.exchange_after == (1, 2)
    model(paired_batch())
    assert len(calls) == 2
    with pytest.raises(ValueError, match=r"blocks must lie in 1\.\.2"):
        CSET(*streams, CLASSES, Recorder(), exchange_after=[3])
    with pytest.raises(ValueError, match="exactly when there is an exchange module"):
        CSET(*streams, CLASSES, None, exchange_after=[1])
    with pytest.raises(ValueError, match="ca needs SE"):
        tiny(se="none", ca=True)


def test_ca_and_mhga_reach_the_loss_and_mhga_the_embedding():
    model, batch = tiny(), paired_batch()
    terms = CSETObjective(CSETLossOptions())(model(batch), batch, progress=1.0)
    terms["loss"].backward()
    for part in (model.ca, model.graph):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    model.eval()
    before = model.forward_embedding(batch)
    torch.nn.init.normal_(model.graph.proj.weight)
    assert not torch.allclose(model.forward_embedding(batch), before)


def test_at_test_an_embedding_depends_on_its_image_alone():
    model, batch = tiny().eval(), paired_batch(pairs=3, seed=1)
    exchange, ca = model.exchange, model.ca

    class Refuse(torch.nn.Module):
        def forward(self, *args):
            raise AssertionError("inference must not exchange tokens or run CA")

    model.exchange, model.ca = Refuse(), torch.nn.ModuleDict({"visible": Refuse()})
    together = model.forward_embedding(batch)
    for i in range(len(batch)):  # alone, in a batch of one
        single = Batch(
            batch.labels[i : i + 1],
            batch.modalities[i : i + 1],
            batch.cameras[i : i + 1],
            batch.images[i : i + 1],
        )
        torch.testing.assert_close(model.forward_embedding(single)[0], together[i])
    other = paired_batch(pairs=3, seed=2)  # the other images (both modalities) all change
    other.images[0] = batch.images[0]
    torch.testing.assert_close(model.forward_embedding(other)[0], together[0])
    order = torch.randperm(len(batch), generator=torch.Generator().manual_seed(0))
    shuffled = Batch(
        batch.labels[order], batch.modalities[order], batch.cameras[order], batch.images[order]
    )
    torch.testing.assert_close(model.forward_embedding(shuffled), together[order])
    model.exchange, model.ca = exchange, ca


def test_each_modality_goes_through_its_own_stream():
    model, batch = tiny().eval(), paired_batch()
    before = model.forward_embedding(batch)
    with torch.no_grad():
        model.streams["infrared"].cls_token.add_(1.0)
    after = model.forward_embedding(batch)
    visible, infrared = rows_of(batch, 0), rows_of(batch, 1)
    torch.testing.assert_close(after[visible], before[visible])
    assert not torch.allclose(after[infrared], before[infrared])


def test_training_needs_pairs_and_both_streams_only():
    model, batch = tiny(), paired_batch()
    labels = batch.labels.clone()
    labels[4:] = 1 - labels[4:]  # the n-th infrared image shows another identity
    unpaired = Batch(labels, batch.modalities, batch.cameras, batch.images)
    with pytest.raises(ValueError, match="sampler 'paired'"):
        model(unpaired)
    with pytest.raises(ValueError, match=r"4 visible and 3 infrared"):
        model(Batch(batch.labels[:7], batch.modalities[:7], batch.cameras[:7], batch.images[:7]))
    text = Batch(batch.labels, torch.full_like(batch.modalities, 3), batch.cameras, batch.images)
    with pytest.raises(ValueError, match=r"visible and infrared streams only.*'text'"):
        model.forward_embedding(text)
    with pytest.raises(ValueError, match="expected modalities"):
        model.forward_features(batch.images)
    assert get_method("cset").sampler == "paired"


def test_the_mixed_pass_leaves_the_running_statistics_to_the_clean_one():
    model, batch = tiny(), paired_batch()
    bn = model.neck.bn
    model(batch)
    assert int(bn.num_batches_tracked) == 1  # one update per step: the clean features'
    clean = model.pool(*model.forward_features(batch.images, batch.modalities)).detach()
    expected = (
        0.9 * 0.9 * torch.zeros_like(clean[0]) + 0.1 * 0.9 * clean.mean(0) + 0.1 * clean.mean(0)
    )
    model(batch)
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-4, atol=1e-5)


def test_objective_terms_and_the_total():
    batch = paired_batch()
    options = CSETLossOptions(distill_weight=2.0)
    objective = CSETObjective(options)
    terms = objective(tiny()(batch), batch, progress=1.0)
    assert set(terms) == {"loss", "ce", "triplet", "ce_mixed", "triplet_mixed", "distill"}
    w = options.triplet_weight
    expected = (
        terms["ce"] + w * terms["triplet"] + terms["ce_mixed"] + w * terms["triplet_mixed"]
    ) / 2
    torch.testing.assert_close(terms["loss"], expected + 2.0 * terms["distill"])
    assert set(objective(tiny(ca=False)(batch), batch, 1.0)) == {
        "loss",
        "ce",
        "triplet",
        "ce_mixed",
        "triplet_mixed",
    }
    plain = objective(tiny(se="none", ca=False, mhga=False)(batch), batch, 1.0)
    assert set(plain) == {"loss", "ce", "triplet"}
    torch.testing.assert_close(plain["loss"], plain["ce"] + w * plain["triplet"])
    warm = CSETObjective(CSETLossOptions(triplet_start_epoch=2.0))
    early = warm(tiny(se="none", ca=False, mhga=False)(batch), batch, progress=1.0)
    torch.testing.assert_close(early["loss"], early["ce"])  # the triplet waits
    assert (options.triplet, options.margin, options.label_smoothing) == ("batch_hard", 0.3, 0.1)
    with pytest.raises(ValueError, match="center_weight: CSET has no center loss"):
        CSETLossOptions(center_weight=0.1)


def test_cosine_distillation_hand_case_and_detached_teacher():
    student = torch.tensor([[1.0, 0.0], [3.0, 4.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 2.0], [6.0, 8.0]], requires_grad=True)
    loss = cosine_distillation(student, teacher)  # (1 - 0 + 1 - 1) / 2
    torch.testing.assert_close(loss, torch.tensor(0.5))
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        cosine_distillation(student, teacher[:1])
    model, batch = tiny(), paired_batch()
    out = model(batch)
    teacher_grad = torch.autograd.grad(
        cosine_distillation(out["ca_student"], out["ca_teacher"]),
        out["ca_teacher"],
        allow_unused=True,
    )[0]
    assert teacher_grad is None  # the clean feature is the target, not pulled


def test_ca_fused_and_explicit_paths_agree():
    torch.manual_seed(0)
    ca = MixedCleanAttention(64, 4).eval()
    mixed, clean = torch.randn(2, 9, 64), torch.randn(2, 9, 64)
    fused, none = ca(mixed, clean)
    with attention_path(ca, fused=False):
        explicit, weights = ca(mixed, clean)
    assert none is None and weights.shape == (2, 4, 9, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 9))
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    attn = CrossAttention(64, 4).eval()  # CrossViT's CLS-only call is attend's first row
    z = torch.randn(2, 9, 64)
    torch.testing.assert_close(attn(z)[0], attn.attend(z, z)[0][:, :1])


def test_streams_must_be_reidkit_vits_of_one_shape():
    with pytest.raises(ValueError, match="must be a reidkit.models.vit.VisionTransformer"):
        build_cset_model(CLASSES, SIZE, backbone="crossvit_nano")
    with pytest.raises(ValueError, match="equal shape"):
        CSET(create_vit("vit_nano", SIZE), create_vit("vit_nano", SIZE, depth=3), CLASSES)


def test_profile_options_follow_the_profile():
    for name in ("smoke", "quick"):
        profile = get_profile(name)
        options = config_from_profile(profile, method="cset").options
        depth = {"vit_hybrid_nano": 2, "vit_hybrid_cpu": 4}[profile.backbone]
        assert options.model.backbone == profile.backbone
        assert options.model.se_layers == list(range(1, depth))
        assert (options.model.se, options.model.ca, options.model.mhga) == ("both", True, True)
        assert options.loss.triplet_weight == 0.7 and options.loss.margin == 0.3
        assert options.loss.triplet_start_epoch == profile.epochs / 4


def test_the_table1_spec_switches_what_the_paper_switches(monkeypatch):
    monkeypatch.setenv("REIDKIT_PROFILE", "smoke")
    spec = load_spec("configs/ablations/cset_table1.yaml")
    assert spec.seeds == [0, 1, 2] and set(spec.paper.rows) == {r.name for r in spec.rows}
    switches = [
        (r.config.options.model.se, r.config.options.model.ca, r.config.options.model.mhga)
        for r in spec.rows
    ]
    assert switches == [  # the check marks of the paper's Table 1
        ("none", False, False),
        ("i2v", False, False),
        ("v2i", False, False),
        ("both", False, False),
        ("both", True, False),
        ("both", True, True),
    ]
    profile_data = config_from_profile(get_profile(), method="cset", out_dir="x")
    for row in spec.rows:  # every row on the profile's data and protocol (SYSU layout)
        c = row.config
        assert (c.method, c.data, c.eval) == ("cset", profile_data.data, profile_data.eval)
    assert spec.paper.rows["+ SE both + CA + MHGA"]["R1"] == 94.16
    assert spec.paper.rows["baseline"]["params (M)"] == 22.8
    repo, packaged = (
        Path("configs/ablations/cset_table1.yaml"),
        Path("reidkit/configs/ablations/cset_table1.yaml"),
    )
    assert repo.is_symlink() and repo.read_bytes() == packaged.read_bytes()
    bundled = load_bundled_spec("cset_table1")
    assert [r.config.to_dict() for r in bundled.rows] == [r.config.to_dict() for r in spec.rows]


def test_the_cset_config_builds():
    config = load_config("configs/cset.yaml")
    assert config.method == "cset" and config.data.dataset == "synthetic"
    assert (config.eval.split, config.eval.setting) == ("val", "all")
    regdb = load_config("configs/cset_regdb.yaml")
    assert regdb.data.dataset == "synthetic-regdb" and regdb.eval.setting == "i2v"
    assert regdb.options == config.options  # the same model and loss on the other data
    assert config.options.model.se_layers == [1, 2, 3]
    assert config.options.exchange.beta == SimilarityExchange().beta  # the module's default


def test_cset_trains_and_evaluates_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    run, log = train_tiny_run(
        tmp_path,
        {
            "epochs": 1,
            "method": "cset",
            "data": {"dataset": "synthetic-regdb", "train_ids": 4, "test_ids": 4},
            "eval": {"split": "test", "trials": 1, "setting": "i2v"},
            "cset": {"model": {"backbone": "vit_nano"}},
        },
    )
    train = [r for r in log if r["kind"] == "train"]
    assert train and all(
        {"ce", "triplet", "ce_mixed", "triplet_mixed", "distill"} <= set(r) for r in train
    )
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1] and 0 <= evals[0]["mAP"] <= 1
    assert main(["eval", str(run), "--protocol", "v2i"]) == 0


def test_cset_chapter_config_sets_the_data_and_only_the_given_switches():
    from reidkit.methods.cset import cset_chapter_config

    profile = get_profile("smoke")
    config = cset_chapter_config(profile, "ch10-mhga", {"se": "none", "ca": False})
    default = config_from_profile(profile, method="cset", out_dir="x")
    assert config.method == "cset" and config.data == default.data  # the profile's SYSU data
    assert config.eval == default.eval and config.data.dataset == "synthetic"
    assert config.out_dir.endswith("ch10-mhga-smoke") and config.epochs == profile.epochs
    m = config.options.model
    assert (m.se, m.ca, m.mhga, m.backbone) == ("none", False, True, profile.backbone)
    model = get_method("cset").build_model(config, CLASSES)
    assert model.exchange is None and model.ca is None and model.graph is not None
    regdb = cset_chapter_config(profile, "ch11-regdb", layout="regdb")
    assert regdb.data.dataset == "synthetic-regdb"
    assert (regdb.data.trial, regdb.eval.split, regdb.eval.setting) == (1, "test", "i2v")
    with pytest.raises(ValueError, match="layout must be one of"):
        cset_chapter_config(profile, "x", layout="llcm")


def test_shared_streams_are_one_vit_and_the_profiles_share_from_scratch():
    shared, apart = tiny(shared=True), tiny()
    assert shared.streams["visible"] is shared.streams["infrared"]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    stream = count(apart.streams["visible"])
    assert count(apart) - count(shared) == stream  # one stream's parameters fewer
    batch = paired_batch()
    outputs = shared(batch)
    assert outputs["logits"].shape == (len(batch), CLASSES)
    for name in ("smoke", "quick", "full"):  # offline, "full" resolves to from scratch too
        model_options = config_from_profile(get_profile(name), method="cset").options.model
        assert model_options.shared == (model_options.pretrained is None)
    weights = {"pretrained": "weights.safetensors"}  # a pretrained start: the paper's two
    assert not profile_options(dataclasses.replace(get_profile("quick"), **weights)).model.shared


def test_shared_streams_round_trip_through_safetensors(tmp_path):
    """One module under two names: every tensor, BatchNorm's 0-d counters included, comes back."""
    from safetensors.torch import save_model

    from reidkit.train.checkpoint import load_weights

    torch.manual_seed(0)
    model = build_cset_model(CLASSES, (64, 32), backbone="vit_hybrid_nano", shared=True)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.num_batches_tracked.fill_(7)
            module.running_mean.normal_()
    save_model(model, str(tmp_path / "w.safetensors"))
    torch.manual_seed(1)
    again = build_cset_model(CLASSES, (64, 32), backbone="vit_hybrid_nano", shared=True)
    load_weights(again, tmp_path / "w.safetensors")
    assert again.streams["visible"] is again.streams["infrared"]
    saved, loaded = model.state_dict(), again.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    other = build_cset_model(CLASSES, (64, 32), backbone="vit_hybrid_nano")  # two streams
    with pytest.raises(ValueError, match="do not fit the model"):
        load_weights(other, tmp_path / "w.safetensors")
