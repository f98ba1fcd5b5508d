"""Whole-protocol runners and k-reciprocal re-ranking."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.data import LLCM, SYSUMM01, Record
from reidkit.eval import (
    evaluate_llcm,
    evaluate_sysu,
    evaluate_text,
    format_result,
    pairwise_distance,
    rank_metrics,
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


@pytest.fixture(scope="module")
def sysu_root(tmp_path_factory) -> Path:
    synth = pytest.importorskip("reidkit.data.synth")
    out = tmp_path_factory.mktemp("synth") / "sysu"
    return synth.write_layout("sysu", out, ids=14, seed=1, profile="smoke")


def test_sysu_perfect_features_score_one(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    for mode in ("all", "indoor"):
        for shot in ("single", "multi"):
            extract = CountingExtractor()
            result = evaluate_sysu(extract, ds, mode, shot, trials=3)
            assert extract.calls == 1 and len(set(extract.seen)) == len(extract.seen)
            assert result["R1"] == 1.0 and result["mAP"] == pytest.approx(1.0)
            assert result["trials"] == 3 and len(result["per_trial"]) == 3


def test_sysu_trials_are_the_reference_on_each_gallery(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    extract = CountingExtractor(noise=1.5)
    result = evaluate_sysu(extract, ds, "all", "single", trials=4, seed=2)
    query = ds.query()
    maps = []
    for trial in range(4):
        gallery = ds.gallery("all", "single", trial, seed=2)
        dist = pairwise_distance(extract(query), extract(gallery))
        expected = reference_rank_metrics(
            dist,
            [r.pid for r in query],
            [r.pid for r in gallery],
            [r.camid for r in query],
            [r.camid for r in gallery],
            "sysu",
        )
        assert result["per_trial"][trial]["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
        maps.append(expected["mAP"])
    assert result["mAP"] == pytest.approx(np.mean(maps))
    assert "mAP" in format_result(result)


def test_extractor_must_return_one_row_per_record(sysu_root: Path) -> None:
    ds = SYSUMM01(sysu_root)
    with pytest.raises(ValueError, match=r"expected shape \(\d+, D\), got \(3, 16\)"):
        evaluate_sysu(lambda records: torch.zeros(3, 16), ds, trials=1)


def test_llcm_and_text_runners(tmp_path: Path) -> None:
    for folder, cams in (("test_vis", (1, 2)), ("test_nir", (1, 2))):
        for pid in (3, 4):
            for cam in cams:
                for k in range(2):
                    path = tmp_path / folder / f"cam{cam}" / f"{pid:04d}" / f"{k}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (4, 8)).save(path)
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "test_id.txt").write_text("3,4\n")
    for name in ("train_vis", "train_nir"):  # training lists only need to parse here
        (tmp_path / "idx" / f"{name}.txt").write_text("test_vis/cam1/0003/0.jpg 3\n")
    ds = LLCM(tmp_path)
    for direction in ("v2i", "i2v"):
        result = evaluate_llcm(CountingExtractor(), ds, direction, trials=2)
        assert result["R1"] == 1.0 and result["mAP"] == 1.0 and result["trials"] == 2

    class Text:
        def queries(self, split):
            return [Record(f"img{p}.jpg", p, 0, "text", f"person {p}") for p in (1, 2, 2)]

        def gallery(self, split):
            return [Record(f"img{p}.jpg", p, 0, "visible") for p in (1, 2)]

    def encode(records):  # text and images of one id share a direction
        assert {r.modality for r in records} == {"text", "visible"}
        return CountingExtractor()(records)

    result = evaluate_text(encode, Text())
    assert result["R1"] == 1.0 and result["mAP"] == 1.0 and len(result["cmc"]) == 10


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
