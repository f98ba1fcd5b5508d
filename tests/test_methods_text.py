"""A text-image method from this file alone: captions are tokenized by the method's tokenizer,
batches come from the image-caption sampler, and evaluation runs the text-to-image protocol
with captions and images embedded by the model's two encoders."""

import json
import zlib
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.methods import METHODS, Method, register_method
from reidkit.train import config_from_dict
from reidkit.train.run import prepare, train
from reidkit.typed import Checked, bounded


@dataclass
class TextToyOptions(Checked):
    dim: int = bounded(16, ge=1)
    vocab: int = bounded(64, ge=3)  # hash buckets; the model's embedding has as many rows
    temperature: float = bounded(0.1, gt=0)


class HashTokenizer:
    """Words -> 1 + crc32(word) mod (vocab - 1) (0 = padding), padded per batch."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [
            [1 + zlib.crc32(w.encode()) % (self.vocab - 1) for w in c.lower().split()] or [1]
            for c in captions
        ]
        width = max(len(i) for i in ids)
        token_ids = torch.zeros(len(ids), width, dtype=torch.long)  # (B, L)
        for row, seq in enumerate(ids):
            token_ids[row, : len(seq)] = torch.tensor(seq)
        return token_ids, (token_ids > 0).long()


class TwoTower(nn.Module):
    def __init__(self, vocab: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.image = nn.Sequential(nn.Conv2d(3, dim, 8, stride=8), nn.ReLU())
        self.words = nn.Embedding(vocab, dim, padding_idx=0)
        self.classifier = nn.Linear(dim, num_classes)
        self.seen = set()  # which encoders forward_embedding used

    def encode_image(self, images):
        return self.image(images).mean(dim=(2, 3))  # (B, dim)

    def encode_text(self, token_ids, mask):
        words = self.words(token_ids) * mask.unsqueeze(-1)  # (B, L, dim)
        return words.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)  # (B, dim)

    def forward(self, batch):
        image = self.encode_image(batch.images)
        text = self.encode_text(batch.token_ids, batch.attention_mask)
        return {"image": image, "text": text, "logits": self.classifier(image + text)}

    def forward_embedding(self, batch):
        if batch.images is not None:
            self.seen.add("image")
            return F.normalize(self.encode_image(batch.images), dim=-1)
        self.seen.add("text")
        return F.normalize(self.encode_text(batch.token_ids, batch.attention_mask), dim=-1)


class AlignObjective:
    def __init__(self, temperature: float) -> None:
        self.temperature = temperature

    def __call__(self, outputs, batch, progress):
        image = F.normalize(outputs["image"], dim=-1)
        text = F.normalize(outputs["text"], dim=-1)
        logits = image @ text.T / self.temperature  # (B, B)
        same = (batch.labels[:, None] == batch.labels[None, :]).float()
        align = -(F.log_softmax(logits, dim=1) * same / same.sum(1, keepdim=True)).sum(1).mean()
        ce = F.cross_entropy(outputs["logits"], batch.labels)
        return {"loss": ce + align, "id": ce, "align": align}


@pytest.fixture()
def text_method():
    register_method(
        Method(
            name="text_toy",
            task="text-image",
            options=TextToyOptions,
            build_model=lambda c, n: TwoTower(c.options.vocab, c.options.dim, n),
            build_objective=lambda config: AlignObjective(config.options.temperature),
            sampler="image_caption",
            build_tokenizer=lambda config, records: HashTokenizer(config.options.vocab),
        )
    )
    yield
    del METHODS["text_toy"]


def test_a_text_method_trains_and_is_evaluated_caption_to_image(tmp_path, monkeypatch, text_method):
    monkeypatch.setenv("REIDKIT_CACHE", str(tmp_path / "cache"))
    config = config_from_dict(
        {
            "method": "text_toy",
            "epochs": 2,
            "out_dir": str(tmp_path / "run"),
            "data": {
                "dataset": "synthetic-pedes",
                "img_size": [64, 32],
                "train_ids": 12,
                "test_ids": 6,
                "images_per_camera": 2,
                "ids_per_batch": 3,
                "images_per_id": 2,
            },
            "eval": {"every": 1},
            "text_toy": {"dim": 8},
        }
    )
    prepared = prepare(config)
    assert prepared.dataset.task == "text-image"
    batch = prepared.collate([(torch.zeros(3, 64, 32), 0, 0, 0, "a red coat")] * 2)
    assert batch.token_ids.shape == batch.attention_mask.shape == (2, 3)
    trainer, log = train(config, prepared=prepared, progress=False)
    train_lines = [r for r in log if r["kind"] == "train"]
    assert train_lines and all({"loss", "id", "align"} <= set(r) for r in train_lines)
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2]
    assert all(0 <= r["R1"] <= r["R5"] <= r["R10"] <= 1 for r in evals)
    assert trainer.model.seen == {"image", "text"}  # captions and images, each by its encoder
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == "text_toy"
