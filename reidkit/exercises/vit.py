"""Chapter 3 exercises: the pieces of a Vision Transformer, checked against ``reidkit.models``."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def reference_patch_embedding(
    images: Tensor, weight: Tensor, bias: Tensor, patch_size: int
) -> Tensor:
    """``reidkit.models.vit.PatchEmbed`` with the given projection weights."""
    from reidkit.models.vit import PatchEmbed

    embed = PatchEmbed(
        tuple(images.shape[-2:]), patch_size, patch_size, images.shape[1], weight.shape[0]
    )
    with torch.no_grad():
        embed.proj.weight.copy_(weight)
        embed.proj.bias.copy_(bias)
        return embed(images)


def patch_cases(seed: int) -> list[Case]:
    g = generator(seed)

    def case(description: str, batch: int, chans: int, size: tuple[int, int], patch: int, dim: int):
        images = torch.randn(batch, chans, *size, generator=g)
        weight = torch.randn(dim, chans, patch, patch, generator=g) * 0.1
        return Case(description, (images, weight, torch.randn(dim, generator=g), patch))

    return [
        case("one 32x16 image, 8-pixel patches, D 12", 1, 3, (32, 16), 8, 12),
        case("two 64x32 images, 16-pixel patches, D 24", 2, 3, (64, 32), 16, 24),
        case("one channel, 4-pixel patches, D 5", 2, 1, (16, 12), 4, 5),
        case("36x20: the border that fits no patch is dropped", 1, 3, (36, 20), 8, 6),
    ]


def check_patch_embedding(fn: Callable[[Tensor, Tensor, Tensor, int], Tensor]) -> CheckResult:
    """``fn(images, weight, bias, patch_size)`` cuts (B, C, H, W) images into non-overlapping
    ``patch_size`` squares in row-major order and projects each flattened patch with ``weight``
    (D, C, P, P) and ``bias`` (D,), returning (B, N, D): what ``PatchEmbed`` computes with a
    strided convolution. Write it without a convolution (``unfold`` or reshapes, then a
    matrix product)."""
    return run_check(
        "patch_embedding",
        fn,
        reference_patch_embedding,
        patch_cases(0),
        "reidkit.models.vit.PatchEmbed",
        atol=1e-4,
    )


def reference_attention_weights(attention, h: Tensor) -> Tensor:
    """The weights of ``reidkit.models.vit.Attention`` on ``h`` (its explicit path)."""
    explicit = copy.deepcopy(attention)
    explicit.fused = False
    with torch.no_grad():
        return explicit(h)[1]


def attention_cases(seed: int) -> list[Case]:
    from reidkit.models.vit import Attention

    g = generator(seed)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)  # the modules' initialisation; the global state is put back
    try:
        shapes = [(8, 2, 5, 1), (12, 3, 9, 2), (16, 1, 4, 1), (24, 6, 17, 2)]
        cases = []
        for dim, heads, tokens, batch in shapes:
            module = Attention(dim, heads).eval()
            h = torch.randn(batch, tokens, dim, generator=g)
            cases.append(
                Case(f"D {dim}, {heads} heads, {tokens} tokens, batch {batch}", (module, h))
            )
        return cases
    finally:
        torch.set_rng_state(torch_state)


def check_attention_weights(fn: Callable[..., Tensor]) -> CheckResult:
    """``fn(attention, h)`` takes a ``reidkit.models.vit.Attention`` module and its input
    (B, N, D) and returns its attention weights (B, heads, N, N): ``attention.qkv(h)`` split
    into queries, keys and values of ``attention.num_heads`` heads, then
    ``softmax(q k^T / sqrt(head_dim))``."""
    return run_check(
        "attention_weights",
        fn,
        reference_attention_weights,
        attention_cases(0),
        "reidkit.models.vit.Attention (explicit path)",
    )


def position_cases(seed: int) -> list[Case]:
    g = generator(seed)

    def case(description: str, old: tuple[int, int], new: tuple[int, int], dim: int) -> Case:
        return Case(description, (torch.randn(1, 1 + old[0] * old[1], dim, generator=g), old, new))

    return [
        case("14x14 (224x224) to 16x8 (256x128)", (14, 14), (16, 8), 6),
        case("14x14 to 8x4: shrinking", (14, 14), (8, 4), 4),
        case("the same grid: unchanged", (4, 4), (4, 4), 3),
        case("7x7 to 21x10: enlarging", (7, 7), (21, 10), 5),
    ]


def check_resize_pos_embed(fn: Callable[[Tensor, tuple, tuple], Tensor]) -> CheckResult:
    """``fn(pos_embed, old_grid, new_grid)`` resizes a (1, 1 + N, D) position embedding learnt
    on ``old_grid`` patches to ``new_grid``: the CLS entry is kept, the patch entries are laid
    out as a (D, h, w) image and resized bicubically (antialiased when a side shrinks), as
    ``reidkit.models.pretrained.resize_pos_embed`` does."""
    from reidkit.models.pretrained import resize_pos_embed

    return run_check(
        "resize_pos_embed",
        fn,
        resize_pos_embed,
        position_cases(0),
        "reidkit.models.pretrained.resize_pos_embed",
    )


def rollout_cases(seed: int) -> list[Case]:
    g = generator(seed)

    def weights(layers: int, batch: int, heads: int, grid: tuple[int, int]) -> list[Tensor]:
        tokens = 1 + grid[0] * grid[1]
        return [
            torch.randn(batch, heads, tokens, tokens, generator=g).softmax(-1)
            for _ in range(layers)
        ]

    return [
        Case("one layer, 2 heads, a 2x2 grid", (weights(1, 1, 2, (2, 2)), (2, 2))),
        Case("three layers, batch 2, a 4x2 grid", (weights(3, 2, 3, (4, 2)), (4, 2))),
        Case("residual 0: attention alone", (weights(2, 1, 2, (3, 2)), (3, 2)), {"residual": 0.0}),
        Case("residual 0.9", (weights(4, 1, 1, (2, 3)), (2, 3)), {"residual": 0.9}),
    ]


def check_attention_rollout(fn: Callable[..., Tensor]) -> CheckResult:
    """``fn(attentions, grid, residual=0.5)`` takes one (B, heads, 1+N, 1+N) attention tensor
    per block and returns the rollout map (B, grid_h, grid_w): per layer, the mean over heads
    mixed with the identity (``residual * I + (1 - residual) * A``), rows renormalised, the
    layers multiplied (later layers on the left), then the CLS row over the patches, as
    ``reidkit.viz.attention.attention_rollout`` does (Abnar and Zuidema, 2020)."""
    from reidkit.viz.attention import attention_rollout

    return run_check(
        "attention_rollout",
        fn,
        attention_rollout,
        rollout_cases(0),
        "reidkit.viz.attention.attention_rollout",
    )
