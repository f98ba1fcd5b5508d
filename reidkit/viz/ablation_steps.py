"""Does a row of an ablation help? Each row's gain over the row it builds on, against the spread
of the seeds (the Methods page, section 8): a gain no larger than the larger of the two rows'
sample standard deviations is "no measurable effect on our data".

    for step in row_steps("runs/ablations/cset_table1"):
        print(step_line(step))
    print("\n".join(step_lines(folder)))           # R1 and mAP, and the rows not measured yet
    row_steps(folder, against={"ACSA": "global"})  # a row built on another than the one above

Each step also lists the gain at every seed that both rows ran (the same seed for sampling and
initialisation): a step whose sign changes from seed to seed is not one to build on, whatever
its mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reidkit.viz.ablation import Results, resolve, summarize


@dataclass(frozen=True)
class Step:
    """One row against the row it builds on, in percentage points of ``metric``."""

    row: str
    base: str
    metric: str
    gain: float  # the difference of the two rows' means
    spread: float | None  # the larger of the two rows' sample standard deviations; None when
    # a row has a single seed, which has no spread to judge a gain against
    per_seed: dict[int, float]  # the gain at each seed that both rows have

    @property
    def measurable(self) -> bool | None:
        """Whether the gain is beyond the seed spread; None with a single seed in a row."""
        return None if self.spread is None else abs(self.gain) > self.spread


def row_steps(
    results: Results, metric: str = "R1", against: Mapping[str, str] | None = None
) -> list[Step]:
    """Every row but the first against the row above it, or against ``against[row]``; rows
    without results yet (a part-finished grid) are left out, and so are steps onto them."""
    records, rows, _, _, _ = resolve(results, metrics=[metric])
    against = dict(against or {})
    unknown = sorted(name for name in {*against, *against.values()} if name not in rows)
    if unknown:
        raise ValueError(f"against: no row named {unknown[0]!r}; the rows are {rows}")
    summary = {s["row"]: s for s in summarize(records, rows, [metric])}
    by_seed = {(r["row"], r["seed"]): 100 * r["metrics"][metric] for r in records}
    steps = []
    for above, row in zip(rows, rows[1:]):
        base = against.get(row, above)
        mine, theirs = summary[row]["metrics"][metric], summary[base]["metrics"][metric]
        if mine["mean"] is None or theirs["mean"] is None:
            continue
        seeds = sorted(set(summary[row]["seeds"]) & set(summary[base]["seeds"]))
        steps.append(
            Step(
                row=row,
                base=base,
                metric=metric,
                gain=mine["mean"] - theirs["mean"],
                spread=None
                if mine["std"] is None or theirs["std"] is None
                else max(mine["std"], theirs["std"]),
                per_seed={s: by_seed[row, s] - by_seed[base, s] for s in seeds},
            )
        )
    return steps


def step_line(step: Step, width: int = 24) -> str:
    """One line: the gain, the spread, the verdict and the gain at each seed."""
    seeds = ", ".join(f"{gain:+.1f}" for gain in step.per_seed.values())
    head = f"{step.row:{width}s} {step.metric} {step.gain:+6.2f} vs {step.base!r}"
    if step.spread is None:
        return f"{head}: no verdict, a row has one seed (per seed: {seeds})"
    verdict = "beyond the seed spread" if step.measurable else "no measurable effect"
    return f"{head}, spread {step.spread:.2f}: {verdict} (per seed: {seeds})"


def step_lines(
    results: Results,
    metrics: Sequence[str] = ("R1", "mAP"),
    against: Mapping[str, str] | None = None,
    width: int = 24,
) -> list[str]:
    """:func:`step_line` for every step of each metric, then one line per row that could not be
    measured because it or the row it builds on has no results yet."""
    records, rows, _, _, _ = resolve(results, metrics=list(metrics))
    lines, measured = [], set()
    for metric in metrics:
        for step in row_steps(results, metric, against):
            lines.append(step_line(step, width))
            measured.add(step.row)
    have = {r["row"] for r in records}
    for above, row in zip(rows, rows[1:]):
        if row not in measured:
            empty = [name for name in (row, (against or {}).get(row, above)) if name not in have]
            lines.append(f"{row:{width}s} not measured yet: no results for {empty[0]!r}")
    return lines
