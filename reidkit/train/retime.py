"""Time an ablation's finished runs again, one after the other, on this machine.

The runner times each run's inference right after it trains, so the ``ms/img`` of a grid
trained over several sittings, on several machines or beside other jobs were measured under
different loads: on a shared CPU the same model can read 12 ms/img in one run and 33 in
another. ``reidkit ablate SPEC --retime`` (or :func:`retime_runs`) rebuilds the model of every
finished run from its configuration, times ``forward_embedding`` with the spec's timing options
(inference time depends on the architecture and the input size, not on the trained weights),
and rewrites the run's ``ms_per_image`` and ``device`` in ``results.jsonl``. The time measured
after training stays in ``ms_per_image_after_training``; ``retimed`` is the day of the new
measurement. Run it with nothing else busy on the machine, then the table's times compare.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence
from typing import Any

from reidkit.data.splits import relabel
from reidkit.train.ablate import folder_lock, read_results, write_outputs
from reidkit.train.ablation_spec import RESULTS, AblationError, AblationSpec, Run, plan_runs
from reidkit.train.checkpoint import atomic_write
from reidkit.train.datasets import open_dataset
from reidkit.train.measure import device_name, inference_ms
from reidkit.train.run import build_model
from reidkit.utils import get_device


def time_run(run: Run, num_classes: int, spec: AblationSpec) -> tuple[dict[str, float], str]:
    """``ms_per_image`` by batch size of a freshly built model of ``run``, and the device."""
    model = build_model(run.config, num_classes)
    device = get_device(run.config.device)
    model.to(device)
    size = run.config.data.img_size
    timing = spec.timing
    ms = {
        str(b): inference_ms(model, size, b, device, timing.warmup, timing.repeats)
        for b in timing.batch_sizes
    }
    return ms, device_name(device)


def retime_runs(
    spec: AblationSpec,
    rows: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Time the finished runs of the spec's grid (or its ``rows`` / ``seeds`` part) again and
    rewrite their lines; runs without a line are named and left alone. Returns the new lines."""
    path = spec.out / RESULTS
    if not path.is_file():
        raise AblationError(f"{spec.out}: no {RESULTS}; nothing has finished there to retime")
    with folder_lock(spec.out):
        finished = {(r["row"], r["seed"]): r for r in read_results(path)}
    classes: dict[str, int] = {}  # number of training identities by data configuration
    timed: dict[tuple[str, int], tuple[dict[str, float], str]] = {}
    todo = plan_runs(spec, rows, seeds)
    for i, run in enumerate(todo, 1):
        head = f"[{i}/{len(todo)}] {run.row.name}, seed {run.seed}:"
        record = finished.get((run.row.name, run.seed))
        if record is None:
            log(f"{head} not finished, not timed")
            continue
        if record["config_hash"] != run.config_hash:
            raise AblationError(
                f"{path}: {run.row.name!r} seed {run.seed} ran with another configuration than "
                "the spec's; rerun it (--rerun-changed) before timing it"
            )
        data_key = json.dumps(run.config.to_dict()["data"], sort_keys=True)
        if data_key not in classes:
            classes[data_key] = len(relabel(open_dataset(run.config.data).train)[1])
        ms, device = time_run(run, classes[data_key], spec)
        timed[(run.row.name, run.seed)] = (ms, device)
        shown = "  ".join(f"{v:.2f} ms/img (b{b})" for b, v in ms.items())
        log(f"{head} {shown} on {device}")
    today = datetime.date.today().isoformat()
    with folder_lock(spec.out):  # a runner may have added lines meanwhile: keep them
        records = read_results(path)
        for record in records:
            key = (record["row"], record["seed"])
            if key in timed:
                record.setdefault("ms_per_image_after_training", record["ms_per_image"])
                record["ms_per_image"], record["device"] = timed[key]
                record["retimed"] = today
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
        write_outputs(spec.out)
    return [r for r in records if (r["row"], r["seed"]) in timed]
