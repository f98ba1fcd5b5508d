"""The full profile's pretrained="auto" (ImageNet weights, else a hybrid from scratch) and the
cost estimate that sized it (reidkit.train.cost)."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest
import timm
import torch
from safetensors.torch import save_file

from reidkit.methods import get_method
from reidkit.models.backbones import build_backbone
from reidkit.profiles import PRETRAINED_ENV, get_profile, resolve_pretrained
from reidkit.train import config_from_profile
from reidkit.train.cost import GPUAssumption, RunCost, assumptions_text, model_flops, run_cost

# A full-like profile at smoke sizes: ViT-Ti has ImageNet weights in timm, the hybrid not.
AUTO = get_profile("smoke").replace(
    backbone="vit_tiny", pretrained="auto", scratch_backbone="vit_hybrid_nano", scratch_lr=7e-4
)


@pytest.fixture()
def no_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, with an empty Hugging Face cache and no weights file in the environment."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv(PRETRAINED_ENV, raising=False)


def test_full_asks_for_pretrained_weights_and_other_profiles_do_not_change() -> None:
    full = get_profile("full")
    assert (full.pretrained, full.backbone) == ("auto", "vit_small")
    assert full.scratch_backbone.startswith("vit_hybrid")
    for name in ("smoke", "quick"):
        profile = get_profile(name)
        assert profile.pretrained is None and resolve_pretrained(profile) is profile


def test_auto_uses_a_local_weights_file_and_says_so(
    no_hub: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    torch.manual_seed(0)
    timm_tiny = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in timm_tiny.state_dict().items()}, str(path))
    monkeypatch.setenv(PRETRAINED_ENV, str(path))
    config = config_from_profile(AUTO)
    out = capsys.readouterr().out
    assert "[pretrained] vit_tiny starts from ImageNet weights" in out and str(path) in out
    assert config.options.model.backbone == "vit_tiny"
    assert config.options.model.pretrained == str(path)
    assert config.optim.lr == AUTO.lr
    model = get_method("baseline").build_model(config, num_classes=5)
    block = model.backbone.blocks[3].attn.qkv.weight
    assert torch.equal(block, timm_tiny.blocks[3].attn.qkv.weight)


def test_auto_without_weights_trains_the_hybrid_from_scratch(no_hub: None, capsys) -> None:
    config = config_from_profile(AUTO)
    out = capsys.readouterr().out
    assert "[pretrained] no ImageNet weights for vit_tiny (HF_HUB_OFFLINE is set" in out
    assert "training vit_hybrid_nano from scratch, lr 0.0007" in out
    assert config.options.model.backbone == "vit_hybrid_nano"
    assert config.options.model.pretrained is None
    assert config.optim.lr == pytest.approx(7e-4)
    # a backbone without ImageNet weights goes straight to the hybrid, even online
    resolved = resolve_pretrained(AUTO.replace(backbone="vit_cpu"))
    assert resolved.backbone == "vit_hybrid_nano"
    assert "'vit_cpu' has no ImageNet weights" in capsys.readouterr().out


def test_auto_names_a_missing_weights_file_and_backbones_refuse_auto(no_hub: None) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        resolve_pretrained(AUTO, weights_file="/nowhere.safetensors")
    with pytest.raises(ValueError, match="'auto' belongs to a profile"):
        build_backbone("vit_tiny", (64, 32), pretrained="auto")


def test_flops_on_the_meta_device_match_a_real_count_and_backward_is_about_twice() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from reidkit.models import create_vit
    from reidkit.models.vit import attention_path

    def factory():
        return create_vit("vit_nano", img_size=(64, 32), num_classes=7)

    forward, total = model_flops(factory, (64, 32))
    model = factory()
    with attention_path(model, fused=False), FlopCounterMode(display=False) as counter:
        model.forward_head(model.forward_features(torch.randn(2, 3, 64, 32)))
    assert forward == counter.get_total_flops() / 2
    assert 2.8 * forward < total < 3.2 * forward  # backward ~ 2x forward for matmuls
    # by hand: patch 8 at 64x32 -> N = 1 + 8x4 tokens, D = 64, MLP 256, depth 2, 7 classes
    n, d = 33, 64
    block = 2 * n * d * 3 * d + 2 * (2 * n * n * d) + 2 * n * d * d + 2 * 2 * n * d * 4 * d
    embed, head = 2 * 32 * (3 * 8 * 8) * d, 2 * d * 7
    assert forward == 2 * block + embed + head


def test_run_cost_counts_the_sampler_steps_and_the_estimate_adds_up() -> None:
    from reidkit.data.samplers import CrossModalIdentitySampler
    from reidkit.train.datasets import open_dataset

    smoke = get_profile("smoke")
    cost = run_cost(smoke)
    dataset = open_dataset(config_from_profile(smoke).data)  # the layout the engine trains on
    sampler = CrossModalIdentitySampler(dataset.train, smoke.ids_per_batch, smoke.images_per_id)
    assert cost.steps_per_epoch == len(sampler) and cost.batch_size == sampler.batch_size
    assert cost.train_ids == len({r.pid for r in dataset.train})
    assert cost.train_images == len(dataset.train)
    assert cost.steps == cost.steps_per_epoch * smoke.epochs
    fake = RunCost("x", "b", (8, 4), 2, 10, 4, 100, 3, 2, 50, 600, 1e9, 3e9)
    gpu = GPUAssumption("G", peak_tflops=10.0, sustained_tflops=1.0, step_overhead_s=0.1)
    # 300 steps x (12e9 / 1e12 + 0.1) + 2 x 50 x 1e9 / 1e12 + 600 / 300 images per s
    assert fake.seconds(gpu) == pytest.approx(300 * 0.112 + 0.1 + 2.0)
    assert fake.seconds(gpu, rendered=True) == pytest.approx(300 * 0.112 + 0.1)
    assert "G: 1 TFLOP/s sustained (10% of the 10 TFLOP/s" in assumptions_text({"G": gpu})


def test_classifier_cost_is_chapter_3s_run() -> None:
    from reidkit.models import create_vit
    from reidkit.train.cost import classifier_cost

    smoke = get_profile("smoke")
    run = classifier_cost(smoke)
    assert (run["steps"], run["batch"]) == (smoke.classifier_steps, 8)  # P=4 x K=2
    _, total = model_flops(lambda: create_vit("vit_nano", (64, 32), 16), (64, 32))
    assert run["train_flops"] == total and run["train_flops_per_step"] == 8 * total
