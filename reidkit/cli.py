"""The ``reidkit`` command. Each subcommand lives in ``reidkit/commands/<name>.py`` and
defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

import reidkit

SUBCOMMANDS = ("info", "synth", "train", "eval", "ablate", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reidkit", description="Cross-modality re-identification: the course's toolkit."
    )
    parser.add_argument("--version", action="version", version=f"reidkit {reidkit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"reidkit.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError) as error:
        print(f"reidkit {args.command}: error: {error}", file=sys.stderr)
        return 2
