"""Sphinx extension for the reidkit book: plotly.js once per site, for offline figures, and
an execution cache per profile.

Chapters display plotly figures as a ``<div>`` plus a small script that waits for a page-wide
``Plotly`` (see ``reidkit.plotting``). This extension copies the installed plotly.js into the
build's static files and loads it on every page before require.js could claim it as an AMD
module, so figures draw in a book opened from disk with no network.

Chapters execute in the profile ``REIDKIT_PROFILE`` names (``make book`` uses ``quick``; CI
builds in ``smoke``) through Jupyter Book's execution cache, so a rebuild re-runs only the
notebooks whose code changed. The cache lives beside the HTML, one per profile: a cache keyed
on code alone would otherwise hand smoke outputs to a quick build. The cell timeout follows the
profile too (a quick chapter trains for minutes in one cell).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from reidkit.plotting import write_plotlyjs
from reidkit.profiles import get_profile

# Seconds one cell may run, by profile: a quick or full chapter trains in a single cell.
CELL_TIMEOUT = {"smoke": 600, "quick": 3600, "full": 3600}


def _add_plotlyjs(app: Sphinx) -> None:
    folder = tempfile.mkdtemp(prefix="reidkit-book-static-")
    write_plotlyjs(folder)
    app.config.html_static_path.append(folder)
    # priority < 200 puts it ahead of require.js (which myst-nb adds for widget pages).
    app.add_js_file("plotly.min.js", priority=100)


def execution_settings(outdir: str | Path, profile: str) -> dict[str, object]:
    """myst-nb settings for a build in ``profile``: a cache folder of its own beside the
    output, and the profile's cell timeout."""
    return {
        "nb_execution_cache_path": str(Path(outdir).parent / f".jupyter_cache-{profile}"),
        "nb_execution_timeout": CELL_TIMEOUT[profile],
    }


def _per_profile_execution(app: Sphinx, config: Config) -> None:
    for name, value in execution_settings(app.outdir, get_profile().name).items():
        setattr(config, name, value)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _per_profile_execution)
    app.connect("builder-inited", _add_plotlyjs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
