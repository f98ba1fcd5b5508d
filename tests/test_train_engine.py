"""The training engine on the baseline method, a tiny ViT and tiny on-disk data: losses fall,
checkpoints are crash-safe and weights-only, and an interrupted + resumed run reproduces the
straight run."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data.batch import image_batch
from reidkit.data.records import Record
from reidkit.data.samplers import CrossModalIdentitySampler
from reidkit.methods.baseline import BaselineLossOptions, BaselineObjective
from reidkit.models.baseline import CrossModalBaseline
from reidkit.models.vit import create_vit
from reidkit.train import (
    Trainer,
    config_from_dict,
    latest_checkpoint,
    load_state,
    read_metrics,
)
from reidkit.utils import seed_everything


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[Record]:
    """6 identities x (3 visible + 3 infrared) 32x16 images; each identity has its own tint."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    out = []
    for pid in range(6):
        base = rng.integers(0, 255, 3)
        for modality, camid in (("visible", 1), ("infrared", 3)):
            for i in range(3):
                pixels = np.clip(base + rng.normal(0, 30, (32, 16, 3)), 0, 255).astype(np.uint8)
                if modality == "infrared":
                    pixels = np.repeat(pixels.mean(2, keepdims=True), 3, 2).astype(np.uint8)
                path = root / f"{modality}_{pid}_{i}.png"
                Image.fromarray(pixels).save(path)
                out.append(Record(str(path), pid, camid, modality))
    return out


def tiny_config(out_dir, **changes):
    values = {
        "seed": 3,
        "epochs": 2,
        "out_dir": str(out_dir),
        "data": {"img_size": [32, 16], "ids_per_batch": 3, "images_per_id": 2},
        "baseline": {"model": {"backbone": "vit_nano", "drop_path_rate": 0.1}},
        "optim": {"lr": 3e-3, "warmup_epochs": 0.5},
        "eval": {"every": 1},
    }
    values.update(changes)
    return config_from_dict(values)


PROBE = torch.Generator().manual_seed(1)
PROBE_IMAGES = torch.randn(4, 3, 32, 16, generator=PROBE)


def probe_metrics(model):
    """A deterministic function of the weights, standing in for a retrieval protocol."""
    features = model.forward_embedding(image_batch(PROBE_IMAGES))
    return {"probe_mean": features.mean().item(), "probe_norm": features.norm().item()}


def make_trainer(config, records, callbacks=()):
    seed_everything(config.seed)
    backbone = create_vit("vit_nano", (32, 16), drop_path_rate=0.1)
    model = CrossModalBaseline(backbone, num_classes=6)
    objective = BaselineObjective(BaselineLossOptions())
    sampler = CrossModalIdentitySampler(records, 3, 2, seed=config.seed)
    return Trainer(
        config, model, objective, records, sampler, probe_metrics, callbacks, progress=False
    )


def losses(log):
    keys = ("epoch", "step", "loss", "ce", "triplet", "lr")
    return [tuple(r[k] for k in keys) for r in log if r["kind"] == "train"]


def evals(log):
    return [r for r in log if r["kind"] == "eval"]


