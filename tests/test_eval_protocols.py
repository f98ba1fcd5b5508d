"""The one protocol runner, on every loader, against the per-query reference; re-ranking."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data import LLCM, SYSUMM01, Benchmark, Record, RegDB
from reidkit.eval import (
    METRIC_KEYS,
    evaluate_protocol,
    format_result,
    pairwise_distance,
    rank_metrics,
    raw_pixel_extractor,
    raw_pixel_features,
    re_ranking,
    reference_rank_metrics,
)


class CountingExtractor:
    """Features from a fixed random vector per identity plus noise; counts its calls."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise, self.calls, self.seen = noise, 0, []

    def __call__(self, records):
        self.calls += 1
        self.seen.extend(records)
        rows = []
        for r in records:
            base = np.random.default_rng(r.pid).normal(size=16)
            wobble = np.random.default_rng(zlib.crc32(r.path.encode())).normal(size=16)
            rows.append(base + self.noise * wobble)
        return torch.tensor(np.array(rows), dtype=torch.float32)


def reference(extract, ds, setting, trial, seed=0, split="test", **options) -> dict:
    """The per-query reference on the query and the gallery of one trial, drawn directly."""
    query = ds.query(setting, split=split)
    gallery = ds.gallery(setting, trial=trial, seed=seed, split=split, **options)
    return reference_rank_metrics(
        pairwise_distance(extract(query), extract(gallery)),
        [r.pid for r in query],
        [r.pid for r in gallery],
        [r.camid for r in query],
        [r.camid for r in gallery],
        ds.protocol,
    )


