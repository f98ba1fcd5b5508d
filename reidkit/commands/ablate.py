"""``reidkit ablate SPEC``: train every row of an ablation at every seed, then tabulate."""

from __future__ import annotations

import argparse

HELP = "train rows x seeds of an ablation spec and tabulate them (see configs/ablations/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="YAML ablation spec, e.g. configs/ablations/smoke.yaml")
    parser.add_argument("--out", help="output folder (default: the spec's out)")
    parser.add_argument("--rows", nargs="+", metavar="ROW", help="run only these rows (names)")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="only these seeds")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs and their state; train nothing"
    )
    parser.add_argument(
        "--rerun-changed",
        action="store_true",
        help="delete and rerun runs whose configuration the spec has changed since they ran",
    )
    parser.add_argument(
        "--reuse",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="other ablations' output folders: a run they trained with the same configuration "
        "(and seed) is copied, not trained again",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--retime",
        action="store_true",
        help="train nothing: time the finished runs' inference again, one after the other, "
        "and rewrite their ms/img (run it on an otherwise idle machine)",
    )
    parser.add_argument(
        "--save-results",
        action="store_true",
        help="copy the results into reidkit/results/ablations/ (what the chapters show)",
    )


def run(args: argparse.Namespace) -> int:
    from reidkit.train.ablate import run_ablation
    from reidkit.train.ablation_spec import load_spec
    from reidkit.viz.ablation import ablation_markdown, missing_runs

    spec = load_spec(args.spec, out=args.out)
    print(f"ablation {spec.name!r}: {len(spec.rows)} rows x {len(spec.seeds)} seeds -> {spec.out}")
    if args.retime and (args.dry_run or args.reuse or args.rerun_changed):
        raise SystemExit(
            "reidkit ablate: --retime trains nothing; drop --dry-run, --reuse and --rerun-changed"
        )
    if args.retime:
        from reidkit.train.retime import retime_runs

        retime_runs(spec, args.rows, args.seeds, log=lambda line: print(line, flush=True))
    else:
        run_ablation(
            spec,
            rows=args.rows,
            seeds=args.seeds,
            progress=not args.no_progress,
            rerun_changed=args.rerun_changed,
            dry_run=args.dry_run,
            reuse=args.reuse,
            log=lambda line: print(line, flush=True),
        )
    if not args.dry_run:
        print()
        print(ablation_markdown(spec.out))
        print(f"results: {spec.out}/results.jsonl, table.md, table.json, figure.json")
    if args.save_results and not args.dry_run:
        from reidkit.profiles import get_profile
        from reidkit.train.chapter_ablation import save_results

        saved = save_results(spec, get_profile().name)
        missing = missing_runs(saved)
        print(
            f"saved for the chapters: {saved}"
            + (f" ({len(missing)} runs missing)" if missing else "")
        )
    return 0
