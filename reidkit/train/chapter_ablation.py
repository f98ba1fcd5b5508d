"""What an ablation chapter shows: in ``smoke`` it runs the spec (seconds, to exercise the
code); in ``quick`` and ``full`` it shows the results committed for that profile, because a
table of rows x 3 seeds takes hours of a CPU or tens of minutes of a GPU, more than a chapter.

Committed results live in the package, ``reidkit/results/ablations/<spec>-<profile>/``
(``results.jsonl`` and ``spec.json``, the files the table and figure are made from), so that a
pip-installed reidkit on Colab shows them too. They are produced by the runner and copied there
with ``reidkit ablate SPEC --save-results``. A chapter can still run the ablation in any profile
(``run=True``); the runner resumes and skips finished runs.

A grid too long for one sitting (or for a machine that does not keep ``runs/``) can be
committed part-finished: ``--save-results`` copies the runs finished so far, the table says
which runs are missing, and a later sitting, on any machine, continues without retraining them::

    reidkit ablate SPEC --reuse reidkit/results/ablations/<spec>-<profile> --save-results
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from reidkit.train.ablate import run_ablation
from reidkit.train.ablation_spec import RESULTS, SPEC_COPY, AblationSpec, plan_runs, slugify
from reidkit.viz.ablation import missing_runs

RESULTS_ROOT = Path(__file__).resolve().parent.parent / "results" / "ablations"


def results_folder(spec: AblationSpec, profile: str, root: Path = RESULTS_ROOT) -> Path:
    """Where the results of ``spec`` in ``profile`` are committed."""
    return root / f"{slugify(spec.name)}-{profile}"


def committed_results(spec: AblationSpec, profile: str, root: Path = RESULTS_ROOT) -> Path | None:
    """The committed results folder of ``spec`` in ``profile``, or None when there is none."""
    folder = results_folder(spec, profile, root)
    return folder if (folder / RESULTS).is_file() and (folder / SPEC_COPY).is_file() else None


def save_results(spec: AblationSpec, profile: str, root: Path = RESULTS_ROOT) -> Path:
    """Copy a finished ablation's ``results.jsonl`` and ``spec.json`` (and its table) into the
    package's results, for committing; returns the folder."""
    missing = [name for name in (RESULTS, SPEC_COPY) if not (spec.out / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{spec.out}: no {missing[0]}; run the ablation first")
    folder = results_folder(spec, profile, root)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (RESULTS, SPEC_COPY, "table.md"):
        if (spec.out / name).is_file():
            shutil.copyfile(spec.out / name, folder / name)
    return folder


def chapter_ablation(
    spec: AblationSpec,
    profile: str,
    run: bool | None = None,
    root: Path = RESULTS_ROOT,
    log: Callable[[str], None] = print,
) -> Path | None:
    """The folder whose table a chapter shows, or None (with a line saying how to make it).

    ``run`` defaults to running in ``smoke`` only; elsewhere the committed results are shown.
    In ``smoke`` the runs are tiny, so those that an earlier version of the spec or of the
    library made are deleted and rerun; in other profiles such runs stop it with their names."""
    if run if run is not None else profile == "smoke":
        run_ablation(spec, progress=False, rerun_changed=profile == "smoke", log=lambda line: None)
        return spec.out
    found = committed_results(spec, profile, root)
    if found is not None:
        missing = missing_runs(found)
        total = len(plan_runs(spec))
        log(
            f"{spec.name}: the committed {profile}-profile results ({found.name})"
            + (f", {total - len(missing)} of {total} runs so far" if missing else "")
        )
        return found
    log(
        f"{spec.name}: no {profile}-profile results are committed yet. Produce them with "
        f"REIDKIT_PROFILE={profile} reidkit ablate <spec> --save-results (hours on a CPU), "
        f"or run them here with run=True."
    )
    return None
