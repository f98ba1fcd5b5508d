"""Caption tokenizers: the WordPiece learnt from captions (deterministic, BERT-style) and the
CaptionTokenizer the engine calls (padding, masks, truncation, cache, clear errors)."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import warnings

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from reidkit.data import CaptionTokenizer, train_wordpiece, wordpiece_tokenizer
from reidkit.data.synth import SynthSettings, image_captions
from reidkit.data.wordpiece import SPECIAL_TOKENS


@pytest.fixture(scope="module")
def captions() -> list[str]:
    """Synthetic captions of 30 identities, a visible and an infrared camera, 2 images each."""
    settings = SynthSettings(seed=0)
    return [
        c
        for pid in range(30)
        for cam in (1, 3)
        for index in range(2)
        for c in image_captions(settings, pid, cam, index)
    ]


@pytest.fixture(scope="module")
def tok(captions: list[str]) -> CaptionTokenizer:
    return wordpiece_tokenizer(captions, vocab_size=300, max_length=64)


def test_wordpiece_is_deterministic_across_trainings_orders_and_processes(
    captions: list[str],
) -> None:
    vocab = train_wordpiece(captions, vocab_size=250).get_vocab()
    assert len(vocab) == 250
    assert train_wordpiece(captions, vocab_size=250).get_vocab() == vocab
    shuffled = captions[:]
    random.Random(0).shuffle(shuffled)
    assert train_wordpiece(shuffled, vocab_size=250).get_vocab() == vocab  # counts only
    # tokenizers' own trainer gave different vocabularies in different processes: not ours
    code = (
        "import json, sys; from reidkit.data.wordpiece import train_wordpiece; "
        "print(json.dumps(train_wordpiece(json.load(sys.stdin), 250).get_vocab()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(captions),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == vocab


def test_wordpiece_learns_what_tokenizers_trainer_learns_when_no_pairs_tie() -> None:
    # pair counts at every merge are distinct (ab 16, ##de 10, cde 8, ##gh 5, fgh 4, ij 3 ...)
    corpus = ["ab"] * 16 + ["cde"] * 8 + ["xde"] * 2 + ["fgh"] * 4 + ["ygh"] + ["ij"] * 3
    for vocab_size in (26, 100):
        reference = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        reference.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
        reference.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
        reference.train_from_iterator(corpus, trainer=trainer)
        ours = train_wordpiece(corpus, vocab_size).get_vocab()
        assert set(ours) == set(reference.get_vocab())
    assert {"ab", "##de", "cde", "fgh", "xde", "ygh", "ij"} <= set(ours)
    assert "##gh" in ours and ours["##gh"] < ours["fgh"]  # merged pieces in merge order


def test_special_tokens_and_cls_sep_wrapping(tok: CaptionTokenizer) -> None:
    backend = train_wordpiece(["a man in a red coat"], vocab_size=60)
    assert [backend.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert backend.encode("A man in a RED coat").tokens == [
        "[CLS]",
        "a",
        "man",
        "in",
        "a",
        "red",
        "coat",
        "[SEP]",
    ]
    assert backend.encode("a man in a green coat").tokens[5] == "[UNK]"  # unseen letters
    assert tok.pad_id == 0 and tok.vocab_size == 300 and tok.max_length == 64
    accents = train_wordpiece(["a cafe"], vocab_size=60)
    assert accents.encode("A CAFÉ").tokens == ["[CLS]", "a", "cafe", "[SEP]"]  # lower, no accent


def test_padding_and_mask_follow_each_caption(tok: CaptionTokenizer) -> None:
    captions = ["a man", "a woman in a red coat and blue trousers", "a person walking away"]
    ids, mask = tok(captions)
    singles = [tok([c])[0][0].tolist() for c in captions]
    assert ids.dtype == torch.long and mask.dtype == torch.long
    assert ids.shape == mask.shape == (3, max(len(s) for s in singles))
    for row, single in enumerate(singles):
        n = len(single)
        assert ids[row, :n].tolist() == single
        assert single[0] == 2 and single[-1] == 3  # [CLS] ... [SEP]
        assert mask[row].tolist() == [1] * n + [0] * (ids.shape[1] - n)
        assert (ids[row, n:] == tok.pad_id).all()
    assert tok.decode(ids[1]) == "a woman in a red coat and blue trousers"


def test_truncation_keeps_sep_last_counts_and_warns_once(captions: list[str]) -> None:
    tok = wordpiece_tokenizer(captions, vocab_size=300, max_length=6)
    long_caption = "a person in a red jacket and blue trousers"
    full = wordpiece_tokenizer(captions, vocab_size=300).tokens(long_caption)
    assert len(full) > 6 and full[-1] == "[SEP]"
    with pytest.warns(UserWarning, match=rf"caption of {len(full)} tokens was cut to max_length=6"):
        ids, mask = tok([long_caption, "a person"])
    assert ids.shape == (2, 6) and mask[0].all()
    assert tok.tokens(long_caption) == full[:5] + ["[SEP]"]  # [SEP] kept last
    assert ids[0].tolist() == tok.ids([long_caption])[0]
    assert ids[0, 0] == 2 and ids[0, -1] == 3
    assert tok.truncated == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        tok(["a woman in a blue coat and red trousers"])
    assert tok.truncated == 2


def test_cache_tokenizes_each_caption_once_and_is_bounded(captions: list[str]) -> None:
    tok = wordpiece_tokenizer(captions, vocab_size=300)
    first = tok(["a man", "a woman", "a man"])
    assert tok.encoded == 2  # distinct captions only
    again = tok(["a woman", "a man"])
    assert tok.encoded == 2  # served from the cache
    assert torch.equal(again[0], first[0][[1, 0]])
    small = CaptionTokenizer(train_wordpiece(captions, 300), max_length=32, cache_size=2)
    small(["a man", "a woman", "a child"])
    assert small.encoded == 3 and len(small._cache) == 2
    small(["a child"])
    assert small.encoded == 3  # the newest is kept
    small(["a man"])
    assert small.encoded == 4  # the oldest went


def test_tokenizer_pickles_for_data_loader_workers(tok: CaptionTokenizer) -> None:
    batch = ["a person in a red coat", "a woman"]
    copy = pickle.loads(pickle.dumps(tok))
    assert all(torch.equal(a, b) for a, b in zip(copy(batch), tok(batch)))
    assert copy.max_length == tok.max_length and copy.pad_id == tok.pad_id


@pytest.mark.parametrize(
    ("batch", "error", "message"),
    [
        ([], ValueError, "empty list"),
        (["a man", "   "], ValueError, r"caption 1 is empty or only whitespace: '   '"),
        (["", "a man"], ValueError, r"caption 0 is empty"),
        (["a man", 3], TypeError, r"caption 1 is a int, not a str: 3"),
        ("a man", TypeError, "single string"),
    ],
)
def test_bad_captions_raise_naming_the_caption(
    tok: CaptionTokenizer, batch: list, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        tok(batch)
    with pytest.raises(error, match=message):
        train_wordpiece(batch)


def test_tokenizer_needs_a_pad_token_and_room_for_a_word(captions: list[str]) -> None:
    backend = train_wordpiece(captions, 300)
    with pytest.raises(ValueError, match="no padding token '<pad>'"):
        CaptionTokenizer(backend, pad_token="<pad>")
    with pytest.raises(ValueError, match="max_length must leave room"):
        CaptionTokenizer(backend, max_length=2)
    with pytest.raises(TypeError, match="fast tokenizer"):
        CaptionTokenizer(object())
