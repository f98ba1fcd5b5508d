"""Chapter 2 exercises: the metrics of one query and SYSU-MM01's ranked list, checked against
the per-query reference evaluator ``reidkit.eval.reference``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from reidkit.exercises.checking import Case, CheckResult, run_check

QUERY_PID, OTHER_PID = 1, 0


def _metrics_of_matches(matches: Sequence[bool], max_rank: int = 20) -> dict:
    """The reference's metrics of a query whose ranked list has true matches at ``matches``."""
    from reidkit.eval.reference import query_metrics

    flags = np.asarray(matches, dtype=bool)
    g_pids = np.where(flags, QUERY_PID, OTHER_PID)
    result = query_metrics(
        np.arange(len(flags)), QUERY_PID, 1, g_pids, np.zeros(len(flags)), "regdb", max_rank
    )
    if result is None:
        raise ValueError("the cases always hold at least one true match")
    return result


def reference_average_precision(matches: Sequence[bool]) -> float:
    return _metrics_of_matches(matches)["AP"]


def reference_inverse_negative_penalty(matches: Sequence[bool]) -> float:
    return _metrics_of_matches(matches)["INP"]


def match_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    hand = np.zeros(10, bool)
    hand[[1, 6]] = True  # true matches at ranks 2 and 7
    sparse = np.zeros(40, bool)
    sparse[rng.choice(40, 4, replace=False)] = True
    dense = rng.random(25) < 0.6
    dense[0] = False
    dense[3] = True
    return [
        Case("matches at ranks 2 and 7 of 10", (hand,)),
        Case("a single match, at rank 1", (np.array([True]),)),
        Case("a single match, last of 6", (np.array([False] * 5 + [True]),)),
        Case("every item a match", (np.ones(5, bool),)),
        Case("4 matches among 40", (sparse,)),
        Case("many matches among 25", (dense,)),
    ]


def check_average_precision(fn: Callable[[np.ndarray], float]) -> CheckResult:
    """``fn(matches)`` returns the average precision of one query, where ``matches`` (a boolean
    array, best-ranked first) says which items of its ranked list are true matches: the mean,
    over the true matches, of (true matches so far) / (rank)."""
    return run_check(
        "average_precision",
        fn,
        reference_average_precision,
        match_cases(0),
        "reidkit.eval.reference.query_metrics",
    )


def check_inverse_negative_penalty(fn: Callable[[np.ndarray], float]) -> CheckResult:
    """``fn(matches)`` returns the INP of one query (the term averaged by mINP): the number of
    true matches divided by the rank of the last one."""
    return run_check(
        "inverse_negative_penalty",
        fn,
        reference_inverse_negative_penalty,
        match_cases(0),
        "reidkit.eval.reference.query_metrics",
    )


def reference_cmc(
    ranked_pids: Sequence[int], query_pid: int, max_rank: int, deduplicate: bool
) -> np.ndarray:
    """CMC of one query from the ids of its ranked list (SYSU-MM01's rule when ``deduplicate``:
    each identity counts once, at its first place)."""
    from reidkit.eval.reference import query_metrics

    pids = np.asarray(ranked_pids)
    # camera 6 queries against camera 1: SYSU-MM01 removes nothing, so only de-duplication acts
    result = query_metrics(
        np.arange(len(pids)),
        query_pid,
        6,
        pids,
        np.ones(len(pids)),
        "sysu" if deduplicate else "regdb",
        max_rank,
    )
    if result is None:
        raise ValueError("the cases always hold the query's identity")
    return result["cmc"]


def cmc_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    repeats = np.array([4, 4, 4, 2, 2, 7, 5, 5, 3, 1])  # query id 5 is 6th, 4th distinct
    shuffled = rng.permutation(np.repeat(np.arange(8), 3))
    return [
        Case("first match at rank 6, no de-duplication", (repeats, 5, 10, False)),
        Case("the same list de-duplicated (SYSU-MM01)", (repeats, 5, 10, True)),
        Case("match at rank 1", (np.array([3, 1, 2]), 3, 5, True)),
        Case("max_rank longer than the list", (np.array([2, 2, 9]), 9, 8, True)),
        Case("24 items, 8 ids, de-duplicated", (shuffled, int(shuffled[11]), 20, True)),
        Case("24 items, 8 ids, as they come", (shuffled, int(shuffled[11]), 20, False)),
    ]


def check_cmc(fn: Callable[[np.ndarray, int, int, bool], np.ndarray]) -> CheckResult:
    """``fn(ranked_pids, query_pid, max_rank, deduplicate)`` returns one query's CMC curve, an
    array of ``max_rank`` zeros and ones: entry k-1 is 1 when a true match is within the first
    k of the list. With ``deduplicate`` (SYSU-MM01, LLCM) the list is first reduced to distinct
    identities, each at its first place."""
    return run_check("cmc", fn, reference_cmc, cmc_cases(0), "reidkit.eval.reference.query_metrics")


def reference_sysu_ranked_list(
    dist_row: np.ndarray, q_pid: int, q_camid: int, g_pids: np.ndarray, g_camids: np.ndarray
) -> list[int]:
    from reidkit.eval.reference import ranked_list

    return ranked_list(dist_row, q_pid, q_camid, g_pids, g_camids, "sysu")


def ranked_list_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    g_pids = rng.integers(0, 5, 12)
    g_cams = rng.choice([1, 2, 4, 5], 12)
    g_cams[:2] = 2  # camera 2 is in the gallery
    ties = rng.integers(0, 3, 12).astype(np.float64)
    return [
        Case("camera 3 query: camera 2 items removed", (rng.random(12), 1, 3, g_pids, g_cams)),
        Case("camera 6 query: nothing removed", (rng.random(12), 1, 6, g_pids, g_cams)),
        Case("equal distances keep gallery order", (ties, 2, 6, g_pids, g_cams)),
        Case("ties and removal together", (ties, 2, 3, g_pids, g_cams)),
        Case(
            "a camera 2 gallery for a camera 3 query: empty",
            (rng.random(3), 1, 3, [1, 2, 1], [2, 2, 2]),
        ),
    ]


def check_sysu_ranked_list(
    fn: Callable[[np.ndarray, int, int, np.ndarray, np.ndarray], Sequence[int]],
) -> CheckResult:
    """``fn(dist_row, q_pid, q_camid, g_pids, g_camids)`` returns the gallery indices of one
    query's ranked list under SYSU-MM01's rule: smallest distance first, equal distances in
    gallery order, and every camera-2 item removed when the query comes from camera 3."""
    return run_check(
        "sysu_ranked_list",
        fn,
        reference_sysu_ranked_list,
        ranked_list_cases(0),
        "reidkit.eval.reference.ranked_list",
    )
