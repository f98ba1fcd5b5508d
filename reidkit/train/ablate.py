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
    method: fused_attention                # optional, with a profile base: the method it
                                           #   configures (default: baseline)
    overrides: {epochs: 4}                 # optional: changes to the base, so to every row
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
A row that sets ``method`` swaps the base's method section for the new method's: with a profile
base, the new method's configuration for that profile (its sizes and its task's data), with the
spec's ``overrides``; otherwise that method's defaults. Every row's
configuration is built and checked before anything trains; errors name the row.

Each line of ``results.jsonl`` stores a hash of its run's configuration (all of it but
``name`` and ``out_dir``): when the spec changes a finished (or half-trained) run, the runner
stops and names it, and ``rerun_changed=True`` (``--rerun-changed``) deletes and reruns it.

A run another ablation has already trained with the same configuration (its hash, which
includes the seed) need not train again: ``reuse=[folder]`` (``--reuse FOLDER``) copies its
line, with this spec's row name and ``reused_from`` naming the run folder it came from (e.g.
seed 002's Tables 3 and 4 share two rows).

``--retime`` (:mod:`reidkit.train.retime`) trains nothing: it times the finished runs' inference
again, one after the other, so that times measured under different loads become comparable.

Several runners may share one output folder, e.g. one per GPU or per CPU core
(``CUDA_VISIBLE_DEVICES=1 reidkit ablate SPEC``): each run is locked while it trains
(``<out>/.locks/``), a runner skips the runs another one is training and takes the next, and
``results.jsonl`` is read and extended under the folder's lock. Each runner's table counts
every run finished by then; the last one to stop writes the complete table. (POSIX file
locks; on Windows, give each runner its own ``--seeds`` and ``--out``.)
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from reidkit.train.ablation_spec import (
    RESULTS,
    SPEC_COPY,
    AblationError,
    AblationSpec,
    Run,
    TimingOptions,
    plan_runs,
    values_hash,
)
from reidkit.train.checkpoint import atomic_write, latest_checkpoint
from reidkit.train.engine import Callback
from reidkit.train.measure import (
    count_parameters,
    device_name,
    embedding_parameters,
    image_modalities,
    inference_ms,
)
from reidkit.train.selection import final_record


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


def has_line(records: Sequence[dict[str, Any]], run: Run) -> bool:
    """Whether ``results.jsonl``'s records hold ``run``'s line (it has finished)."""
    return any((r["row"], r["seed"]) == (run.row.name, run.seed) for r in records)


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
def file_lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed) and yield True; with
    ``wait=False``, yield False at once when another process holds it. The lock goes with the
    process, even when it is killed. POSIX only: without ``fcntl`` (Windows) it always yields
    True."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def folder_lock(out: Path) -> contextlib.AbstractContextManager[bool]:
    """The output folder's lock, held briefly: while ``results.jsonl`` is read and changed."""
    return file_lock(out / ".lock")


def run_lock(out: Path, run: Run) -> contextlib.AbstractContextManager[bool]:
    """A run's lock, held while it trains; False when another runner holds it."""
    return file_lock(out / ".locks" / f"{run.row.slug}--seed-{run.seed}", wait=False)


# ---- running ------------------------------------------------------------------------------
def final_metrics(
    history: Sequence[dict[str, Any]], epochs: int, folder: Path
) -> tuple[dict[str, float], str]:
    """A run's result and where it comes from (``final_record``); the run must have
    evaluated after its last epoch."""
    try:
        final = final_record(list(history))
    except ValueError:
        raise AblationError(f"{folder}: no evaluation in its log") from None
    if final["kind"] == "eval" and final["epoch"] != epochs:
        raise AblationError(f"{folder}: no evaluation after the last epoch in its log")
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
        "params_inference": embedding_parameters(
            model, size, device, image_modalities(trainer.records)
        ),
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
        with run_lock(out, run) as mine:
            if not mine:
                raise AblationError(
                    f"{run.folder}: another runner is training it with the old configuration; "
                    "stop that runner first"
                )
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
    reuse: Sequence[str | Path] = (),
) -> list[dict[str, Any]]:
    """Run the spec's grid (or the ``rows`` / ``seeds`` part of it), skipping finished runs,
    resuming interrupted ones and copying the lines of runs with the same configuration from
    the ``reuse`` folders; write the table and figure; return the grid's records."""
    grid = plan_runs(spec)
    todo = plan_runs(spec, rows, seeds)
    reusable = reusable_records(reuse)
    if not dry_run:
        spec.out.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext() if dry_run else folder_lock(spec.out):
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
    for i, run in enumerate(todo, 1):
        head = f"[{i}/{len(todo)}] {run.row.name}, seed {run.seed}:"
        if dry_run:
            if run in stale:
                log(f"{head} to rerun in {run.folder} (its configuration changed)")
            elif has_line(records, run):
                log(f"{head} skip (finished)")
            elif run.config_hash in reusable:
                log(f"{head} to reuse from {reusable[run.config_hash]['reused_from']}")
            else:
                epoch = checkpoint_epoch(run.folder)
                log(
                    f"{head} to run in {run.folder}"
                    + (f" (resuming after epoch {epoch})" if epoch else "")
                )
            continue
        with run_lock(spec.out, run) as mine:
            if not mine:
                log(f"{head} skip (another runner is training it)")
                continue
            with folder_lock(spec.out):  # another runner may have finished it meanwhile
                records = read_results(spec.out / RESULTS)
            if has_line(records, run):
                log(f"{head} skip (finished)")
                continue
            if run.config_hash in reusable:
                record = {**reusable[run.config_hash], "row": run.row.name}
                log(f"{head} reused from {record['reused_from']}")
            else:
                epoch = checkpoint_epoch(run.folder)
                if epoch:
                    log(f"{head} (resuming after epoch {epoch})")
                record = train_run(run, spec.timing, progress, callbacks)
            with folder_lock(spec.out):
                append_result(spec.out / RESULTS, record)
        log(f"{head} {progress_line(record, spec.metrics)}")
    if not dry_run:
        with folder_lock(spec.out):
            records = read_results(spec.out / RESULTS)
            write_outputs(spec.out)
    keys = {(r.row.name, r.seed) for r in grid}
    return [r for r in records if (r["row"], r["seed"]) in keys]


def reusable_records(folders: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """The finished runs of other ablation folders by configuration hash, each line with
    ``reused_from`` (its run folder) and without ``run_dir``."""
    found: dict[str, dict[str, Any]] = {}
    for folder in map(Path, folders):
        if not (folder / RESULTS).is_file():
            raise AblationError(f"{folder}: no {RESULTS} to reuse runs from")
        for record in read_results(folder / RESULTS):
            source = record.get("reused_from") or str(folder / record["run_dir"])
            kept = {k: v for k, v in record.items() if k != "run_dir"}
            found.setdefault(record["config_hash"], {**kept, "reused_from": source})
    return found


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
