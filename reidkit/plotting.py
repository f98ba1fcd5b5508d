"""Plotly set-up shared by every chapter.

Figures must show in JupyterLab, in Colab and in the built book opened offline. One renderer,
``reidkit``, emits a MIME bundle with two entries:

* ``application/vnd.plotly.v1+json`` - drawn by JupyterLab, Notebook 7 and VS Code;
* ``text/html`` - a ``<div>`` plus a few lines of script that draw the figure with the page's
  own ``Plotly``. The book loads ``plotly.min.js`` once for the whole site (see
  ``book/_ext/reidkit_book.py``), so no notebook carries megabytes of inlined plotly.js.

On Colab, which renders neither, the ``colab`` renderer is used instead.
"""

from __future__ import annotations

import html
import json
import sys
import uuid
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

RENDERER = "reidkit"


def figure_html(fig: go.Figure | dict, div_id: str | None = None) -> str:
    """HTML for one figure that relies on a page-wide ``Plotly`` (no plotly.js inside)."""
    spec = fig.to_plotly_json() if isinstance(fig, go.Figure) else fig
    div_id = div_id or f"reidkit-fig-{uuid.uuid4().hex[:12]}"
    layout = spec.get("layout", {})
    height = layout.get("height", 450)
    payload = pio.to_json({"data": spec.get("data", []), "layout": layout}, validate=False)
    # The figure waits for Plotly (loaded by the page) and draws itself once it is there.
    return (
        f'<div id="{html.escape(div_id)}" class="reidkit-plotly" '
        f'style="width:100%;height:{int(height)}px;"></div>\n'
        "<script>(function(){"
        f"var spec={payload};"
        "function draw(){var el=document.getElementById("
        f'"{div_id}");'
        "if(el&&window.Plotly){window.Plotly.newPlot(el,spec.data,spec.layout,"
        "{responsive:true,displaylogo:false});}else{setTimeout(draw,50);}}"
        "draw();})();</script>"
    )


class ReidkitRenderer(MimetypeRenderer):
    """Plotly JSON for Jupyter front-ends plus page-wide-Plotly HTML for the book."""

    def to_mimebundle(self, fig_dict: dict) -> dict[str, object]:
        plotly_json = json.loads(pio.to_json(fig_dict, validate=False))
        return {
            "application/vnd.plotly.v1+json": {**plotly_json, "config": {"displaylogo": False}},
            "text/html": figure_html(fig_dict),
        }


def in_colab() -> bool:
    return "google.colab" in sys.modules


def configure_plotly() -> str:
    """Register the ``reidkit`` renderer and make it (or ``colab``) the default; return it."""
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = ReidkitRenderer()
    pio.renderers.default = "colab" if in_colab() else RENDERER
    return pio.renderers.default


def show(fig: go.Figure) -> None:
    """Display ``fig`` with the configured renderer (configuring it on first use)."""
    if pio.renderers.default not in (RENDERER, "colab"):
        configure_plotly()
    fig.show()


def write_plotlyjs(folder: str | Path) -> Path:
    """Write the installed plotly.js bundle to ``folder/plotly.min.js`` (for the book)."""
    from plotly.offline import get_plotlyjs

    target = Path(folder) / "plotly.min.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(get_plotlyjs(), encoding="utf-8")
    return target
