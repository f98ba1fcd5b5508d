"""Chapter 6 exercises: CrossViT's pieces, checked against ``reidkit.models.crossvit``."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def reference_branch_sizes(
    img_size: tuple[int, int], patch_sizes: tuple[int, int], img_scales: tuple[float, float]
) -> tuple[tuple[int, int], ...]:
    from reidkit.models.crossvit import branch_image_sizes

    return tuple(branch_image_sizes(img_size, patch_sizes, img_scales))


def branch_size_cases() -> list[Case]:
    return [
        Case("240x240 with timm's scales", ((240, 240), (12, 16), (1.0, 224 / 240))),
        Case("256x128 with timm's scales", ((256, 128), (12, 16), (1.0, 224 / 240))),
        Case("128x64, patches 8 and 16, no scaling", ((128, 64), (8, 16), (1.0, 1.0))),
        Case("288x144, patches 12 and 16, scales 1 and 0.5", ((288, 144), (12, 16), (1.0, 0.5))),
    ]


def check_branch_image_sizes(fn: Callable[..., object]) -> CheckResult:
    """``fn(img_size, patch_sizes, img_scales)`` returns each branch's (height, width): each
    side times the branch's scale, truncated to an integer (``int``), then rounded down to a
    multiple of the branch's patch size."""
    return run_check(
        "branch_image_sizes",
        fn,
        reference_branch_sizes,
        branch_size_cases(),
        "reidkit.models.crossvit.branch_image_sizes",
    )


def _seeded_modules(seed: int, build: Callable[[], list[Case]]) -> list[Case]:
    """Build cases whose modules are initialised from ``seed``; the global state is put back."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.set_rng_state(state)


def reference_cross_attention_weights(attention, z: Tensor) -> Tensor:
    """The weights of ``reidkit.models.cross_attention.CrossAttention`` (explicit path)."""
    explicit = copy.deepcopy(attention)
    explicit.fused = False
    with torch.no_grad():
        return explicit(z)[1]


def cross_attention_cases(seed: int) -> list[Case]:
    from reidkit.models.cross_attention import CrossAttention

    g = generator(seed)

    def build() -> list[Case]:
        cases = []
        shapes = [(8, 2, 5, 1), (12, 3, 9, 2), (16, 1, 2, 1), (24, 6, 33, 2)]
        for dim, heads, tokens, batch in shapes:
            module = CrossAttention(dim, heads).eval()
            z = torch.randn(batch, tokens, dim, generator=g)
            cases.append(Case(f"D {dim}, {heads} heads, 1 + {tokens - 1} tokens", (module, z)))
        return cases

    return _seeded_modules(seed, build)


def check_cls_cross_attention(fn: Callable[..., Tensor]) -> CheckResult:
    """``fn(attention, z)`` takes a ``CrossAttention`` module and z = [CLS; patches]
    (B, 1+N, D) and returns eq. 6's weights (B, heads, 1, 1+N): the query from
    ``attention.wq`` on the CLS token alone, keys from ``attention.wk`` on every token, split
    into ``attention.num_heads`` heads, then ``softmax(q k^T / sqrt(head_dim))``."""
    return run_check(
        "cls_cross_attention",
        fn,
        reference_cross_attention_weights,
        cross_attention_cases(0),
        "reidkit.models.cross_attention.CrossAttention (explicit path)",
    )


def reference_fuse(block, tokens: list[Tensor]) -> tuple[Tensor, ...]:
    """``MultiScaleBlock.fuse``: both branches' tokens with their new CLS tokens."""
    with torch.no_grad():
        return tuple(block.fuse(tokens)[0])


def fusion_cases(seed: int) -> list[Case]:
    from reidkit.models.cross_attention import MultiScaleBlock

    g = generator(seed)

    def build() -> list[Case]:
        cases = []
        for dims, heads, patches, batch in [
            ((8, 16), (2, 2), (6, 3), 1),
            ((12, 24), (3, 3), (8, 2), 2),
            ((16, 16), (2, 4), (4, 4), 1),
        ]:
            block = MultiScaleBlock(dims, (1, 1), heads, (2.0, 2.0)).eval()
            tokens = [torch.randn(batch, 1 + n, d, generator=g) for n, d in zip(patches, dims)]
            cases.append(Case(f"widths {dims}, {heads} heads, {patches} patches", (block, tokens)))
        return cases

    return _seeded_modules(seed, build)


def check_cls_fusion(fn: Callable[..., object]) -> CheckResult:
    """``fn(block, tokens)`` performs eq. 5-8 with the modules of a ``MultiScaleBlock`` on
    tokens [(B, 1+N_0, D_0), (B, 1+N_1, D_1)] and returns both branches' new tokens. For
    branch b: ``block.projs[b]`` projects its CLS, which is put before the *other* branch's
    patch tokens; ``block.fusion[b]`` (a ``CrossAttentionBlock``: call it, it returns the new
    CLS and the weights) updates it; ``block.revert_projs[b]`` projects it back, and it
    replaces branch b's old CLS. Both directions read the tokens as given."""
    return run_check(
        "cls_fusion",
        fn,
        reference_fuse,
        fusion_cases(0),
        "reidkit.models.cross_attention.MultiScaleBlock.fuse",
    )
