"""A BERT-style WordPiece tokenizer learnt from the training captions (chapter on text re-id).

The vocabulary is learnt as the ``tokenizers`` package's ``WordPieceTrainer`` learns it: each
word starts as its characters (``"red"`` -> ``r ##e ##d``; ``##`` marks a piece that continues
a word) and the most frequent adjacent pair is merged into a new piece until the vocabulary has
``vocab_size`` entries. The merges are computed here rather than by that trainer because it
breaks ties between equally frequent pairs by internal ids that follow a hash map's iteration
order, which changes from one process to the next: two trainings on the same captions gave
different vocabularies. Here ties go to the alphabetically first pair, so the vocabulary is a
function of the captions alone. Everything else is the ``tokenizers`` package: BERT's
normaliser, pre-tokenizer, WordPiece model, ``[CLS] ... [SEP]`` post-processor and decoder.

>>> tok = train_wordpiece(["a man in a red coat", "a woman in a red dress"], vocab_size=60)
>>> tok.encode("A man in red").tokens
['[CLS]', 'a', 'man', 'in', 'red', '[SEP]']
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0 .. 4, in this order
PREFIX = "##"  # marks a piece that continues a word

Pair = tuple[str, str]


def check_captions(captions: Sequence[str]) -> None:
    """Raise a clear error for an empty list, a non-string or an empty caption (with its index)."""
    if isinstance(captions, str):
        raise TypeError("expected a list of captions, got a single string")
    if len(captions) == 0:
        raise ValueError("expected at least one caption, got an empty list")
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(f"caption {i} is a {type(caption).__name__}, not a str: {caption!r}")
        if not caption.strip():
            raise ValueError(f"caption {i} is empty or only whitespace: {caption!r}")


def bert_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    """A BERT-style ``tokenizers.Tokenizer`` around a WordPiece ``vocab`` (token -> id):
    lower-casing and accent stripping, split on whitespace and punctuation, greedy
    longest-match WordPiece, ``[CLS] caption [SEP]`` wrapping, ``##``-joining decoder."""
    wordpiece = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=PREFIX)
    tokenizer = Tokenizer(wordpiece)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix=PREFIX)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))  # never split, skipped by decode
    return tokenizer


def count_words(captions: Sequence[str]) -> Counter[str]:
    """How often each normalised, pre-tokenized word occurs (a caption given twice counts twice)."""
    probe = bert_tokenizer({token: i for i, token in enumerate(SPECIAL_TOKENS)})
    words: Counter[str] = Counter()
    for caption in captions:
        text = probe.normalizer.normalize_str(caption)
        words.update(word for word, _ in probe.pre_tokenizer.pre_tokenize_str(text))
    return words


def word_pairs(pieces: list[str]) -> Counter[Pair]:
    """Adjacent pairs of one word's pieces, with how often each occurs in it."""
    return Counter(zip(pieces[:-1], pieces[1:]))


def merge_pair(pieces: list[str], pair: Pair) -> list[str]:
    """``pieces`` with every non-overlapping occurrence of ``pair`` (left to right) joined."""
    merged, i = [], 0
    while i < len(pieces):
        if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
            merged.append(pieces[i] + pieces[i + 1].removeprefix(PREFIX))
            i += 2
        else:
            merged.append(pieces[i])
            i += 1
    return merged


def learn_vocab(words: Counter[str], vocab_size: int, min_frequency: int) -> list[str]:
    """WordPiece tokens learnt from word counts: special tokens, the characters (sorted; every
    one is kept even past ``vocab_size``), then merged pieces in merge order. A merge is the
    most frequent adjacent pair (ties: the alphabetically first), while it occurs at least
    ``min_frequency`` times and the vocabulary is below ``vocab_size``."""
    spelled = [[w[0]] + [PREFIX + c for c in w[1:]] for w in words]  # word -> its pieces
    counts = list(words.values())
    chars = sorted({c for w in words for c in w})  # every character, as a word's first piece
    continuing = sorted({p for pieces in spelled for p in pieces[1:]})  # ... and inside a word
    vocab = list(SPECIAL_TOKENS) + chars + continuing
    known = set(vocab)
    pair_count: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = {}  # pair -> words that may contain it
    for w, pieces in enumerate(spelled):
        for pair, n in word_pairs(pieces).items():
            pair_count[pair] += n * counts[w]
            where.setdefault(pair, set()).add(w)
    heap = [(-n, pair) for pair, n in pair_count.items()]  # max count, then smallest pair
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if -negative != pair_count.get(pair, 0):  # an outdated entry: the count has changed
            continue
        if -negative < min_frequency:
            break
        token = pair[0] + pair[1].removeprefix(PREFIX)
        if token not in known:
            vocab.append(token)
            known.add(token)
        for w in sorted(where.pop(pair)):
            old = word_pairs(spelled[w])
            if pair not in old:
                continue
            spelled[w] = merge_pair(spelled[w], pair)
            new = word_pairs(spelled[w])
            for changed in old.keys() | new.keys():
                delta = (new[changed] - old[changed]) * counts[w]
                if delta == 0:
                    continue
                pair_count[changed] += delta
                if pair_count[changed] <= 0:
                    del pair_count[changed]
                else:
                    heapq.heappush(heap, (-pair_count[changed], changed))
                    where.setdefault(changed, set()).add(w)
    return vocab


def train_wordpiece(
    captions: Sequence[str], vocab_size: int = 1000, min_frequency: int = 1
) -> Tokenizer:
    """A BERT-style WordPiece ``tokenizers.Tokenizer`` learnt from ``captions``.

    Special tokens ``[PAD]`` (id 0), ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` (ids 1-4); a
    caption is encoded as ``[CLS] pieces [SEP]``. The captions are used as given, nothing is
    sorted or removed: a caption that occurs twice counts its words twice. Only word counts
    enter the learning, so the same captions (in any order) give the identical vocabulary. The
    vocabulary can be smaller than ``vocab_size`` (when no pair occurs ``min_frequency`` times
    any more, or every word is a single piece) and is larger when the special tokens and the
    characters alone exceed it. A character never seen in training makes its word ``[UNK]``.
    """
    check_captions(captions)
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must be > {len(SPECIAL_TOKENS)}, got {vocab_size}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    vocab = learn_vocab(count_words(captions), vocab_size, min_frequency)
    return bert_tokenizer({token: i for i, token in enumerate(vocab)})
