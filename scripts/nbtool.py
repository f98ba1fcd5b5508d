"""Notebook upkeep for contributors.

    python scripts/nbtool.py clean notebooks/*.ipynb      # strip outputs, counts, machine metadata
    python scripts/nbtool.py refresh notebooks/*.ipynb    # run in smoke, keep checked outputs
    python scripts/nbtool.py build chapter.py out.ipynb   # percent-format script -> notebook
    python scripts/nbtool.py script nb.ipynb out.py       # notebook -> percent-format script

The percent format: a line ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell
whose lines are comments (``# text``). Cell tags follow as JSON, as in jupytext:
``# %% tags=["hide-input"]`` (the book folds such a cell; ``skip-execution`` skips it there).
Committed notebooks carry outputs only for cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval
compares them against a fresh smoke run); ``refresh`` makes those outputs by executing the
notebook in the smoke profile. nbval skips cells without an
execution count, so a checked cell keeps one: its position among the code cells.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

TAGS = re.compile(r"tags=(\[.*\])")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
KEEP_METADATA = {"kernelspec", "language_info", "colab"}
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def clean(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEEP_METADATA}
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in {"tags"}}
    for number, cell in enumerate(code_cells, start=1):
        # nbval checks only cells that were run, so a checked cell keeps a canonical count:
        # its position among the code cells. Every other cell has no count and no output.
        cell.execution_count = number if is_checked(cell) else None
        if not is_checked(cell):
            cell.outputs = []
        for output in cell.outputs:
            if "execution_count" in output:  # execute_result: the schema keeps the key
                output.execution_count = number
    nbformat.validate(nb)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("" if after.endswith("\n") else "\n"), encoding="utf-8")
    return after != before


def refresh(path: Path) -> None:
    """Execute in the smoke profile (from the notebook's folder), keep checked outputs only."""
    import os

    from nbclient import NotebookClient

    os.environ["REIDKIT_PROFILE"] = "smoke"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(nb, path)
    clean(path)


def build(source: Path, target: Path) -> None:
    cells: list[nbformat.NotebookNode] = []
    kind, lines, tags = None, [], []

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            md = "\n".join(
                line[2:] if line.startswith("# ") else line.lstrip("#")
                for line in text.splitlines()
            )
            cells.append(nbformat.v4.new_markdown_cell(md))
        elif kind == "code" and text:
            cells.append(nbformat.v4.new_code_cell(text))
        else:
            return
        if tags:
            cells[-1].metadata["tags"] = tags

    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
            found = TAGS.search(line)
            tags = json.loads(found.group(1)) if found else []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, target)
    clean(target)


def script(source: Path, target: Path) -> None:
    nb = nbformat.read(source, as_version=4)
    parts = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        marker = f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            body = "\n".join(f"# {line}" if line else "#" for line in cell.source.splitlines())
            parts.append(f"# %% [markdown]{marker}\n{body}")
        else:
            parts.append(f"# %%{marker}\n{cell.source}")
    target.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"clean", "refresh", "build", "script"}:
        print(__doc__)
        return 2
    if argv[0] == "clean":
        changed = [p for p in map(Path, argv[1:]) if clean(p)]
        print(f"cleaned {len(changed)} of {len(argv) - 1} notebooks")
    elif argv[0] == "refresh":
        for path in map(Path, argv[1:]):
            refresh(path)
            print(f"refreshed {path}")
    elif argv[0] == "build":
        build(Path(argv[1]), Path(argv[2]))
    else:
        script(Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
