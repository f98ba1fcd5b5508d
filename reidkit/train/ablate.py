"""The ablation runner: a base configuration, rows of changes to it, seeds; one run per pair.

``reidkit ablate SPEC.yaml`` (or :func:`run_ablation`) trains every row at every seed, each
run in ``<out>/<row-slug>/seed-<s>``, and appends one line per finished run to
``<out>/results.jsonl``: the final evaluation's metrics, the measured parameter count, the
inference time per image at batch 1 and 64 on the current device, and the training time. A
run whose line is there is skipped; an interrupted one continues from its newest checkpoint.
Then it writes ``table.md``, ``table.json`` (mean ± sample standard deviation over the seeds,
and n) and ``figure.json`` (plotly, error bars) with :mod:`reidkit.viz.ablation`.

A spec (YAML; paths relative to the spec file)::

    name: triplet ablation                 # optional; default: the file's name
    base: ../synthetic.yaml                # a training configuration, an inline mapping, or
                                           #   profile:smoke (config_from_profile; "profile":
                                           #   the active profile, REIDKIT_PROFILE)
    rows:                                  # name + overrides in the configuration's YAML form
      - name: baseline                     #   (no overrides: the base itself)
      - name: no triplet
        overrides: {baseline.loss.triplet: none}
    seeds: [0, 1, 2]                       # each run overrides the configuration's ``seed``
    out: runs/ablations/triplet            # optional; relative to the current folder
    metrics: [R1, mAP]                     # optional; the table's and figure's metrics
    paper:                                 # optional; the paper's numbers, in percent
      source: "Seed 002, Table 3 (SYSU-MM01 all-search)"
      rows: {baseline: {R1: 64.88, mAP: 64.46}}
    timing: {batch_sizes: [1, 64], warmup: 2, repeats: 5}   # optional

``rows`` may also be a mapping, ``{baseline: {}, "no triplet": {baseline.loss.triplet: none}}``.
A row that sets ``method`` swaps the base's method section for the new method's. Every row's
configuration is built and checked before anything trains; errors name the row.

Each line of ``results.jsonl`` stores a hash of its run's configuration (all of it but
``name`` and ``out_dir``): when the spec changes a finished (or half-trained) run, the runner
stops and names it, and ``rerun_changed=True`` (``--rerun-changed``) deletes and reruns it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reidkit.data.batch import image_batch
from reidkit.profiles import get_profile
from reidkit.train.checkpoint import atomic_write, latest_checkpoint
from reidkit.train.config import (
    TrainConfig,
    config_from_dict,
    config_from_profile,
    load_config,
    read_yaml,
)
from reidkit.typed import Checked, bounded, build, merge
from reidkit.utils import runs_dir

RESULTS = "results.jsonl"
SPEC_COPY = "spec.json"
SET_BY_RUNNER = ("seed", "out_dir", "name")  # a row may not override these
DEFAULT_METRICS = ["R1", "mAP"]
Callback = Callable[[dict[str, Any]], None]  # reidkit.train.engine's: gets every log record


class AblationError(ValueError):
    """A spec, a results file or a run folder that the runner cannot use as it is."""


@dataclass
class TimingOptions(Checked):
    batch_sizes: tuple[int, ...] = bounded((1, 64), ge=1)
    warmup: int = bounded(2, ge=0)  # untimed calls first
    repeats: int = bounded(5, ge=1)  # the median of these is reported


@dataclass
class PaperNumbers(Checked):
    source: str  # e.g. "Seed 002, Table 3 (SYSU-MM01 all-search)"
    rows: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> column -> value


@dataclass
class SpecFile(Checked):
    """The keys a spec file may have (see the module's docstring)."""

    base: str | dict[str, Any]
    rows: Any
    seeds: list[int]
    name: str | None = None
    out: str | None = None
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    paper: PaperNumbers | None = None
    timing: TimingOptions = field(default_factory=TimingOptions)


@dataclass(frozen=True)
class Row:
    name: str
    slug: str  # its folder's name
    overrides: dict[str, Any]
    config: TrainConfig  # base + overrides (seed, name and out_dir still the base's)


@dataclass
class AblationSpec:
    name: str
    base: TrainConfig
    rows: list[Row]
    seeds: list[int]
    out: Path
    metrics: list[str]
    paper: PaperNumbers | None
    timing: TimingOptions


@dataclass(frozen=True)
class Run:
    row: Row
    seed: int
    config: TrainConfig  # the row's, with this seed and folder
    folder: Path
    config_hash: str


# ---- the spec ----------------------------------------------------------------------------
def first_repeated_key(text: str) -> tuple[str, int] | None:
    """The first key given twice in one mapping of a YAML text, with its line; or None.
    (YAML loaders keep the last value silently; a row named twice must be an error.)"""
    import yaml

    nodes = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in seen:
                    return key.value, key.start_mark.line + 1
                seen.add(getattr(key, "value", None))
                nodes.append(value)
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
    return None


def read_spec_yaml(path: Path) -> dict[str, Any]:
    """The spec file as a mapping; a key given twice (e.g. a row name) is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"ablation spec not found: {path}")
    values = read_yaml(path)  # its errors name the file
    repeated = first_repeated_key(path.read_text(encoding="utf-8"))
    if repeated:
        raise AblationError(f"{path}, line {repeated[1]}: key {repeated[0]!r} given twice")
    return values


def slugify(name: str) -> str:
    """A folder name for a row: ``"no triplet"`` -> ``no-triplet``, ``"+TA"`` -> ``plus-ta``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("+", " plus ")).strip("-")
    return slug or "row"


