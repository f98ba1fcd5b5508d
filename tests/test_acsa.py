"""ACSA's local branch: phrase chunking, phrase tokens and features, two-scale regions, and the
SCAN-style asymmetric cross-attention (hand-computed cases, explicit vs batched, masking)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reidkit.data import wordpiece_tokenizer
from reidkit.data.phrases import NOUNS, PhraseTokenizer, phrase_spans, phrase_token_mask
from reidkit.data.synth import SynthSettings, image_captions
from reidkit.models.acsa import (
    AsymmetricCrossAlignment,
    combined_score,
    phrase_features,
    region_features,
)

EXAMPLE = "A person in a red jacket and black trousers, carrying a black crossbody bag."


@pytest.fixture(scope="module")
def captions() -> list[str]:
    """30 synthetic captions: 15 identities, a visible and an infrared camera."""
    settings = SynthSettings(seed=0)
    return [image_captions(settings, pid, cam, 0)[0] for pid in range(15) for cam in (1, 3)]


@pytest.fixture(scope="module")
def tokenizer(captions):
    return wordpiece_tokenizer(captions + [EXAMPLE], vocab_size=300, max_length=64)


def texts(caption: str) -> list[str]:
    return [text for _, _, text in phrase_spans(caption)]


def test_phrase_spans_hand_written():
    assert texts(EXAMPLE) == ["a red jacket", "black trousers", "a black crossbody bag"]
    assert texts("Someone is dressed in blue and grey checked trousers, walking away.") == [
        "blue and grey checked trousers"
    ]
    assert texts("A woman with long black hair is carrying a purse and wearing glasses.") == [
        "long black hair",
        "a purse",
        "glasses",
    ]
    assert texts("The pedestrian is walking past the camera.") == []
    for start, end, text in phrase_spans(EXAMPLE):
        assert EXAMPLE[start:end] == text


def test_phrase_spans_on_generated_captions(captions):
    assert len(captions) == 30
    for caption in captions:
        spans = phrase_spans(caption)
        assert len(spans) >= 2, caption  # an upper and a lower garment in every caption
        for start, end, text in spans:
            assert caption[start:end] == text
            words = {w.strip(".,").lower() for w in text.split()}
            assert words & NOUNS, (caption, text)
        starts = [s for s, _, _ in spans]
        assert starts == sorted(starts) and all(
            spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)
        )  # in order, not overlapping


def test_tokenizer_offsets(tokenizer):
    pieces = tokenizer.tokens(EXAMPLE)
    offsets = tokenizer.offsets(EXAMPLE)
    assert len(pieces) == len(offsets)
    assert pieces[0] == "[CLS]" and offsets[0] == (0, 0) and offsets[-1] == (0, 0)
    for piece, (a, b) in zip(pieces[1:-1], offsets[1:-1]):
        assert EXAMPLE[a:b].lower() == piece.removeprefix("##")


def test_phrase_token_mask_hand_offsets():
    # [CLS] "a" "red" "coat" [SEP] and one padding position, for the caption "a red coat"
    offsets = [(0, 0), (0, 1), (2, 5), (6, 10), (0, 0)]
    mask = phrase_token_mask(offsets, [(2, 10, "red coat"), (0, 1, "a")], length=6)
    assert mask.tolist() == [[0, 0, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]]


def test_phrase_tokenizer_groups_the_phrase_tokens(tokenizer):
    phrases = PhraseTokenizer(tokenizer, max_phrases=4)
    batch = [EXAMPLE, "They wear a cap."]
    ids, mask = phrases(batch)
    assert torch.equal(ids, tokenizer(batch)[0]) and torch.equal(mask, tokenizer(batch)[1])
    groups = phrases.token_groups(batch, ids.shape[1])
    assert groups.shape == (2, 4, ids.shape[1])
    assert (groups.sum(-1) > 0).tolist() == [[True, True, True, False], [True, False, False, False]]
    for row, phrase in zip(groups[0], texts(EXAMPLE)):
        assert tokenizer.decode(ids[0][row.bool()]) == phrase
    assert tokenizer.decode(ids[1][groups[1, 0].bool()]) == "a cap"
    assert phrases.vocab_size == tokenizer.vocab_size  # the wrapped tokenizer shows through
    assert phrases.phrases(EXAMPLE) == texts(EXAMPLE) and phrases.phrases(batch[1]) == ["a cap"]


def test_phrase_tokenizer_keeps_the_first_phrases_and_warns(tokenizer):
    phrases = PhraseTokenizer(tokenizer, max_phrases=2)
    ids, _ = phrases([EXAMPLE])
    with pytest.warns(UserWarning, match="keeping the first 2"):
        groups = phrases.token_groups([EXAMPLE], ids.shape[1])
    assert phrases.cut == 1 and (groups.sum(-1) > 0).all()
    assert tokenizer.decode(ids[0][groups[0, 1].bool()]) == "black trousers"
    with pytest.raises(ValueError, match="max_phrases"):
        PhraseTokenizer(tokenizer, max_phrases=0)


def test_phrase_features_masked_mean():
    tokens = torch.arange(12.0).reshape(1, 4, 3)  # (B=1, L=4, D=3)
    assign = torch.tensor([[[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]])  # (1, P=3, L=4)
    out = phrase_features(tokens, assign)
    expected = [[4.5, 5.5, 6.5], [9.0, 10.0, 11.0], [0.0, 0.0, 0.0]]
    assert torch.allclose(out[0], torch.tensor(expected))


def test_region_features_hand_grid():
    h, w, D = 4, 2, 2
    grid = torch.arange(h * w, dtype=torch.float32).reshape(h * w, 1)  # row-major: 0..7
    patches = torch.cat([grid, -grid], dim=1)  # (N, D): channel 1 = -channel 0
    tokens = torch.cat([torch.full((1, D), 99.0), patches])[None]  # (1, 1+N, D), CLS = 99
    regions = region_features(tokens, (h, w))
    assert regions.shape == (1, 2 + 8, D)
    # upper half = patches 0..3 (mean 1.5), lower half = 4..7 (mean 5.5); then the 4x2 cells
    expected = [1.5, 5.5] + list(range(8))
    assert regions[0, :, 0].tolist() == expected
    assert regions[0, :, 1].tolist() == [-x for x in expected]
    coarse = region_features(tokens, (h, w), scales=((1, 1),))
    assert coarse[0, 0].tolist() == [3.5, -3.5]  # the CLS token is left out


def identity_module(dim: int, lam: float) -> AsymmetricCrossAlignment:
    module = AsymmetricCrossAlignment(dim, dim, dim, lam=lam)
    with torch.no_grad():
        for proj in (module.region_proj, module.phrase_proj):
            proj.weight.copy_(torch.eye(dim))
            proj.bias.zero_()
    return module


def test_hand_computed_pair():
    """Regions v1 = (1, 0), v2 = (-1, 0), v3 = (0, 1); phrases e1 = (1, 0), e2 = (0, 1); λ = 1."""
    module = identity_module(2, lam=1.0)
    regions = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    phrases = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    score, p2r, r2p = module.pair(regions, phrases)
    # s = LeakyReLU(cos) (phrases x regions) = [[1, -0.1, 0], [0, 0, 1]]; each region's column
    # is normalised over the phrases (the queries): v2's column (-0.1, 0) becomes (-1, 0)
    s_bar = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    alpha = torch.softmax(s_bar, dim=1)  # each phrase over the regions
    assert torch.allclose(p2r, alpha, atol=1e-6)
    attended = alpha @ regions  # (2, 2)
    t2i = F.cosine_similarity(phrases, attended, dim=1).mean()
    # regions over phrases: s^T normalised over the regions (its queries), per phrase column:
    # e1's column (1, -0.1, 0) / sqrt(1.01), e2's column (0, 0, 1)
    s_bar_r = torch.tensor([[1.0, 0.0], [-0.1, 0.0], [0.0, 1.0]])
    s_bar_r[:, 0] /= math.sqrt(1.01)
    beta = torch.softmax(s_bar_r, dim=1)
    assert torch.allclose(r2p, beta, atol=1e-6)
    i2t = F.cosine_similarity(regions, beta @ phrases, dim=1).mean()
    assert torch.allclose(score, 0.5 * (t2i + i2t), atol=1e-6)
    batched = module(regions[None], phrases[None], torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(batched, score.reshape(1, 1), atol=1e-6)


def random_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    regions = torch.randn(3, 10, 8, generator=g)  # (B, R, D_r)
    phrases = torch.randn(4, 5, 6, generator=g)  # (Bt, P, D_p)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool
    )
    torch.manual_seed(seed)
    return AsymmetricCrossAlignment(8, 6, 16), regions, phrases, mask


def test_explicit_and_batched_paths_agree():
    module, regions, phrases, mask = random_inputs()
    sim, p2r, r2p = module(regions, phrases, mask, return_weights=True)
    sim_x, p2r_x, r2p_x = module(regions, phrases, mask, return_weights=True, explicit=True)
    assert sim.shape == (3, 4) and p2r.shape == (3, 4, 5, 10) and r2p.shape == (3, 4, 10, 5)
    assert torch.allclose(sim, sim_x, atol=1e-5)
    real = mask[None, :, :, None]  # the batched path's rows of padded phrases are not used
    assert torch.allclose(p2r * real, p2r_x, atol=1e-5)
    assert torch.allclose(r2p, r2p_x, atol=1e-5)
    assert torch.allclose(sim[:, 3], torch.zeros(3))  # a caption with no phrase scores 0
    assert sim[:, :3].abs().min() > 1e-4
    assert torch.allclose(p2r_x.sum(-1), real.squeeze(-1).float().expand(3, 4, 5))
    assert torch.allclose(r2p.sum(-1)[:, :3], torch.ones(3, 3, 10), atol=1e-6)


def test_masked_phrases_get_no_weight_and_do_not_matter():
    module, regions, phrases, mask = random_inputs(1)
    sim, _, r2p = module(regions, phrases, mask, return_weights=True)
    assert (r2p.masked_select(~mask[None, :, None, :].expand_as(r2p)) == 0).all()
    garbage = phrases.masked_fill(~mask[..., None], 1e3)  # padded phrases: huge, aligned values
    assert torch.allclose(module(regions, garbage, mask), sim, atol=1e-6)
    short = module(regions, phrases[1:2, :2], mask[1:2, :2])  # caption 1 without its padding
    assert torch.allclose(short[:, 0], sim[:, 1], atol=1e-6)


def test_large_lambda_attends_to_the_region_of_highest_logit():
    module, regions, phrases, mask = random_inputs(2)
    module.lam = 1e4
    _, p2r, _ = module.pair(regions[0], phrases[0])
    v, e = module.project(regions[0], phrases[0])
    s = F.leaky_relu(e @ v.T, 0.1)  # (P, R)
    best = (s / s.norm(dim=0)).argmax(dim=1)  # (P,): each phrase's highest normalised logit
    assert torch.equal(p2r.argmax(dim=1), best)
    assert torch.allclose(p2r.max(dim=1).values, torch.ones(5), atol=1e-4)
    module.lam = 1.0
    _, p2r, _ = module.pair(regions[0], phrases[0])
    assert p2r.max() < 0.9  # |λ s̄| <= λ: at λ = 1 no region can take most of the weight


def test_gradients_are_finite_with_an_empty_caption():
    module, regions, phrases, mask = random_inputs(3)
    module(regions, phrases, mask).sum().backward()
    for param in module.parameters():
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_combined_score():
    global_sim = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    local_sim = torch.tensor([[0.0, 1.0], [0.5, 1.0]])
    expected = torch.tensor([[0.9, 0.1], [0.5, -0.8]])
    assert torch.allclose(combined_score(global_sim, local_sim), expected)
    assert torch.equal(combined_score(global_sim, local_sim, weight=0.0), global_sim)
