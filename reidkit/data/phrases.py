"""Phrases of a caption and the tokens that make them (ACSA's text side; chapter 13).

    caption --phrase_spans--> noun phrases (start, end, text)
    tokenizer offsets + spans --phrase_token_mask--> (P, L) which tokens make each phrase
    PhraseTokenizer(captions) -> token ids and mask (B, L), as any CaptionTokenizer
    PhraseTokenizer.token_groups(captions, L) -> (B, max_phrases, L), the batch's phrases

A method whose tokenizer has ``token_groups`` gets them in every batch
(``reidkit.data.batch.Batch.token_groups``): ACSA pools its phrase features with them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from reidkit.data.synth.attributes import COLOURS
from reidkit.data.synth.captions import (
    BAG_NAMES,
    GLASSES_WORDS,
    HAT_NAMES,
    LOWER_NAMES,
    SHOE_NAMES,
    UPPER_NAMES,
)
from reidkit.data.tokenizer import CaptionTokenizer

_NAMES = (UPPER_NAMES, LOWER_NAMES, SHOE_NAMES, BAG_NAMES, HAT_NAMES)
# Head nouns of a phrase: the synthetic captions' garment, shoe, bag and hat names, hair and
# glasses, and a few of the real datasets' common ones.
NOUNS = frozenset(
    {name.split()[-1] for names in _NAMES for options in names.values() for name in options}
    | {"hair"}
    | GLASSES_WORDS
    | {"dress", "jeans", "hoodie", "vest", "shoes", "hat", "bag", "scarf", "umbrella", "top"}
)
# Words that end a phrase: conjunctions, prepositions and the verbs of the caption templates.
BOUNDARIES = frozenset(
    "and with carrying carry carries wearing wear wears wore in on is are has have holding "
    "holds dressed they he she of at while who which over under from to".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_CLAUSE = re.compile(r"[^,.;:!?]+")


def phrase_spans(caption: str) -> list[tuple[int, int, str]]:
    """Noun phrases of ``caption`` as ``(start, end, text)``, ``text == caption[start:end]``.

    Clauses are split at punctuation, then at :data:`BOUNDARIES` words; a chunk is kept when
    it holds a noun of :data:`NOUNS` ("a red jacket", not "a person" or "walking past"). An
    "and" between colours does not split ("blue and grey checked trousers"). This reads the
    synthetic captions' templates; a real dataset's captions (CUHK-PEDES, RSTPReid) would be
    chunked by a POS tagger and noun-phrase chunker (spaCy's ``doc.noun_chunks``, NLTK's
    ``RegexpParser`` on ``<DT>?<JJ.*>*<NN.*>+``), which reidkit does not depend on.
    """
    spans = []
    for clause in _CLAUSE.finditer(caption):
        for chunk in _chunks(caption, clause.start(), clause.end()):
            if any(word.group().lower() in NOUNS for word in chunk):
                start, end = chunk[0].start(), chunk[-1].end()
                spans.append((start, end, caption[start:end]))
    return spans


def _chunks(caption: str, start: int, end: int) -> list[list[re.Match[str]]]:
    """The words of ``caption[start:end]`` in runs between boundary words."""
    chunks: list[list[re.Match[str]]] = [[]]
    for word in _WORD.finditer(caption, start, end):
        lower, chunk = word.group().lower(), chunks[-1]
        if lower == "and" and chunk and all(w.group().lower() in COLOURS for w in chunk):
            continue  # "blue and grey ...": the chunk goes on past the "and"
        if lower in BOUNDARIES:
            chunks.append([])
        else:
            chunk.append(word)
    return [chunk for chunk in chunks if chunk]


def phrase_token_mask(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]], length: int
) -> Tensor:
    """(P, L) 0/1 float matrix: token t belongs to phrase k when its character span
    ``offsets[t]`` (:meth:`CaptionTokenizer.offsets`) overlaps the phrase's. Special tokens
    (empty spans) and padding (t >= len(offsets)) belong to none."""
    mask = torch.zeros(len(spans), length)
    for k, (start, end, _) in enumerate(spans):
        for t, (a, b) in enumerate(offsets[:length]):
            if b > a and a < end and b > start:
                mask[k, t] = 1.0
    return mask


class PhraseTokenizer:
    """A :class:`CaptionTokenizer` that also says which tokens make each caption's phrases.

    Calling it tokenizes as the wrapped tokenizer does; :meth:`token_groups` gives the
    (B, max_phrases, L) phrase-token assignment of a batch. A caption with more than
    ``max_phrases`` phrases keeps its first ones; each such caption is counted in
    ``self.cut`` and the first one warns (our captions have at most 7)."""

    def __init__(self, tokenizer: CaptionTokenizer, max_phrases: int = 8) -> None:
        if max_phrases < 1:
            raise ValueError(f"max_phrases must be >= 1, got {max_phrases}")
        self.tokenizer = tokenizer
        self.max_phrases = max_phrases
        self.cut = 0
        # caption -> (phrase text, its token positions) of each phrase kept
        self._spans: dict[str, list[tuple[str, list[int]]]] = {}

    def __call__(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        return self.tokenizer(captions)

    def __getattr__(self, name: str):  # vocab_size, decode, tokens, offsets, ...
        if name == "tokenizer":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def phrase_tokens(self, caption: str) -> list[list[int]]:
        """The token positions of each of ``caption``'s phrases (at most ``max_phrases``;
        a phrase cut away by truncation is dropped)."""
        return [positions for _, positions in self._phrases(caption)]

    def phrases(self, caption: str) -> list[str]:
        """The text of each phrase :meth:`token_groups` keeps for ``caption``, in its order."""
        return [text for text, _ in self._phrases(caption)]

    def _phrases(self, caption: str) -> list[tuple[str, list[int]]]:
        if caption not in self._spans:
            spans = phrase_spans(caption)
            if len(spans) > self.max_phrases:
                self.cut += 1
                if self.cut == 1:
                    warnings.warn(
                        f"a caption has {len(spans)} phrases; keeping the first "
                        f"{self.max_phrases} (max_phrases): {caption!r}",
                        stacklevel=2,
                    )
                spans = spans[: self.max_phrases]
            offsets = self.tokenizer.offsets(caption)
            mask = phrase_token_mask(offsets, spans, len(offsets))  # (P, T)
            rows = [row.nonzero().flatten().tolist() for row in mask]
            kept = [(span[2], row) for span, row in zip(spans, rows) if row]
            self._spans[caption] = kept
        return self._spans[caption]

    def token_groups(self, captions: Sequence[str], length: int) -> Tensor:
        """(B, max_phrases, length) 0/1 float: token t of caption b is in its phrase k; rows
        past a caption's phrases are zero (those phrases are padding)."""
        groups = torch.zeros(len(captions), self.max_phrases, length)
        for b, caption in enumerate(captions):
            for k, positions in enumerate(self.phrase_tokens(caption)):
                groups[b, k, [t for t in positions if t < length]] = 1.0
        return groups

    def __repr__(self) -> str:
        return f"PhraseTokenizer({self.tokenizer!r}, max_phrases={self.max_phrases})"