def row_entries(rows: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, overrides) of each row, from the list form or the mapping form."""
    if isinstance(rows, dict):
        rows = [{"name": k, "overrides": v} for k, v in rows.items()]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"rows: expected a non-empty list of {{name, overrides}}, got {rows!r}")
    entries = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(row) <= {"name", "overrides"} or "name" not in row:
            raise ValueError(f"rows[{i}]: expected {{name: ..., overrides: {{...}}}}, got {row!r}")
        name, overrides = row["name"], row.get("overrides") or {}
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"rows[{i}].name: expected a non-empty string, got {name!r}")
        if not isinstance(overrides, dict):
            raise ValueError(f"rows[{i}] {name!r}: overrides must be a mapping, got {overrides!r}")
        entries.append((name, overrides))
    return entries


def row_config(base: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``base`` with a row's overrides; a new ``method`` replaces the base's method section."""
    values = base.to_dict()
    if overrides.get("method", base.method) != base.method:
        values.pop(base.method)
    return config_from_dict(merge(values, overrides))


def build_rows(base: TrainConfig, rows: Any) -> list[Row]:
    built: list[Row] = []
    for i, (name, overrides) in enumerate(row_entries(rows)):
        where = f"rows[{i}] {name!r}"
        taken = [str(k).split(".")[0] for k in overrides if str(k).split(".")[0] in SET_BY_RUNNER]
        if taken:
            raise ValueError(f"{where}: {taken[0]} is set by the runner (seeds, out); remove it")
        for other in built:
            if name == other.name or slugify(name) == other.slug:
                raise ValueError(f"{where}: same name or folder as row {other.name!r}")
        try:
            config = row_config(base, overrides)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        built.append(Row(name, slugify(name), dict(overrides), config))
    return built


def base_config(base: str | dict[str, Any], folder: Path) -> TrainConfig:
    """The spec's ``base``: ``profile[:NAME]``, a file relative to ``folder``, or a mapping."""
    if isinstance(base, str) and base.split(":")[0] != "profile":
        return load_config(folder / base)  # its errors name the file
    try:
        if isinstance(base, str):
            return config_from_profile(get_profile(base.partition(":")[2] or None))
        return config_from_dict(base)
    except (TypeError, ValueError) as error:
        raise type(error)(f"base: {error}" if isinstance(base, str) else f"base.{error}") from None


def check_spec(spec: SpecFile) -> None:
    if not spec.seeds or len(set(spec.seeds)) != len(spec.seeds) or min(spec.seeds) < 0:
        raise ValueError(f"seeds: expected distinct seeds >= 0 (at least one), got {spec.seeds}")
    if not spec.metrics or len(set(spec.metrics)) != len(spec.metrics):
        raise ValueError(f"metrics: expected distinct metric names, got {spec.metrics}")
    if spec.paper is not None and not spec.paper.source.strip():
        raise ValueError("paper.source: name where the numbers come from (paper, table)")


