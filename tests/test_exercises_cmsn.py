"""Chapter 14's exercise checkers (``reidkit.exercises.cmsn``): each passes a hand-written
solution and fails a plausible wrong answer, saying which case and what differs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reidkit.exercises import cmsn


# Hand-written solutions, as a learner would write them.
def my_cria_loss(image, text, combined, labels, normalise=True, per_row=False):
    """``per_row`` and ``normalise=False`` are the wrong answers below."""
    total, people = 0.0, labels if per_row else labels.unique()
    for person in people:
        rows = labels == person
        c = [
            (F.normalize(x, dim=1) if normalise else x)[rows].mean(0)
            for x in (image, text, combined)
        ]
        total = total + (c[0] - c[1]).pow(2).sum() + (c[0] - c[2]).pow(2).sum()
        total = total + (c[1] - c[2]).pow(2).sum()
    return total / len(people)


def my_semi_positive_triplet(image, text, labels, margin, semi_margin):
    s = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T  # (B, B)
    same = labels[:, None] == labels[None, :]

    def direction(s):
        losses = []
        for i in range(len(labels)):
            if same[i].all():
                losses.append(torch.tensor(0.0))
                continue
            h = s[i][~same[i]].max()
            loss = F.relu(margin - s[i, i] + h)
            semi = same[i].clone()
            semi[i] = False
            if semi.any():
                loss = loss + F.relu(semi_margin - s[i][semi] + h).mean()
            losses.append(loss)
        return torch.stack(losses).mean()

    return direction(s) + direction(s.T)


def my_masked_attention(q, k, v, key_mask):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, h, M, N)
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def my_depth_keys(tokens, depth_embed, key_mask):
    keys = torch.cat([t + depth_embed[d] for d, t in enumerate(tokens)], dim=1)
    return keys, torch.cat([key_mask.bool()] * len(tokens), dim=1)


CHECKS = [
    (
        cmsn.check_cria_loss,
        my_cria_loss,
        lambda *args: my_cria_loss(*args, per_row=True),  # averaged over rows, not people
        "3 rows of one person, 2 of another",
    ),
    (
        cmsn.check_cria_loss,
        my_cria_loss,
        lambda *args: my_cria_loss(*args, normalise=False),  # the rows not normalised
        "3 people x 2 pairs",
    ),
    (
        cmsn.check_semi_positive_triplet,
        my_semi_positive_triplet,
        lambda image, text, labels, margin, semi_margin: my_semi_positive_triplet(
            image,
            text,
            labels,
            margin,
            margin,  # the semi-positives held to the full margin
        ),
        "3 people x 2 pairs",
    ),
    (
        cmsn.check_masked_attention,
        my_masked_attention,
        lambda q, k, v, key_mask: my_masked_attention(q, k, v, torch.ones_like(key_mask)),
        "captions of 3, 6 and 1 real keys",  # padding attended to
    ),
    (
        cmsn.check_depth_keys,
        my_depth_keys,
        lambda tokens, depth_embed, key_mask: (
            torch.cat(tokens, dim=1),
            my_depth_keys(tokens, depth_embed, key_mask)[1],
        ),  # the depth embeddings forgotten
        "2 depths of 4 tokens",
    ),
]


@pytest.mark.parametrize(
    "check, right, wrong, words", CHECKS, ids=[f"{c[0].__name__}-{c[3]}" for c in CHECKS]
)
def test_check_passes_a_right_answer_and_fails_a_wrong_one(check, right, wrong, words):
    passed = check(right)
    assert passed and passed.message.startswith("✓"), passed.message
    failed = check(wrong)
    assert not failed and failed.message.startswith("✗"), failed.message
    assert words in failed.message
    assert failed.failing_case is not None and repr(failed) == failed.message


def test_the_checks_pass_the_library_and_leave_the_random_state_alone():
    from reidkit.losses import cria_loss, semi_positive_triplet
    from reidkit.models.cmsn import depth_keys, masked_attention

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    for check, reference in (
        (cmsn.check_cria_loss, cria_loss),
        (cmsn.check_semi_positive_triplet, semi_positive_triplet),
        (cmsn.check_masked_attention, masked_attention),
        (cmsn.check_depth_keys, depth_keys),
    ):
        assert check(reference)
        assert "not written yet" in check(_stub).message
    assert torch.equal(torch.rand(2), expected)


def _stub(*args):
    raise NotImplementedError
