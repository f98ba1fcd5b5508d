"""The vectorised evaluator against the per-query reference and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.eval import (
    PROTOCOLS,
    pairwise_distance,
    query_metrics,
    rank_metrics,
    rank_metrics_from_features,
    reference_rank_metrics,
    stable_argsort,
)


def random_problem(rng, ties: bool, max_q: int = 25, max_g: int = 30):
    num_q, num_g = int(rng.integers(1, max_q)), int(rng.integers(1, max_g))
    if ties:  # few distinct values: many ties, which must keep gallery order
        dist = rng.integers(0, 4, (num_q, num_g)).astype(np.float32)
    else:
        dist = rng.normal(size=(num_q, num_g))  # float64, negative values too
    q_pids = rng.integers(0, 7, num_q)  # some query ids are absent from the gallery
    g_pids = rng.integers(0, 6, num_g)
    q_cams = rng.integers(1, 7, num_q)
    g_cams = rng.integers(1, 7, num_g)
    q_pids[0] = g_pids[0]  # at least one query can be valid
    return dist, q_pids, g_pids, q_cams, g_cams


def assert_same(expected: dict, got: dict) -> None:
    assert got["num_valid"] == expected["num_valid"]
    np.testing.assert_allclose(got["cmc"], expected["cmc"], atol=1e-6, rtol=0)
    assert got["mAP"] == pytest.approx(expected["mAP"], abs=1e-6)
    assert got["mINP"] == pytest.approx(expected["mINP"], abs=1e-6)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("ties", [False, True])
def test_vectorised_equals_reference(protocol: str, ties: bool) -> None:
    rng = np.random.default_rng(len(protocol) * 7 + ties)
    checked = 0
    for _ in range(60):
        problem = random_problem(rng, ties)
        try:
            expected = reference_rank_metrics(*problem, protocol, max_rank=20)
        except ValueError:  # no valid query: the fast path must refuse too
            with pytest.raises(ValueError, match="no(ne of the)? .*true match"):
                rank_metrics(*problem, protocol, max_rank=20)
            continue
        # tiny chunks exercise the chunking; galleries are often shorter than max_rank
        assert_same(expected, rank_metrics(*problem, protocol, max_rank=20, chunk_elements=16))
        checked += 1
    assert checked > 30


def test_sysu_size_problem_matches_reference() -> None:
    rng = np.random.default_rng(1)
    num_q, num_g = 400, 301
    dist = rng.random((num_q, num_g)).astype(np.float32)
    g_pids, g_cams = rng.integers(0, 96, num_g), rng.choice([1, 2, 4, 5], num_g)
    q_pids, q_cams = rng.choice(g_pids, num_q), rng.choice([3, 6], num_q)
    for protocol in ("sysu", "llcm"):
        expected = reference_rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol)
        assert_same(expected, rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol))


# The chapter's worked example: one query of id 7 and six gallery images.
SIX = {
    "dist": [[0.3, 0.1, 0.5, 0.2, 0.9, 0.4]],
    "g_pids": [7, 3, 7, 3, 7, 5],
    "g_cams": [1, 2, 4, 5, 1, 4],
}


@pytest.mark.parametrize(
    ("protocol", "q_cam", "ap", "inp", "first"),
    [
        # ranked ids 3 3 7 5 7 7: matches at ranks 3, 5, 6
        ("regdb", 3, (1 / 3 + 2 / 5 + 3 / 6) / 3, 3 / 6, 3),
        # cam3 query: the cam2 image goes, leaving 3 7 5 7 7; ids de-duplicated: 3 7 5
        ("sysu", 3, (1 / 2 + 2 / 4 + 3 / 5) / 3, 3 / 5, 2),
        # cam6 query: nothing removed; AP as RegDB but CMC over ids 3 7 5
        ("sysu", 6, (1 / 3 + 2 / 5 + 3 / 6) / 3, 3 / 6, 2),
        # LLCM, query camera 1: both cam1 images of id 7 go, leaving 3 3 5 7; ids 3 5 7
        ("llcm", 1, 1 / 4, 1 / 4, 3),
    ],
)
def test_six_image_example_by_hand(protocol, q_cam, ap, inp, first) -> None:
    args = (SIX["dist"], [7], SIX["g_pids"], [q_cam], SIX["g_cams"], protocol)
    result = rank_metrics(*args, max_rank=6)
    assert result["mAP"] == pytest.approx(ap)
    assert result["mINP"] == pytest.approx(inp)
    assert result["cmc"].tolist() == [0.0] * (first - 1) + [1.0] * (7 - first)
    single = query_metrics(SIX["dist"][0], 7, q_cam, SIX["g_pids"], SIX["g_cams"], protocol, 6)
    assert single["AP"] == pytest.approx(ap) and single["INP"] == pytest.approx(inp)


def test_ties_keep_gallery_order() -> None:
    # both items at distance 1: the true match listed second ranks second
    result = rank_metrics([[1.0, 1.0]], [1], [2, 1], [3], [1, 1], "regdb", max_rank=2)
    assert result["cmc"].tolist() == [0.0, 1.0] and result["mAP"] == pytest.approx(0.5)
    result = rank_metrics([[1.0, 1.0]], [1], [1, 2], [3], [1, 1], "regdb", max_rank=2)
    assert result["cmc"].tolist() == [1.0, 1.0] and result["mAP"] == 1.0


def test_short_gallery_pads_cmc_with_last_value() -> None:
    result = rank_metrics([[0.2, 0.1, 0.3]], [1], [1, 2, 3], [1], [2, 2, 2], "text", max_rank=10)
    assert result["cmc"].tolist() == [0.0] + [1.0] * 9


def test_invalid_queries_are_skipped_not_counted() -> None:
    dist = [[0.1, 0.2], [0.1, 0.2]]
    result = rank_metrics(dist, [1, 9], [2, 1], [1, 1], [2, 2], "regdb", return_per_query=True)
    assert result["num_valid"] == 1 and result["mAP"] == pytest.approx(0.5)
    assert result["valid"].tolist() == [True, False] and np.isnan(result["AP"][1])


def test_torch_inputs_and_per_query_outputs() -> None:
    rng = np.random.default_rng(3)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, ties=False, max_q=40)
    expected = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, "sysu", return_per_query=True)
    got = rank_metrics(
        torch.from_numpy(dist),
        torch.from_numpy(q_pids),
        torch.tensor(g_pids),
        torch.tensor(q_cams),
        torch.tensor(g_cams),
        "sysu",
        return_per_query=True,
    )
    assert_same(expected, got)
    valid = expected["valid"]
    assert np.nanmean(got["AP"]) == pytest.approx(expected["mAP"])
    assert (got["first_rank"][valid] >= 1).all()


def test_from_features_equals_distance_matrix() -> None:
    rng = np.random.default_rng(4)
    q, g = rng.normal(size=(30, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 5, 30), rng.integers(0, 5, 50)
    q_cams, g_cams = rng.integers(1, 7, 30), rng.integers(1, 7, 50)
    for metric in ("cosine", "euclidean"):
        dist = pairwise_distance(q, g, metric)
        expected = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, "sysu")
        got = rank_metrics_from_features(
            q, g, q_pids, g_pids, q_cams, g_cams, "sysu", metric=metric, chunk_elements=100
        )
        assert_same(expected, got)


def test_stable_argsort_matches_torch_stable_sort() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(-3, 3, (20, 50)).astype(np.float32) / 2
    values[0, :4] = [0.0, -0.0, 0.0, -0.0]  # -0.0 and 0.0 are equal: a tie
    expected = torch.sort(torch.from_numpy(values), dim=1, stable=True).indices.numpy()
    np.testing.assert_array_equal(stable_argsort(torch.from_numpy(values)), expected)
    fine = rng.normal(size=(5, 40))  # float64 that float32 cannot hold: the other path
    expected = torch.sort(torch.from_numpy(fine), dim=1, stable=True).indices.numpy()
    np.testing.assert_array_equal(stable_argsort(torch.from_numpy(fine)), expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"q_pids": [1, 2]}, r"q_pids has 2 entries but distmat has shape \(3, 4\)"),
        ({"g_camids": [1, 1, 1]}, r"g_camids has 3 entries but distmat has shape \(3, 4\)"),
        ({"distmat": np.zeros(4)}, r"distmat must be 2-D"),
        ({"protocol": "market"}, r"unknown protocol 'market'"),
    ],
)
def test_bad_shapes_are_named(change, message) -> None:
    args = {
        "distmat": np.zeros((3, 4)),
        "q_pids": [1, 2, 3],
        "g_pids": [1, 2, 3, 4],
        "q_camids": [3, 3, 3],
        "g_camids": [1, 1, 1, 1],
        "protocol": "sysu",
    }
    args.update(change)
    with pytest.raises(ValueError, match=message):
        rank_metrics(**args)


def test_nan_distances_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        rank_metrics([[np.nan, 1.0]], [1], [1, 2], [1], [1, 1], "regdb")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu() -> None:
    rng = np.random.default_rng(6)
    for protocol in PROTOCOLS:
        dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, ties=True, max_q=200)
        expected = reference_rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol)
        got = rank_metrics(torch.from_numpy(dist).cuda(), q_pids, g_pids, q_cams, g_cams, protocol)
        assert_same(expected, got)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_torch_backend_of_chunk_statistics_matches_numpy(protocol: str) -> None:
    # the GPU path runs the same statistics on torch tensors; check that branch on the CPU
    from reidkit.eval.metrics import _chunk_statistics

    rng = np.random.default_rng(7)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, ties=True, max_q=60)
    ids, g_idx = np.unique(g_pids, return_inverse=True)
    q_idx = np.array([np.flatnonzero(ids == p)[0] if p in ids else -1 for p in q_pids])
    arrays = [q_idx, q_cams, g_idx, g_cams]
    order = np.argsort(dist, axis=1, kind="stable")
    expected = _chunk_statistics(order, *arrays, protocol, len(ids))
    tensors = [torch.as_tensor(a, dtype=torch.int64) for a in arrays]
    got = _chunk_statistics(torch.as_tensor(order), *tensors, protocol, len(ids))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g.numpy().astype(float), np.asarray(e, dtype=float), atol=1e-12)