def parse_spec(
    values: dict[str, Any], folder: str | Path = ".", name: str = "ablation", out: str | None = None
) -> AblationSpec:
    """A checked :class:`AblationSpec` from a spec's mapping; ``folder`` resolves ``base``."""
    missing = [k for k in ("base", "rows", "seeds") if k not in values]
    if missing:
        raise ValueError(f"{missing[0]}: missing; a spec needs base, rows and seeds")
    spec = build(SpecFile, values)
    check_spec(spec)
    base = base_config(spec.base, Path(folder))
    rows = build_rows(base, spec.rows)
    if spec.paper is not None:
        unknown = sorted(set(spec.paper.rows) - {r.name for r in rows})
        if unknown:
            names = [r.name for r in rows]
            raise ValueError(f"paper.rows.{unknown[0]}: not a row of this spec; rows: {names}")
    spec_name = spec.name or name
    target = Path(out or spec.out or runs_dir() / "ablations" / slugify(spec_name))
    return AblationSpec(
        spec_name, base, rows, spec.seeds, target, spec.metrics, spec.paper, spec.timing
    )


def load_spec(path: str | Path, out: str | None = None) -> AblationSpec:
    """Read and check a spec file; every error names the file and the key (or row)."""
    path = Path(path)
    values = read_spec_yaml(path)
    try:
        return parse_spec(values, path.parent, path.stem, out)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise AblationError(f"{path}: {error}") from None


# ---- runs and their results ---------------------------------------------------------------
def values_hash(values: dict[str, Any]) -> str:
    """A short hash of a configuration's YAML form, without ``name`` and ``out_dir``."""
    kept = {k: v for k, v in values.items() if k not in ("name", "out_dir")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def plan_runs(
    spec: AblationSpec, rows: Sequence[str] | None = None, seeds: Sequence[int] | None = None
) -> list[Run]:
    """The grid (rows × seeds, row by row), or the part that ``rows`` / ``seeds`` select."""
    names = [r.name for r in spec.rows]
    for wanted, known, what in ((rows, names, "row"), (seeds, spec.seeds, "seed")):
        unknown = [w for w in wanted or () if w not in known]
        if unknown:
            raise AblationError(f"no {what} {unknown[0]!r} in the spec; it has {known}")
    runs = []
    for row in spec.rows:
        for seed in spec.seeds:
            if (rows and row.name not in rows) or (seeds and seed not in seeds):
                continue
            folder = spec.out / row.slug / f"seed-{seed}"
            change = {"seed": seed, "out_dir": str(folder), "name": f"{spec.name}/{row.slug}"}
            config = row_config(row.config, change)
            runs.append(Run(row, seed, config, folder, values_hash(config.to_dict())))
    return runs


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``results.jsonl`` (empty when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line)) if line.strip() else None
        except json.JSONDecodeError as error:
            raise AblationError(f"{path}, line {number}: not JSON ({error})") from None
    return records