def assert_matches_reference(result, extract, ds, setting, seed=0, split="test", **options):
    for trial, got in enumerate(result["per_trial"]):
        expected = reference(extract, ds, setting, trial, seed, split, **options)
        assert got["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
        assert got["mINP"] == pytest.approx(expected["mINP"], abs=1e-6)
        np.testing.assert_allclose(got["cmc"], expected["cmc"], atol=1e-6)
    maps = [t["mAP"] for t in result["per_trial"]]
    assert result["mAP"] == pytest.approx(np.mean(maps))
    assert result["R1"] == pytest.approx(np.mean([t["cmc"][0] for t in result["per_trial"]]))


@pytest.fixture(scope="module")
def sysu_root(tmp_path_factory) -> Path:
    synth = pytest.importorskip("reidkit.data.synth")
    out = tmp_path_factory.mktemp("synth") / "sysu"
    return synth.write_layout("sysu", out, ids=14, seed=1, profile="smoke")


def test_sysu_perfect_features_score_one(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    for setting in ("all", "indoor"):
        for shot in ("single", "multi"):
            extract = CountingExtractor()
            result = evaluate_protocol(extract, ds, setting, trials=3, shot=shot)
            assert extract.calls == 1 and len(set(extract.seen)) == len(extract.seen)
            assert result["R1"] == 1.0 and result["mAP"] == pytest.approx(1.0)
            assert result["trials"] == 3 and len(result["per_trial"]) == 3
            assert (result["setting"], result["shot"], result["protocol"]) == (
                setting,
                shot,
                "sysu",
            )


def test_sysu_default_run_is_ten_single_shot_trials_from_seed_zero(sysu_root: Path) -> None:
    """The galleries are those of ds.gallery(mode, shot="single", trial=t), t = 0..9."""
    ds = SYSUMM01(sysu_root)
    extract = CountingExtractor(noise=1.5)
    result = evaluate_protocol(extract, ds, "all")
    assert result["trials"] == 10 and result["seed"] == 0 and result["split"] == "test"
    galleries = {r for t in range(10) for r in ds.gallery("all", shot="single", trial=t)}
    assert set(extract.seen) == set(ds.query("all")) | galleries
    assert_matches_reference(result, extract, ds, "all", shot="single")
    assert all(0.0 <= result[k] <= 1.0 for k in METRIC_KEYS)
    assert "mAP" in format_result(result)
    assert format_result(result).endswith(f"({result['trials']} trial(s))")
    logged = {"kind": "test", "R1": 0.5, "mAP": 0.25}  # a training log's record: no trial count
    assert format_result(logged) == "R1  50.0%  mAP  25.0%"


def test_sysu_trials_with_another_seed_are_the_reference(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    extract = CountingExtractor(noise=1.5)
    result = evaluate_protocol(extract, ds, "indoor", trials=4, seed=2, shot="multi")
    assert_matches_reference(result, extract, ds, "indoor", seed=2, shot="multi")
    other = evaluate_protocol(extract, ds, "indoor", trials=4, seed=0, shot="multi")
    assert other["per_trial"][2]["mAP"] == pytest.approx(result["per_trial"][0]["mAP"])


def test_sysu_validation_split(sysu_root: Path) -> None:
    extract = CountingExtractor(noise=1.5)
    ds = SYSUMM01(sysu_root, train_on_val=False)
    result = evaluate_protocol(extract, ds, split="val", trials=2)
    assert {r.pid for r in extract.seen} == set(ds.val_ids)
    assert_matches_reference(result, extract, ds, "all", split="val")
    with pytest.raises(ValueError, match="train_on_val=True"):
        evaluate_protocol(extract, SYSUMM01(sysu_root), split="val")


def test_bad_arguments(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    with pytest.raises(ValueError, match=r"expected shape \(\d+, D\), got \(3, 16\)"):
        evaluate_protocol(lambda records: torch.zeros(3, 16), ds, trials=1)
    with pytest.raises(ValueError, match="trials must be a positive integer, got 0"):
        evaluate_protocol(CountingExtractor(), ds, trials=0)
    with pytest.raises(ValueError, match="SYSUMM01 setting must be one of"):
        evaluate_protocol(CountingExtractor(), ds, "v2i")
    with pytest.raises(ValueError, match="shot must be one of"):
        evaluate_protocol(CountingExtractor(), ds, shot="few")


def llcm_root(tmp_path: Path) -> Path:
    for folder, cams in (("test_vis", (1, 2)), ("test_nir", (1, 2))):
        for pid in (3, 4, 5):
            for cam in cams:
                for k in range(3):
                    path = tmp_path / folder / f"cam{cam}" / f"{pid:04d}" / f"{k}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (4, 8)).save(path)
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "test_id.txt").write_text("3,4,5\n")
    for name in ("train_vis", "train_nir"):  # training lists only need to parse here
        (tmp_path / "idx" / f"{name}.txt").write_text("test_vis/cam1/0003/0.jpg 3\n")
    return tmp_path


def test_llcm_both_directions(tmp_path: Path) -> None:
    ds = LLCM(llcm_root(tmp_path))
    for direction in ("v2i", "i2v"):
        result = evaluate_protocol(CountingExtractor(), ds, direction, trials=2)
        assert result["R1"] == 1.0 and result["mAP"] == 1.0 and result["trials"] == 2
        extract = CountingExtractor(noise=2.0)
        result = evaluate_protocol(extract, ds, direction)
        assert result["trials"] == 10 and result["protocol"] == "llcm"
        assert_matches_reference(result, extract, ds, direction)


def test_regdb_one_fixed_gallery(tmp_path: Path) -> None:
    synth = pytest.importorskip("reidkit.data.synth")
    ds = RegDB(synth.write_layout("regdb", tmp_path / "regdb", ids=4, profile="smoke"), trial=2)
    extract = CountingExtractor(noise=2.0)
    for direction in ("v2i", "i2v"):
        result = evaluate_protocol(extract, ds, direction)
        assert result["trials"] == 1 and result["protocol"] == "regdb"
        assert_matches_reference(result, extract, ds, direction)
    with pytest.raises(ValueError, match="one fixed gallery"):
        evaluate_protocol(extract, ds, trials=3)


class Text(Benchmark):
    """A minimal text benchmark: any object following the loader protocol can be evaluated."""

    task = "text-image"
    protocol = "text"
    settings = ("t2i",)
    default_setting = "t2i"
    default_trials = 1

    def query(self, setting=None, split="test"):
        self.check_setting(setting)
        self.check_split(split)
        return [Record(f"img{p}.jpg", p, 0, "text", f"person {p}") for p in (1, 2, 2, 3)]

    def gallery(self, setting=None, trial=0, seed=0, split="test"):
        self.check_setting(setting)
        self.check_split(split)
        self.check_fixed_trial(trial)
        return [Record(f"img{p}.jpg", p, 0, "visible") for p in (1, 2, 3, 3)]


def test_text_to_image() -> None:
    def encode(records):  # text and images of one id share a direction
        assert {r.modality for r in records} == {"text", "visible"}
        return CountingExtractor()(records)

    result = evaluate_protocol(encode, Text())
    assert result["R1"] == 1.0 and result["mAP"] == 1.0 and len(result["cmc"]) == 20
    noisy = CountingExtractor(noise=3.0)
    assert_matches_reference(evaluate_protocol(noisy, Text()), noisy, Text(), "t2i")


def test_raw_pixel_features_are_box_averages() -> None:
    images = torch.arange(2 * 3 * 4 * 2, dtype=torch.float32).reshape(2, 3, 4, 2)
    features = raw_pixel_features(images, size=(2, 1))
    assert features.shape == (2, 3 * 2 * 1)
    expected = images.reshape(2, 3, 2, 2, 2).mean(dim=(3, 4)).flatten(1)  # 2x2 boxes
    torch.testing.assert_close(features, expected)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, H, W\), got shape \(3, 4, 2\)"):
        raw_pixel_features(images[0])


def test_raw_pixel_extractor_reads_records_as_the_test_transform(sysu_root: Path) -> None:
    from reidkit.data import read_image
    from reidkit.data.transforms import test_transform

    ds = SYSUMM01(sysu_root)
    records = ds.query()[:5]
    features = raw_pixel_extractor((64, 32), size=(8, 4), batch_size=2)(records)
    images = torch.stack([test_transform((64, 32))(read_image(r.path)) for r in records])
    torch.testing.assert_close(features, raw_pixel_features(images, (8, 4)))
    assert raw_pixel_extractor((64, 32))([]).shape == (0, 3 * 32 * 16)
    caption = Record(records[0].path, 1, 0, "text", "a person")
    with pytest.raises(ValueError, match="raw pixels cannot encode captions"):
        raw_pixel_extractor((64, 32))([caption])
    result = evaluate_protocol(raw_pixel_extractor((64, 32)), ds, trials=2)
    assert set(METRIC_KEYS) <= set(result) and 0.0 < result["mAP"] <= 1.0


def clustered(seed: int = 0, ids: int = 20, per_id: int = 6, spread: float = 0.9):
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(ids), per_id)
    x = rng.normal(size=(ids, 16))[pids] + spread * rng.normal(size=(len(pids), 16))
    is_query = np.arange(len(pids)) % per_id == 0
    return x[is_query], x[~is_query], pids[is_query], pids[~is_query]


def test_re_ranking_helps_on_clusters_and_keeps_original_at_lambda_one() -> None:
    q, g, q_pids, g_pids = clustered()
    q_g, q_q, g_g = (pairwise_distance(a, b, "euclidean") for a, b in ((q, g), (q, q), (g, g)))
    cams_q, cams_g = np.ones(len(q)), np.full(len(g), 2)
    before = rank_metrics(q_g, q_pids, g_pids, cams_q, cams_g, "regdb")["mAP"]
    after = rank_metrics(
        re_ranking(q_g, q_q, g_g, k1=6, k2=3), q_pids, g_pids, cams_q, cams_g, "regdb"
    )["mAP"]
    assert after > before + 0.02
    joint = np.block([[q_q.numpy(), q_g.numpy()], [q_g.numpy().T, g_g.numpy()]])
    expected = (joint / joint.max(axis=1, keepdims=True))[: len(q), len(q) :]
    np.testing.assert_allclose(re_ranking(q_g, q_q, g_g, lambda_value=1.0), expected, atol=1e-6)


def test_re_ranking_bad_input() -> None:
    with pytest.raises(ValueError, match=r"q_q must be \(2, 2\) and g_g \(3, 3\)"):
        re_ranking(np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        re_ranking(-np.ones((2, 3)), np.zeros((2, 2)), np.zeros((3, 3)))
