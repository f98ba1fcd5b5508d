"""from_timm: timm weights into reidkit's ViT from a local safetensors file, E_pos resizing,
and a fast, clear failure when the hub cannot be reached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

from reidkit.models import from_timm, resize_pos_embed
from reidkit.models.pretrained import PretrainedWeightsUnavailable

NAME = "vit_tiny_patch16_224"


@pytest.fixture(scope="module")
def timm_224() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(NAME, pretrained=False).eval()


@pytest.fixture(scope="module")
def weights_file(timm_224: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in timm_224.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("new_grid", [(16, 8), (4, 2), (18, 9), (14, 14)])
def test_resize_pos_embed_is_timms_bicubic_grid_resampling(new_grid: tuple[int, int]) -> None:
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 14 * 14, 32)
    ours = resize_pos_embed(pos, (14, 14), new_grid)
    assert ours.shape == (1, 1 + new_grid[0] * new_grid[1], 32)
    assert torch.equal(ours[:, :1], pos[:, :1])  # the CLS entry is kept
    theirs = resample_abs_pos_embed(pos, list(new_grid), [14, 14], num_prefix_tokens=1)
    assert (ours - theirs).abs().max() < 1e-5
    with pytest.raises(ValueError, match="expected 1 \\+ 13x14"):
        resize_pos_embed(pos, (13, 14), new_grid)


def test_same_size_load_is_exact(timm_224: torch.nn.Module, weights_file: Path) -> None:
    model = from_timm(NAME, img_size=224, num_classes=1000, weights_file=weights_file).eval()
    ours = model.state_dict()
    for key, value in timm_224.state_dict().items():
        assert torch.equal(ours[key], value), key
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - timm_224(x)).abs().max() < 1e-5


def test_reid_size_load_matches_timm_resampled(
    timm_224: torch.nn.Module, weights_file: Path
) -> None:
    model = from_timm(NAME, img_size=(64, 32), weights_file=weights_file).eval()
    assert model.num_classes == 0 and isinstance(model.head, torch.nn.Identity)
    state = dict(timm_224.state_dict())
    state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], [4, 2], [14, 14])
    reference = timm.create_model(NAME, pretrained=False, img_size=(64, 32), num_classes=0).eval()
    del state["head.weight"], state["head.bias"]
    reference.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() < 1e-5
        assert (model.forward_features(x) - reference.forward_features(x)).abs().max() < 1e-5


def test_overlapping_stride_gets_a_resized_grid(weights_file: Path) -> None:
    model = from_timm(NAME, img_size=(256, 128), weights_file=weights_file, stride=12)
    assert model.patch_embed.grid_size == (21, 10)
    assert model.pos_embed.shape == (1, 1 + 210, 192)


def test_bad_weights_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be a .safetensors file"):
        from_timm(NAME, weights_file=tmp_path / "model.pth")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        from_timm(NAME, weights_file=tmp_path / "missing.safetensors")
    save_file({"something": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="no 'pos_embed'"):
        from_timm(NAME, weights_file=tmp_path / "other.safetensors")


def test_unsupported_timm_models_are_refused() -> None:
    with pytest.raises(ValueError, match="not a plain ViT"):
        from_timm("deit3_small_patch16_224", pretrained=False)
    with pytest.raises(ValueError, match="not a plain ViT"):
        from_timm("vit_base_patch16_reg4_gap_256", pretrained=False)


def test_no_weights_without_pretrained() -> None:
    model = from_timm("vit_tiny", img_size=(64, 32), pretrained=False)
    assert model.embed_dim == 192 and len(model.blocks) == 12


def test_offline_fails_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable) as error:
        from_timm("vit_small", img_size=(256, 128))
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert "HF_HUB_OFFLINE is set" in message
    assert "train from scratch" in message and "weights_file=" in message


def test_unreachable_hub_fails_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable, match="hub cannot be reached"):
        from_timm("vit_small", img_size=(256, 128))
    assert time.monotonic() - start < 15