def append_result(path: Path, record: dict[str, Any]) -> None:
    """Add one line to ``results.jsonl``; the file is rewritten and renamed into place, so a
    kill leaves either the old file or the new one."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    text = old + ("\n" if old and not old.endswith("\n") else "") + json.dumps(record) + "\n"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def stale_runs(runs: Sequence[Run], records: Sequence[dict[str, Any]]) -> list[Run]:
    """Runs whose results line or run folder was made with another configuration."""
    done = {(r["row"], r["seed"]): r["config_hash"] for r in records}
    stale = []
    for run in runs:
        saved = run.folder / "config.json"
        old = done.get((run.row.name, run.seed))
        if old is None and saved.is_file():
            old = values_hash(json.loads(saved.read_text(encoding="utf-8")))
        if old is not None and old != run.config_hash:
            stale.append(run)
    return stale


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` so that two runners never share an output folder (POSIX only;
    the lock goes with the process, even when it is killed)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AblationError(f"{folder}: another reidkit ablate is using it") from None
        yield


# ---- measurements -------------------------------------------------------------------------
def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def embedding_parameters(model: nn.Module, img_size: tuple[int, int], device: torch.device) -> int:
    """Parameters that ``forward_embedding`` uses (they get a gradient from it): the model
    without its training-only parts, such as the identity classifier."""
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    model.requires_grad_(True)
    model.zero_grad(set_to_none=True)
    images = torch.rand(2, 3, *img_size)  # (2, 3, H, W): one visible, one infrared
    with torch.enable_grad():
        model.forward_embedding(
            image_batch(images, ["visible", "infrared"]).to(device)
        ).sum().backward()
    used = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    for p, flag in zip(model.parameters(), flags):
        p.requires_grad_(flag)
    model.train(was_training)
    return used


@torch.no_grad()
def inference_ms(
    model: nn.Module,
    img_size: tuple[int, int],
    batch_size: int,
    device: torch.device,
    warmup: int = 2,
    repeats: int = 5,
) -> float:
    """Milliseconds per image of ``forward_embedding`` on random images (median of
    ``repeats`` calls after ``warmup``), in eval mode, synchronising CUDA around each call."""
    was_training = model.training
    model.eval()
    images = torch.rand(batch_size, 3, *img_size, generator=torch.Generator().manual_seed(0))
    batch = image_batch(images).to(device)  # (B, 3, H, W) visible images
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + repeats):
        sync()
        start = time.perf_counter()
        model.forward_embedding(batch)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    model.train(was_training)
    return 1000.0 * statistics.median(times) / batch_size


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


# ---- running ------------------------------------------------------------------------------
def final_metrics(
    history: Sequence[dict[str, Any]], epochs: int, folder: Path
) -> tuple[dict[str, float], str]:
    """A run's result and where it comes from: the test evaluation of the model selected on
    validation where the log has one, else the evaluation after the last epoch."""
    tests = [r for r in history if r.get("kind") == "test"]
    evals = [r for r in history if r.get("kind") == "eval" and r["epoch"] == epochs]
    if not (tests or evals):
        raise AblationError(f"{folder}: no evaluation after the last epoch in its log")
    final = (tests or evals)[-1]
    values = {k: v for k, v in final.items() if k not in ("kind", "epoch")}
    source = f"{final['kind']} at epoch {final['epoch']}"
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}, source


def train_run(
    run: Run, timing: TimingOptions, progress: bool = True, callbacks: Sequence[Callback] = ()
) -> dict[str, Any]:
    """Train (or finish) one run and measure it: its line for ``results.jsonl``. Inference is
    timed in float32, as the evaluator runs."""
    from reidkit.train.run import train

    resumed = checkpoint_epoch(run.folder)
    start = time.perf_counter()
    trainer, history = train(run.config, callbacks, resume=True, progress=progress)
    wall = time.perf_counter() - start
    metrics, source = final_metrics(history, run.config.epochs, run.folder)
    model, device, size = trainer.model, trainer.device, run.config.data.img_size
    ms = {
        str(b): inference_ms(model, size, b, device, timing.warmup, timing.repeats)
        for b in timing.batch_sizes
    }
    return {
        "row": run.row.name,
        "seed": run.seed,
        "config_hash": run.config_hash,
        "metrics": metrics,
        "metrics_from": source,
        "epochs": run.config.epochs,
        "params": count_parameters(model),
        "params_inference": embedding_parameters(model, size, device),
        "ms_per_image": ms,
        "train_seconds": sum(r.get("seconds", 0.0) for r in history if r["kind"] == "epoch"),
        "wall_seconds": wall,  # of this call: less than the run's when it was resumed
        "resumed_after_epoch": resumed,
        "device": device_name(device),
        "run_dir": f"{run.row.slug}/seed-{run.seed}",
    }


def progress_line(record: dict[str, Any], metrics: Sequence[str]) -> str:
    scores = "  ".join(f"{m} {record['metrics'][m]:.2%}" for m in metrics if m in record["metrics"])
    ms = "  ".join(f"{v:.2f} ms/img (b{b})" for b, v in record["ms_per_image"].items())
    return (
        f"{scores}  |  {record['params_inference'] / 1e6:.2f} M params  {ms}  |  "
        f"{record['wall_seconds']:.1f} s"
    )


def spec_summary(spec: AblationSpec, runs: Sequence[Run]) -> dict[str, Any]:
    """What ``spec.json`` holds: enough for :mod:`reidkit.viz.ablation` to read the folder."""
    return {
        "name": spec.name,
        "rows": [{"name": r.name, "slug": r.slug, "overrides": r.overrides} for r in spec.rows],
        "seeds": spec.seeds,
        "metrics": spec.metrics,
        "paper": None
        if spec.paper is None
        else {"source": spec.paper.source, "rows": spec.paper.rows},
        "runs": [{"row": r.row.name, "seed": r.seed, "config_hash": r.config_hash} for r in runs],
        "base": spec.base.to_dict(),
    }


def checkpoint_epoch(folder: Path) -> int | None:
    """The epoch of a run folder's newest checkpoint, or None."""
    found = latest_checkpoint(folder / "checkpoints")
    return None if found is None else int(found[0].stem.split("-")[1])


