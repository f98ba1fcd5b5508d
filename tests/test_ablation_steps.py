"""Row steps of an ablation against the seed spread, on hand-made records."""

import json
import math

import pytest

from reidkit.viz.ablation_steps import row_steps, step_line, step_lines


def record(row: str, seed: int, r1: float) -> dict:
    return {
        "row": row,
        "seed": seed,
        "config_hash": "x",
        "metrics": {"R1": r1, "mAP": r1 / 2},
        "params": 1,
        "params_inference": 1,
        "ms_per_image": {"1": 1.0},
        "train_seconds": 1.0,
    }


# base: 20, 30, 25 (std 5); + A: 40, 42, 44 (std 2); + B: 38, 50 (std 8.49, no seed 2)
RECORDS = [
    *(record("base", s, v) for s, v in enumerate([0.20, 0.30, 0.25])),
    *(record("+ A", s, v) for s, v in enumerate([0.40, 0.42, 0.44])),
    *(record("+ B", s, v) for s, v in enumerate([0.38, 0.50])),
]


def test_gain_spread_and_per_seed_gains_against_hand_values():
    a, b = row_steps(RECORDS)
    assert (a.row, a.base) == ("+ A", "base")
    assert a.gain == pytest.approx(17.0) and a.spread == pytest.approx(5.0) and a.measurable
    assert a.per_seed == pytest.approx({0: 20.0, 1: 12.0, 2: 19.0})
    assert (b.row, b.base) == ("+ B", "+ A")
    assert b.gain == pytest.approx(2.0) and b.spread == pytest.approx(math.sqrt(72.0))
    assert not b.measurable and b.per_seed == pytest.approx({0: -2.0, 1: 8.0})
    assert "no measurable effect (per seed: -2.0, +8.0)" in step_line(b)
    assert "+17.00 vs 'base', spread 5.00: beyond the seed spread" in step_line(a)


def test_a_row_can_build_on_another_row_and_unknown_names_are_refused():
    (a, b) = row_steps(RECORDS, against={"+ B": "base"})
    assert b.base == "base" and b.gain == pytest.approx(44.0 - 25.0)
    with pytest.raises(ValueError, match="no row named '\\+ C'"):
        row_steps(RECORDS, against={"+ C": "base"})


def test_rows_of_a_part_finished_grid_without_results_are_left_out(tmp_path):
    rows = ["base", "+ A", "+ B"]
    spec = {
        "name": "hand-made",
        "metrics": ["R1", "mAP"],
        "rows": [{"name": r} for r in rows],
        "runs": [{"row": r, "seed": s, "config_hash": "x"} for r in rows for s in range(3)],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    kept = [r for r in RECORDS if r["row"] != "+ A"]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    assert row_steps(tmp_path) == []  # "+ A" has no results and "+ B" builds on it
    assert [line.split(" not measured yet: ") for line in step_lines(tmp_path)] == [
        ["+ A".ljust(24), "no results for '+ A'"],
        ["+ B".ljust(24), "no results for '+ A'"],
    ]
    (step,) = row_steps(tmp_path, metric="mAP", against={"+ B": "base"})
    assert step.metric == "mAP" and step.gain == pytest.approx((44.0 - 25.0) / 2)


def test_step_lines_name_the_rows_not_measured_yet():
    lines = step_lines(RECORDS[:3] + RECORDS[6:], metrics=["R1"], against={"+ B": "base"})
    assert len(lines) == 1 and lines[0].startswith("+ B") and "vs 'base'" in lines[0]
    lines = step_lines(RECORDS)
    assert [line.split()[0:2] for line in lines] == [["+", "A"], ["+", "B"]] * 2


def test_a_row_with_one_seed_gets_no_verdict():
    (step,) = row_steps(RECORDS[:3] + RECORDS[3:4])  # "+ A" at seed 0 only
    assert step.spread is None and step.measurable is None
    assert step.gain == pytest.approx(15.0) and step.per_seed == pytest.approx({0: 20.0})
    assert step_line(step).endswith(
        "+15.00 vs 'base': no verdict, a row has one seed (per seed: +20.0)"
    )
