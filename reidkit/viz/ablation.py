"""Ablation tables and figures: our mean ± standard deviation over seeds, next to the paper's.

``results`` is an ablation folder (``reidkit ablate`` writes ``results.jsonl`` and
``spec.json`` there; only the runs of the folder's current spec count) or a list of records
(lines of ``results.jsonl``; metrics as fractions). Tables show percentages, as papers do:

    ablation_table("runs/ablations/triplet")               # pandas DataFrame
    ablation_table(records, paper={"source": "Seed 002, Table 3", "rows": {...}})
    ablation_figure("runs/ablations/triplet")              # plotly, error bars

The standard deviation is the sample one (n - 1 in the denominator); with one seed there is
none. The paper's numbers are typed in by the chapter from the seed paper and are labelled as
the paper's wherever they appear.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

Results = str | Path | Sequence[dict[str, Any]]
OURS, PAPER, SEEDS = "#2a9d8f", "#e76f51", "#264653"
DEFAULT_METRICS = ("R1", "mAP")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the deviation is NaN below two values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _stats(values: Sequence[float]) -> dict[str, Any]:
    mean, std = mean_std(values)
    clean = lambda x: None if math.isnan(x) else x  # noqa: E731 - JSON has no NaN
    return {"mean": clean(mean), "std": clean(std), "values": list(values)}


def load_folder(folder: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of the folder's current grid (same row, seed and configuration hash) and
    its ``spec.json``."""
    from reidkit.train.ablate import RESULTS, SPEC_COPY, read_results

    folder = Path(folder)
    spec_path = folder / SPEC_COPY
    if not spec_path.is_file():
        raise FileNotFoundError(f"{folder}: no {SPEC_COPY}; is it a reidkit ablate folder?")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    grid = {(r["row"], r["seed"], r["config_hash"]) for r in spec["runs"]}
    records = read_results(folder / RESULTS)
    return [r for r in records if (r["row"], r["seed"], r["config_hash"]) in grid], spec


def missing_runs(folder: str | Path) -> list[tuple[str, int]]:
    """The (row, seed) pairs of the folder's grid that have no result yet, in grid order."""
    return grid_progress(folder)[1]


def grid_progress(results: Results) -> tuple[int, list[tuple[str, int]]]:
    """(runs in the grid, the missing ones) of an ablation folder; (len, []) for records."""
    if not isinstance(results, (str, Path)):
        return len(results), []
    records, spec = load_folder(results)
    done = {(r["row"], r["seed"]) for r in records}
    return len(spec["runs"]), [
        (r["row"], r["seed"]) for r in spec["runs"] if (r["row"], r["seed"]) not in done
    ]


def resolve(
    results: Results, paper: Any = None, metrics: Sequence[str] | None = None
) -> tuple[list[dict], list[str], list[str], dict[str, Any] | None, str]:
    """(records, row order, metrics, paper as a dict or None, title) from either form."""
    if isinstance(results, (str, Path)):
        records, spec = load_folder(results)
        rows, name = [r["name"] for r in spec["rows"]], spec["name"]
        metrics = metrics or spec["metrics"]
        paper = paper if paper is not None else spec.get("paper")
    else:
        records, name = list(results), "ablation"
        rows = list(dict.fromkeys(r["row"] for r in records))
    if paper is not None and not isinstance(paper, dict):
        paper = {"source": paper.source, "rows": paper.rows}  # a PaperNumbers
    metrics = list(metrics or DEFAULT_METRICS)
    for m in metrics:
        if records and m not in records[0]["metrics"]:
            raise ValueError(
                f"metric {m!r}: not in the results; they have {list(records[0]['metrics'])}"
            )
    return records, rows, metrics, paper, name