def forget_runs(out: Path, runs: Sequence[Run], records: list[dict[str, Any]]) -> list[dict]:
    """Delete the run folders and results lines of ``runs`` (the stale ones)."""
    gone = {(r.row.name, r.seed) for r in runs}
    for run in runs:
        shutil.rmtree(run.folder, ignore_errors=True)
    kept = [r for r in records if (r["row"], r["seed"]) not in gone]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    atomic_write(out / RESULTS, lambda p: p.write_text(text, encoding="utf-8"))
    return kept


def run_ablation(
    spec: AblationSpec,
    rows: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool = True,
    rerun_changed: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
    callbacks: Sequence[Callback] = (),
) -> list[dict[str, Any]]:
    """Run the spec's grid (or the ``rows`` / ``seeds`` part of it), skipping finished runs
    and resuming interrupted ones; write the table and figure; return the grid's records."""
    grid = plan_runs(spec)
    todo = plan_runs(spec, rows, seeds)
    if not dry_run:
        spec.out.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext() if dry_run else exclusive(spec.out):
        records = read_results(spec.out / RESULTS)
        stale = stale_runs(grid, records)
        if stale and not rerun_changed:
            names = ", ".join(f"{r.row.name!r} seed {r.seed}" for r in stale)
            raise AblationError(
                f"{spec.out}: the spec changed the configuration of {names} since they ran; "
                "use another out folder, or --rerun-changed to delete and rerun them"
            )
        if stale and not dry_run:
            records = forget_runs(spec.out, stale, records)
        if not dry_run:
            text = json.dumps(spec_summary(spec, grid), indent=1)
            atomic_write(spec.out / SPEC_COPY, lambda p: p.write_text(text, encoding="utf-8"))
        finished = {(r["row"], r["seed"]) for r in records}
        for i, run in enumerate(todo, 1):
            head = f"[{i}/{len(todo)}] {run.row.name}, seed {run.seed}:"
            if dry_run and run in stale:
                log(f"{head} to rerun in {run.folder} (its configuration changed)")
                continue
            if (run.row.name, run.seed) in finished:
                log(f"{head} skip (finished)")
                continue
            epoch = checkpoint_epoch(run.folder)
            resume = f" (resuming after epoch {epoch})" if epoch else ""
            if dry_run:
                log(f"{head} to run in {run.folder}{resume}")
                continue
            if epoch:
                log(f"{head}{resume}")
            record = train_run(run, spec.timing, progress, callbacks)
            append_result(spec.out / RESULTS, record)
            records.append(record)
            log(f"{head} {progress_line(record, spec.metrics)}")
        if not dry_run:
            write_outputs(spec.out)
    keys = {(r.row.name, r.seed) for r in grid}
    return [r for r in records if (r["row"], r["seed"]) in keys]


def write_outputs(out: Path) -> dict[str, Path]:
    """``table.md``, ``table.json`` and ``figure.json`` from an ablation folder."""
    from reidkit.viz.ablation import ablation_figure, ablation_markdown, table_json

    paths = {name: out / name for name in ("table.md", "table.json", "figure.json")}
    texts = {
        "table.md": ablation_markdown(out),
        "table.json": json.dumps(table_json(out), indent=1),
        "figure.json": ablation_figure(out).to_json(),
    }
    for name, text in texts.items():
        atomic_write(paths[name], lambda p, t=text: p.write_text(t, encoding="utf-8"))
    return paths
