"""Sphinx extension for the reidkit book: plotly.js once per site, for offline figures.

Chapters display plotly figures as a ``<div>`` plus a small script that waits for a page-wide
``Plotly`` (see ``reidkit.plotting``). This extension copies the installed plotly.js into the
build's static files and loads it on every page before require.js could claim it as an AMD
module, so figures draw in a book opened from disk with no network.
"""

from __future__ import annotations

import tempfile

from sphinx.application import Sphinx

from reidkit.plotting import write_plotlyjs


def _add_plotlyjs(app: Sphinx) -> None:
    folder = tempfile.mkdtemp(prefix="reidkit-book-static-")
    write_plotlyjs(folder)
    app.config.html_static_path.append(folder)
    # priority < 200 puts it ahead of require.js (which myst-nb adds for widget pages).
    app.add_js_file("plotly.min.js", priority=100)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", _add_plotlyjs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