def summarize(
    records: Sequence[dict[str, Any]], rows: Sequence[str], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Per row (in ``rows`` order): n, seeds, and mean / std / values of each metric in
    percent, of the parameter counts and of the milliseconds per image at each batch size."""
    summary = []
    for row in rows:
        mine = sorted((r for r in records if r["row"] == row), key=lambda r: r["seed"])
        batches = list(dict.fromkeys(b for r in mine for b in r["ms_per_image"]))
        summary.append(
            {
                "row": row,
                "n": len(mine),
                "seeds": [r["seed"] for r in mine],
                "metrics": {m: _stats([100 * r["metrics"][m] for r in mine]) for m in metrics},
                "params": _stats([r["params"] for r in mine]),
                "params_inference": _stats([r["params_inference"] for r in mine]),
                "ms_per_image": {b: _stats([r["ms_per_image"][b] for r in mine]) for b in batches},
                "train_seconds": _stats([r["train_seconds"] for r in mine]),
            }
        )
    return summary


def table_json(results: Results, paper: Any = None, metrics: Sequence[str] | None = None) -> dict:
    """What ``table.json`` holds: the summary per row, the paper's numbers and the units."""
    records, rows, metrics, paper, name = resolve(results, paper, metrics)
    return {
        "name": name,
        "metrics": metrics,
        "metric_unit": "%",
        "std": "sample standard deviation over seeds (n - 1)",
        "rows": summarize(records, rows, metrics),
        "paper": paper,
    }


def format_mean_std(stats: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    """``"64.88 ± 1.20"``; the mean alone with one value; ``"—"`` with none."""
    if stats["mean"] is None:
        return "—"
    text = f"{stats['mean'] * scale:.{digits}f}"
    return text if stats["std"] is None else f"{text} ± {stats['std'] * scale:.{digits}f}"


def ablation_table(
    results: Results, paper: Any = None, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Ours (mean ± std over seeds, n, parameters used at inference in millions, ms per image)
    with each of the paper's numbers in the column after ours, labelled ``(paper)``. The
    title and the paper's source are in ``frame.attrs`` (``name``, ``paper_source``)."""
    records, rows, metrics, paper, name = resolve(results, paper, metrics)
    theirs = (paper or {}).get("rows", {})
    paper_keys = list(dict.fromkeys(k for values in theirs.values() for k in values))
    table: dict[str, list[Any]] = {}
    summary = summarize(records, rows, metrics)
    columns = [(m, [format_mean_std(s["metrics"][m]) for s in summary]) for m in metrics]
    params = [s["params_inference"] for s in summary]  # the same at every seed
    columns.append(("params (M)", [format_mean_std({**p, "std": None}, 1e-6) for p in params]))
    batches = list(dict.fromkeys(b for s in summary for b in s["ms_per_image"]))
    for b in batches:
        values = [format_mean_std(s["ms_per_image"].get(b, {"mean": None})) for s in summary]
        columns.append((f"ms/img b{b}", values))
    table["row"], table["n"] = rows, [s["n"] for s in summary]
    for key, values in columns:
        table[f"{key} (ours)" if key in metrics else key] = values
        if key in paper_keys:
            table[f"{key} (paper)"] = [_paper_cell(theirs, row, key) for row in rows]
    for key in paper_keys:
        if f"{key} (paper)" not in table:
            table[f"{key} (paper)"] = [_paper_cell(theirs, row, key) for row in rows]
    frame = pd.DataFrame(table)
    frame.attrs.update(name=name, paper_source=(paper or {}).get("source"))
    return frame


def _paper_cell(theirs: dict[str, dict[str, float]], row: str, key: str) -> str:
    value = theirs.get(row, {}).get(key)
    return "—" if value is None else f"{value:.2f}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (first column left-aligned, the rest right)."""
    cells = [[str(c) for c in frame.columns]] + [[str(v) for v in row] for row in frame.values]
    cells = [[c.replace("|", "\\|") for c in row] for row in cells]
    rule = [":--"] + ["--:"] * (len(frame.columns) - 1)
    return "\n".join("| " + " | ".join(row) + " |" for row in [cells[0], rule, *cells[1:]])


def ablation_markdown(
    results: Results, paper: Any = None, metrics: Sequence[str] | None = None
) -> str:
    """:func:`ablation_table` as Markdown, with a title and a note on what the numbers are."""
    frame = ablation_table(results, paper, metrics)
    total, missing = grid_progress(results)
    notes = [
        "Ours: mean ± sample standard deviation over n seeds, in percent; params: parameters "
        "used by forward_embedding, in millions; ms/img bB: inference time per image at batch B.",
    ]
    if frame.attrs.get("paper_source"):
        notes.append(f"(paper): typed in from {frame.attrs['paper_source']}.")
    records = resolve(results, paper, metrics)[0]
    devices = list(dict.fromkeys(r.get("device", "unknown") for r in records))
    if len(devices) == 1:
        notes.append(f"Measured on {devices[0]}.")
    elif devices:
        tally = {d: sum(r.get("device", "unknown") == d for r in records) for d in devices}
        counts = ", ".join(f"{d} ({n} run{'s' * (n != 1)})" for d, n in tally.items())
        notes.append(
            f"Measured on several devices: {counts}; compare times measured on one device only."
        )
    retimed = sum("retimed" in r for r in records)
    if retimed:
        which = "every run" if retimed == len(records) else f"{retimed} of {len(records)} runs"
        notes.append(
            f"ms/img of {which}: timed again after training, one run at a time "
            "(`reidkit ablate --retime`)."
        )
    if missing:
        seeds: dict[str, list[str]] = {}
        for row, seed in missing:
            seeds.setdefault(row, []).append(str(seed))
        runs = "; ".join(
            f"{row} (seed{'s' if len(s) > 1 else ''} {', '.join(s)})" for row, s in seeds.items()
        )
        notes.append(
            f"**Incomplete:** {total - len(missing)} of {total} runs finished; not yet run: {runs}."
        )
    return f"## {frame.attrs['name']}\n\n{markdown_table(frame)}\n\n" + "\n".join(notes) + "\n"


def ablation_figure(
    results: Results,
    paper: Any = None,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """One panel per metric: our mean per row with ± std error bars and each seed's value,
    and the paper's number where it gives one."""
    records, rows, metrics, paper, name = resolve(results, paper, metrics)
    summary = summarize(records, rows, metrics)
    theirs = (paper or {}).get("rows", {})
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
    for col, metric in enumerate(metrics, 1):
        stats = [s["metrics"][metric] for s in summary]
        figure.add_trace(
            go.Bar(
                x=rows,
                y=[s["mean"] for s in stats],
                error_y={"type": "data", "array": [s["std"] or 0 for s in stats], "visible": True},
                customdata=[s["n"] for s in summary],
                hovertemplate="%{x}: %{y:.2f} (n=%{customdata})<extra>ours</extra>",
                name="ours: mean ± std",
                legendgroup="ours",
                showlegend=col == 1,
                marker={"color": OURS},
            ),
            row=1,
            col=col,
        )
        seeds = [(s["row"], v) for s in summary for v in s["metrics"][metric]["values"]]
        figure.add_trace(
            go.Scatter(
                x=[r for r, _ in seeds],
                y=[v for _, v in seeds],
                mode="markers",
                name="ours: each seed",
                legendgroup="seeds",
                showlegend=col == 1,
                marker={"color": SEEDS, "size": 6},
            ),
            row=1,
            col=col,
        )
        given = [(row, theirs[row][metric]) for row in rows if metric in theirs.get(row, {})]
        if given:
            figure.add_trace(
                go.Scatter(
                    x=[r for r, _ in given],
                    y=[v for _, v in given],
                    mode="markers",
                    name=f"paper: {paper['source']}",
                    legendgroup="paper",
                    showlegend=col == 1,
                    marker={"color": PAPER, "symbol": "diamond", "size": 11},
                ),
                row=1,
                col=col,
            )
        figure.update_yaxes(title_text=f"{metric} (%)", rangemode="tozero", row=1, col=col)
    total, missing = grid_progress(results)
    if title is None and missing:
        title = f"{name} (incomplete: {total - len(missing)} of {total} runs)"
    figure.update_layout(title=title or name, height=380, margin={"t": 60, "b": 40})
    return figure