def test_interrupted_and_resumed_run_matches_the_straight_run(tmp_path, records):
    straight = make_trainer(tiny_config(tmp_path / "a"), records).fit()

    def crash_in_epoch_two(record):
        if record["kind"] == "train" and record["epoch"] == 2:
            raise KeyboardInterrupt

    config = tiny_config(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        make_trainer(config, records, [crash_in_epoch_two]).fit()
    partial = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert max(r["epoch"] for r in partial) == 2  # it did get into epoch 2
    # A fresh process: new model (other init), new trainer, then resume.
    seed_everything(123)
    resumed_trainer = make_trainer(config, records)
    torch.manual_seed(999)  # disturb the RNG: resume must restore it
    resumed = resumed_trainer.fit(resume=True)

    assert len(losses(straight)) > 4
    assert losses(resumed) == losses(straight)  # exactly, not approximately
    assert evals(resumed) == evals(straight)
    assert len(evals(straight)) == 2


def test_losses_fall_and_records_are_logged(tmp_path, records):
    config = tiny_config(tmp_path, epochs=6, optim={"lr": 3e-3, "warmup_epochs": 1.0})
    seen = []
    log = make_trainer(config, records, [seen.append]).fit()
    assert seen == log  # the callback saw every record of the log
    epochs = [r for r in log if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == list(range(1, 7))
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    train = [r for r in log if r["kind"] == "train"]
    assert all(r["images_per_s"] > 0 and r["lr"] > 0 for r in train)
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 6


def test_checkpoints_are_weights_only_and_pruned(tmp_path, records):
    trainer = make_trainer(tiny_config(tmp_path, epochs=3, keep_checkpoints=2), records)
    trainer.fit()
    weights, state = latest_checkpoint(tmp_path / "checkpoints")
    assert weights.name == "epoch-0003.safetensors"
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.safetensors")) == [
        "epoch-0002.safetensors",
        "epoch-0003.safetensors",
    ]
    loaded = load_state(state)  # torch.load(weights_only=True) under the hood
    assert loaded["epoch"] == 3 and loaded["sampler"]["epoch"] == 3
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, records, monkeypatch):
    trainer = make_trainer(tiny_config(tmp_path, epochs=1), records)
    trainer.fit()
    before = latest_checkpoint(tmp_path / "checkpoints")

    def broken_save(obj, path):
        path.write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("reidkit.train.checkpoint.torch.save", broken_save)
    trainer.epoch = 2
    with pytest.raises(OSError, match="disk full"):
        trainer.save()
    assert latest_checkpoint(tmp_path / "checkpoints") == before
    assert not list((tmp_path / "checkpoints").glob("*.state.pt.tmp*"))
    assert load_state(before[1])["epoch"] == 1


def test_an_objective_without_a_total_is_an_error(tmp_path, records):
    trainer = make_trainer(tiny_config(tmp_path, epochs=1), records)
    trainer.objective = lambda outputs, batch, progress: {"ce": outputs["logits"].sum()}
    with pytest.raises(KeyError, match="must include 'loss'"):
        trainer.fit()


ENGINE_FILES = ("engine.py", "run.py", "evaluation.py", "sampling.py", "datasets.py")


