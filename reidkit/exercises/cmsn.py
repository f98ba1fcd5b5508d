"""Chapter 14 exercises: CMSN's two losses and IMFI's two steps, checked against
``reidkit.losses.cmsn`` and ``reidkit.models.cmsn``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reidkit.exercises.checking import Case, CheckResult, generator, run_check


def check_cria_loss(fn: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]) -> CheckResult:
    """``fn(image, text, combined, labels)`` returns CRIA: every feature L2-normalised, the
    centre (mean) of each identity's image, text and combined features, the sum of the three
    squared distances between an identity's centres, averaged over the identities in the batch
    (each identity once, whatever its number of rows)."""
    from reidkit.losses import cria_loss

    g = generator(0)
    x = torch.randn(4, 6, generator=g)
    cases = [
        Case(
            "a P x K batch, 3 people x 2 pairs",
            (*torch.randn(3, 6, 8, generator=g), torch.tensor([0, 0, 1, 1, 2, 2])),
        ),
        Case(
            "features of very different lengths; 3 rows of one person, 2 of another",
            (
                10 * torch.randn(5, 4, generator=g),
                0.1 * torch.randn(5, 4, generator=g),
                torch.randn(5, 4, generator=g),
                torch.tensor([3, 3, 3, 7, 7]),
            ),
        ),
        Case(
            "one person with 3 rows, two with 1",
            (*torch.randn(3, 5, 4, generator=g), torch.tensor([4, 1, 4, 4, 9])),
        ),
        Case("text = 2 x image, c = image: centres agree", (x, 2 * x, x, torch.arange(4) // 2)),
    ]
    return run_check("cria_loss", fn, cria_loss, cases, "reidkit.losses.cria_loss")


def check_semi_positive_triplet(
    fn: Callable[[Tensor, Tensor, Tensor, float, float], Tensor],
) -> CheckResult:
    """``fn(image, text, labels, margin, semi_margin)`` returns SPT on cosine similarities,
    image -> captions plus caption -> images: for each anchor, ``[margin - s(paired) + h]_+``
    plus the mean over its semi-positives (other items of its identity) of
    ``[semi_margin - s(semi) + h]_+``, h its hardest (most similar) negative, averaged over the
    anchors; an anchor with no negative adds 0, one with no semi-positive only the first hinge."""
    from reidkit.losses import semi_positive_triplet

    g = generator(1)
    cases = [
        Case(
            "4 different people: no semi-positives",
            (*torch.randn(2, 4, 8, generator=g), torch.arange(4), 0.3, 0.1),
        ),
        Case(
            "a P x K batch, 3 people x 2 pairs",
            (*torch.randn(2, 6, 8, generator=g), torch.tensor([0, 0, 1, 1, 2, 2]), 0.3, 0.1),
        ),
        Case(
            "one person 3 times, margins 0.5 and 0.2",
            (*torch.randn(2, 5, 4, generator=g), torch.tensor([2, 2, 2, 5, 8]), 0.5, 0.2),
        ),
        Case(
            "everyone the same person: no negatives",
            (*torch.randn(2, 3, 4, generator=g), torch.zeros(3, dtype=torch.long), 0.3, 0.1),
        ),
    ]
    return run_check(
        "semi_positive_triplet",
        fn,
        semi_positive_triplet,
        cases,
        "reidkit.losses.semi_positive_triplet",
    )


def check_masked_attention(
    fn: Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]],
) -> CheckResult:
    """``fn(q, k, v, key_mask)`` with q (B, heads, M, d), k and v (B, heads, N, d) and
    key_mask (B, N) of True (a real key) and False (padding) returns ``(out, weights)``:
    weights = softmax(q k^T / sqrt(d)) over the real keys only (0 on padding), (B, heads, M, N),
    and out = weights @ v, (B, heads, M, d)."""
    from reidkit.models.cmsn import masked_attention

    g = generator(2)
    ragged = torch.tensor([[True] * 3 + [False] * 3, [True] * 6, [True] + [False] * 5])

    def qkv(b: int, heads: int, m: int, n: int, d: int) -> tuple[Tensor, Tensor, Tensor]:
        return tuple(torch.randn(b, heads, length, d, generator=g) for length in (m, n, n))

    cases = [
        Case("no padding, one head, one query", (*qkv(2, 1, 1, 5, 4), torch.ones(2, 5).bool())),
        Case("captions of 3, 6 and 1 real keys, 2 heads", (*qkv(3, 2, 1, 6, 8), ragged)),
        Case("3 queries, 4 heads, head width 2", (*qkv(3, 4, 3, 6, 2), ragged)),
    ]
    q, k, v = qkv(3, 2, 1, 6, 4)
    k = k + 50 * (~ragged)[:, None, :, None]  # padded keys would win every softmax
    cases.append(Case("padded keys hold large numbers", (q, k, v, ragged)))
    return run_check(
        "masked_attention", fn, masked_attention, cases, "reidkit.models.cmsn.masked_attention"
    )


def check_depth_keys(
    fn: Callable[[list[Tensor], Tensor, Tensor], tuple[Tensor, Tensor]],
) -> CheckResult:
    """``fn(tokens, depth_embed, key_mask)``: ``tokens`` is a list of k tensors (B, N, E), one
    per depth, ``depth_embed`` (k, E), ``key_mask`` (B, N). Returns ``(keys, mask)``: keys
    (B, k*N, E), depth after depth, each depth's tokens plus its embedding, and the mask
    repeated for every depth, (B, k*N), as booleans."""
    from reidkit.models.cmsn import depth_keys

    g = generator(3)
    ragged = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    cases = [
        Case(
            "2 depths of 4 tokens, no padding",
            (
                list(torch.randn(2, 2, 4, 3, generator=g)),
                torch.randn(2, 3, generator=g),
                torch.ones(2, 4, dtype=torch.long),
            ),
        ),
        Case(
            "3 depths, a caption with padding",
            (list(torch.randn(3, 2, 4, 5, generator=g)), torch.randn(3, 5, generator=g), ragged),
        ),
        Case(
            "one depth, tokens all zero: the keys are the embedding",
            ([torch.zeros(2, 4, 3)], torch.randn(1, 3, generator=g), ragged),
        ),
    ]
    return run_check("depth_keys", fn, depth_keys, cases, "reidkit.models.cmsn.depth_keys")
