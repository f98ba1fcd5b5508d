"""``reidkit info``: versions, device, profile and data folders."""

from __future__ import annotations

import argparse
import json

HELP = "print versions, device, active profile and data folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from reidkit.utils import environment_report, format_report

    report = environment_report()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
