"""Chapter 7 exercises: channel attention, spatial attention and CSA on tokens, checked against
``reidkit.models.csa``."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from reidkit.exercises.checking import Case, CheckResult, generator, keep_random_state, run_check


def _seeded_csa(dim: int, reduction: int, seed: int):
    from reidkit.models.csa import ChannelSpatialAttention

    with keep_random_state():  # building the module draws its initial weights
        module = ChannelSpatialAttention(dim, reduction)
    g = generator(seed)
    with torch.no_grad():  # weights from the case's generator, not the global random state
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g) * 0.3)
    return module


def map_cases(seed: int) -> list[tuple[str, Tensor, object]]:
    """(description, feature map (B, C, h, w), CSA module) triples shared by the checks."""
    g = generator(seed)
    return [
        (
            "two 4x2 maps, 32 channels",
            torch.randn(2, 32, 4, 2, generator=g),
            _seeded_csa(32, 16, 1),
        ),
        ("one 8x4 map, 64 channels", torch.randn(1, 64, 8, 4, generator=g), _seeded_csa(64, 16, 2)),
        (
            "all values negative (max is not 0)",
            -1 - torch.rand(2, 16, 3, 3, generator=g),
            _seeded_csa(16, 4, 3),
        ),
        (
            "an infrared-like map: every channel equal",
            torch.randn(1, 1, 4, 4, generator=g).expand(3, 16, 4, 4).clone(),
            _seeded_csa(16, 4, 4),
        ),
    ]


def reference_channel_attention(x: Tensor, mlp: nn.Module) -> Tensor:
    from reidkit.models.csa import ChannelAttention

    with keep_random_state():
        module = ChannelAttention(x.shape[1])
    module.mlp = copy.deepcopy(mlp)
    with torch.no_grad():
        return module(x)


def check_channel_attention(fn: Callable[[Tensor, nn.Module], Tensor]) -> CheckResult:
    """``fn(x, mlp)`` returns eq. 10's channel weights (B, C) of a feature map x (B, C, h, w):
    ``sigmoid(mlp(average over h, w) + mlp(maximum over h, w))`` with the one shared ``mlp``
    (it maps (B, C) to (B, C))."""
    cases = [Case(d, (x, csa.channel.mlp)) for d, x, csa in map_cases(0)]
    return run_check(
        "channel_attention",
        fn,
        reference_channel_attention,
        cases,
        "reidkit.models.csa.ChannelAttention",
        atol=1e-5,
    )


def reference_spatial_attention(x: Tensor, conv: nn.Conv2d) -> Tensor:
    from reidkit.models.csa import SpatialAttention

    with keep_random_state():
        module = SpatialAttention(conv.kernel_size[0])
    module.conv = copy.deepcopy(conv)
    with torch.no_grad():
        return module(x)


def check_spatial_attention(fn: Callable[[Tensor, nn.Conv2d], Tensor]) -> CheckResult:
    """``fn(x, conv)`` returns eq. 12's spatial map (B, h, w) of a feature map x (B, C, h, w)
    in the CBAM form: the mean over channels and the maximum over channels, stacked in that
    order as two input channels (B, 2, h, w), through ``conv`` (2 -> 1 channel, 7x7, padding
    3), then a sigmoid."""
    cases = [Case(d, (x, csa.spatial.conv)) for d, x, csa in map_cases(10)]
    return run_check(
        "spatial_attention",
        fn,
        reference_spatial_attention,
        cases,
        "reidkit.models.csa.SpatialAttention",
        atol=1e-5,
    )


def reference_csa_tokens(tokens: Tensor, grid: tuple[int, int], csa: nn.Module) -> Tensor:
    with torch.no_grad():
        return copy.deepcopy(csa)(tokens, grid)


def token_cases(seed: int) -> list[Case]:
    cases = []
    for description, x, csa in map_cases(seed):
        B, C, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2).contiguous()  # (B, h*w, C), row-major
        cases.append(Case(f"{description}: {B} x {h * w} tokens", (tokens, (h, w), csa)))
    return cases


def check_csa_tokens(fn: Callable[[Tensor, tuple[int, int], nn.Module], Tensor]) -> CheckResult:
    """``fn(tokens, grid, csa)`` applies CSA to patch tokens (B, N, C) of a row-major ``grid``
    (h, w) and returns tokens (B, N, C): put the tokens on their grid (B, C, h, w), multiply by
    the channel weights ``csa.channel(map)`` (B, C), then by the spatial map
    ``csa.spatial(refined map)`` (B, h, w), and back to tokens. Watch the reshape: tokens are
    (B, N, C), a map is (B, C, h, w)."""
    return run_check(
        "csa_tokens",
        fn,
        reference_csa_tokens,
        token_cases(20),
        "reidkit.models.csa.ChannelSpatialAttention",
        atol=1e-5,
    )