def test_the_engine_names_no_method():
    """Methods plug in through the registry: the engine never names one, nor its losses. A
    name counts where no letter touches it (``cast`` is a method, ``autocast`` is not)."""
    import re
    from pathlib import Path

    import reidkit.train
    from reidkit.methods import METHODS

    folder = Path(reidkit.train.__file__).parent
    words = set(METHODS) | {"triplet", "label_smoothing", "BNNeck", "CrossModalBaseline"}
    for name in ENGINE_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        found = sorted(
            w for w in words if re.search(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", text)
        )
        assert not found, f"reidkit/train/{name} names {found}"
    assert re.search(r"(?<![A-Za-z])cast(?![A-Za-z])", "autocast(x)") is None
    assert re.search(r"(?<![A-Za-z])cset(?![A-Za-z])", "cset_layers") is not None


def scripted_validation(values, probes=None):
    """An evaluator that returns the given mAP at each call (a stand-in for a val split) and
    records a probe of the weights it saw."""
    calls = iter(values)

    def evaluate(model):
        if probes is not None:
            probes.append(probe_metrics(model))
        return {"mAP": next(calls), "R1": 0.0}

    return evaluate


def test_validation_selects_the_epoch_and_test_runs_once_on_it(tmp_path, records):
    config = tiny_config(tmp_path, epochs=4)  # evaluates every epoch
    trainer = make_trainer(config, records)
    probes = []
    trainer.evaluate = scripted_validation([0.2, 0.5, 0.5, 0.3], probes)
    snapshot = {}

    def test(model):
        snapshot["probe"] = probe_metrics(model)
        return {"mAP": 0.9, "R1": 0.8}

    trainer.test = test
    log = trainer.fit()
    tests = [r for r in log if r["kind"] == "test"]
    assert len(tests) == 1 and tests[0]["epoch"] == 2  # the first of the tied best
    assert tests[0]["selected_by"] == "mAP on validation" and tests[0]["mAP"] == 0.9
    folder = tmp_path / "checkpoints"
    assert [p.name for p in folder.glob("best-epoch-*")] == ["best-epoch-0002.safetensors"]
    assert json.loads((folder / "best.json").read_text())["epoch"] == 2
    # the test saw the weights of epoch 2, not the last ones
    assert snapshot["probe"] == pytest.approx(probes[1]) and probes[1] != probes[3]
    # a finished run resumed does not test again
    again = make_trainer(config, records)
    again.evaluate, again.test = scripted_validation([]), test
    assert [r for r in again.fit(resume=True) if r["kind"] == "test"] == tests


def test_selection_survives_a_crash_and_resume(tmp_path, records):
    config = tiny_config(tmp_path, epochs=3)
    trainer = make_trainer(config, records, [])
    trainer.evaluate = scripted_validation([0.7, 0.1, 0.2])

    def crash_in_epoch_three(record):
        if record["kind"] == "train" and record["epoch"] == 3:
            raise KeyboardInterrupt

    trainer.callbacks = [crash_in_epoch_three]
    trainer.test = lambda model: {"mAP": 0.5, "R1": 0.5}
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    resumed = make_trainer(config, records)
    resumed.evaluate = scripted_validation([0.2])  # only epoch 3 is evaluated again
    resumed.test = lambda model: {"mAP": 0.5, "R1": 0.5}
    log = resumed.fit(resume=True)
    assert [r["epoch"] for r in log if r["kind"] == "test"] == [1]


def test_best_epoch_keeps_the_files_a_resume_needs(tmp_path):
    from reidkit.train.selection import BestEpoch, selected_weights

    model = torch.nn.Linear(2, 2)
    best = BestEpoch(tmp_path, "mAP", {})
    assert best.offer(model, 1, {"mAP": 0.4}) and not best.offer(model, 2, {"mAP": 0.4})
    best.saved_with_checkpoint()  # the checkpoint of epoch 2 holds the selection of epoch 1
    assert best.offer(model, 3, {"mAP": 0.6})  # not yet in a checkpoint: keep both files
    assert sorted(p.name for p in tmp_path.glob("best-epoch-*")) == [
        "best-epoch-0001.safetensors",
        "best-epoch-0003.safetensors",
    ]
    assert selected_weights(tmp_path).name == "best-epoch-0003.safetensors"
    # a crash now, then resuming from the checkpoint of epoch 2: back to epoch 1's selection
    resumed = BestEpoch(tmp_path, "mAP", {})
    resumed.load_state_dict(best.saved)
    assert selected_weights(tmp_path).name == "best-epoch-0001.safetensors"
    resumed.saved_with_checkpoint()
    assert [p.name for p in tmp_path.glob("best-epoch-*")] == ["best-epoch-0001.safetensors"]
    with pytest.raises(KeyError, match="eval.select: 'mAP' is not one of the metrics"):
        resumed.offer(model, 4, {"R1": 1.0})


@pytest.mark.parametrize(
    ("capability", "bf16", "expected"),
    [
        ((7, 5), True, (torch.float16, True)),  # a T4 claims bf16 but only emulates it
        ((8, 0), True, (torch.bfloat16, False)),
        ((9, 0), False, (torch.float16, True)),
    ],
)
def test_mixed_precision_follows_the_compute_capability(monkeypatch, capability, bf16, expected):
    from reidkit.train.precision import autocast_settings

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert autocast_settings(torch.device("cuda"), True) == expected
    assert autocast_settings(torch.device("cuda"), False) == (None, False)


@pytest.mark.parametrize("native", [True, False])
def test_cpu_autocasts_to_bf16_only_with_bf16_matrix_units(monkeypatch, native):
    from reidkit.train import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    expected = (torch.bfloat16, False) if native else (None, False)
    assert precision.autocast_settings(torch.device("cpu"), True) == expected
    assert precision.autocast_settings(torch.device("cpu"), False) == (None, False)
    with precision.autocast_context(torch.device("cpu"), True):
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == (torch.bfloat16 if native else torch.float32)
