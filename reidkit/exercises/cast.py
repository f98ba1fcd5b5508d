"""Chapter 15 exercises: the X-ray branch's tokens, the pairs GLAA reads and GLAA's attention,
checked against ``reidkit.models.cast``.

The chapter lists them as ``CAST_CHECKS`` (they join ``CHAPTER_EXERCISES`` with its notebook).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from reidkit.exercises.checking import Case, CheckResult, generator, keep_random_state, run_check


def _layer_norm(dim: int, seed: int) -> nn.LayerNorm:
    """A LayerNorm whose scale and shift are not 1 and 0 (so forgetting them shows)."""
    with keep_random_state():
        torch.manual_seed(seed)
        norm = nn.LayerNorm(dim, eps=1e-6)
        nn.init.normal_(norm.weight, 1.0, 0.3)
        nn.init.normal_(norm.bias, 0.0, 0.3)
    return norm


def check_branch_tokens(
    fn: Callable[[Tensor, Tensor, Tensor, Tensor, nn.Module | None, Tensor | None], Tensor],
) -> CheckResult:
    """``fn(patches, is_xray, cls_token, pos_embed, norm, modality_embedding)`` returns z_0
    (B, 1+N, D) of a mixed batch: for every image ``[cls; patches] + pos_embed``; for the X-ray
    rows (``is_xray`` (B,) True) the patches first go through ``norm`` (CAST's LayerNorm) and
    ``modality_embedding`` (1, 1, D) is added to every token afterwards. ``norm`` or
    ``modality_embedding`` None: that part is off. patches (B, N, D), cls_token (1, 1, D),
    pos_embed (1, 1+N, D)."""
    from reidkit.models.cast import branch_tokens

    g = generator(0)
    B, N, D = 4, 6, 8

    def parts(xray: list[bool], norm: bool = True, embed: bool = True) -> tuple:
        return (
            torch.randn(B, N, D, generator=g),
            torch.tensor(xray),
            torch.randn(1, 1, D, generator=g),
            torch.randn(1, 1 + N, D, generator=g),
            _layer_norm(D, 1) if norm else None,
            torch.randn(1, 1, D, generator=g) if embed else None,
        )

    cases = [
        Case("two photographs, then two scans", parts([False, False, True, True])),
        Case("interleaved modalities", parts([True, False, True, False])),
        Case("scans only, LayerNorm off", parts([True] * 4, norm=False)),
        Case("scans only, modality embedding off", parts([True] * 4, embed=False)),
        Case(
            "both parts off: the plain ViT's eq. 1", parts([False, True, True, False], False, False)
        ),
    ]
    return run_check("branch_tokens", fn, branch_tokens, cases, "reidkit.models.cast.branch_tokens")


def check_partner_rows(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(modalities, labels)`` returns (B,) integers: the batch row of each image's partner,
    the n-th visible image (modality 0, in batch order) pairing with the n-th X-ray image
    (modality 2). Every batch here is paired: both show the same package."""
    from reidkit.models.cast import partner_rows

    V, X = 0, 2
    layouts = {
        "one package, one pair": ([V, X], [7, 7]),
        "P x K blocks, K = 2 (as the sampler deals them)": (
            [V, V, X, X, V, V, X, X],
            [0, 0, 0, 0, 3, 3, 3, 3],
        ),
        "all photographs first, then all scans": ([V, V, V, X, X, X], [1, 2, 1, 1, 2, 1]),
        "interleaved": ([X, V, V, X], [4, 4, 5, 5]),
    }
    cases = [
        Case(words, (torch.tensor(modalities), torch.tensor(labels)))
        for words, (modalities, labels) in layouts.items()
    ]
    return run_check("partner_rows", fn, partner_rows, cases, "reidkit.models.cast.partner_rows")


def _glaa(dim: int, heads: int, seed: int):
    from reidkit.models.cast import GLAA

    with keep_random_state():
        torch.manual_seed(seed)
        module = GLAA(dim, heads).eval()
        for norm in (module.norm_global, module.norm_local):
            nn.init.normal_(norm.weight, 1.0, 0.3)
            nn.init.normal_(norm.bias, 0.0, 0.3)
    return module


def reference_glaa_attention(
    glaa: nn.Module, cls: Tensor, patches: Tensor
) -> tuple[Tensor, Tensor]:
    """GLAA's explicit path: the attended feature (B, D) and the weights (B, heads, N)."""
    from reidkit.models.vit import attention_path

    with torch.no_grad(), attention_path(glaa, fused=False):
        return glaa(cls, patches)


def check_glaa_attention(
    fn: Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor]],
) -> CheckResult:
    """``fn(glaa, cls, patches)`` with a ``reidkit.models.cast.GLAA`` module, CLS tokens (B, D)
    and the partners' patch tokens (B, N, D) returns ``(attended (B, D), weights (B, heads,
    N))`` using the module's layers: q = attn.wq(norm_global(cls)), k and v from
    norm_local(patches) through attn.wk and attn.wv, per head softmax(q k^T / sqrt(head_dim))
    over the N patches, the weighted values with the heads side by side, then attn.proj."""
    g = generator(2)
    cases = [
        Case("2 heads, 3 images of 6 patches", (_glaa(8, 2, 0), *_inputs(g, 3, 6, 8))),
        Case("1 head", (_glaa(8, 1, 1), *_inputs(g, 2, 5, 8))),
        Case("4 heads, one image of 12 patches", (_glaa(16, 4, 2), *_inputs(g, 1, 12, 16))),
    ]
    return run_check(
        "glaa_attention",
        fn,
        reference_glaa_attention,
        cases,
        "reidkit.models.cast.GLAA (explicit path)",
    )


def _inputs(g: torch.Generator, b: int, n: int, d: int) -> tuple[Tensor, Tensor]:
    return torch.randn(b, d, generator=g), torch.randn(b, n, d, generator=g)


CAST_CHECKS = (check_branch_tokens, check_partner_rows, check_glaa_attention)
