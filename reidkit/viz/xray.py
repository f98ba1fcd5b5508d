"""Figures and a widget of chapter 15: browsing packages in both modalities, and where GLAA's
visible CLS looks on the X-ray scan.

Plotly figures keep their controls (slider, menu) in the static book; the ipywidgets browser
needs a live kernel (works with ipywidgets 7.7 and 8). Packages come as records (any
``reidkit.data.XrayPackages`` split: synthetic or a real dataset in the layout).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots
from torch import Tensor

from reidkit.data.records import Record, read_image
from reidkit.viz.attention import choice_menu, effective_patches, image_to_uint8
from reidkit.viz.synth import data_uri, png_bytes

MODALITY_NAMES = {"visible": "photograph", "xray": "X-ray scan"}


def package_images(
    records: Sequence[Record], pid: int, per_modality: int = 4
) -> dict[str, list[Image.Image]]:
    """The first ``per_modality`` images of package ``pid`` in each modality, in record order."""
    found: dict[str, list[Image.Image]] = {"visible": [], "xray": []}
    for record in records:
        if record.pid == pid and record.modality in found:
            if len(found[record.modality]) < per_modality:
                found[record.modality].append(read_image(record.path))
    if not any(found.values()):
        raise ValueError(f"no visible or X-ray image of package {pid} among the records")
    return found


def _blank(images: dict[str, list[Image.Image]]) -> Image.Image:
    first = next(image for views in images.values() for image in views)
    return Image.new("RGB", first.size, (235, 235, 235))


def package_browser_figure(
    records: Sequence[Record], pids: Sequence[int], per_modality: int = 4
) -> go.Figure:
    """One package per slider step: its photographs on the top row, its X-ray scans below
    (``per_modality`` of each at most; works offline)."""
    if not pids:
        raise ValueError("package_browser_figure needs at least one pid")
    cols = per_modality
    fig = make_subplots(
        rows=2,
        cols=cols,
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
        row_titles=[MODALITY_NAMES["visible"], MODALITY_NAMES["xray"]],
    )
    for n, pid in enumerate(pids):
        images = package_images(records, pid, per_modality)
        blank = _blank(images)
        for row, modality in enumerate(("visible", "xray"), start=1):
            views = images[modality]
            for k in range(cols):
                shown = views[k] if k < len(views) else blank
                missing = "" if k < len(views) else " (none)"
                fig.add_trace(
                    go.Image(
                        source=data_uri(shown),
                        visible=n == 0,
                        name=f"#{pid} {modality} {k + 1}",
                        hovertemplate=f"#{pid} {MODALITY_NAMES[modality]} {k + 1}{missing}"
                        "<extra></extra>",
                    ),
                    row=row,
                    col=k + 1,
                )
    per_pid = 2 * cols
    steps = [
        {
            "method": "update",
            "label": str(pid),
            "args": [
                {"visible": [k // per_pid == n for k in range(per_pid * len(pids))]},
                {"title.text": f"package #{pid}"},
            ],
        }
        for n, pid in enumerate(pids)
    ]
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title={"text": f"package #{pids[0]}", "x": 0.01},
        sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "package "}}],
        height=480,
        margin={"t": 50, "l": 10, "r": 30, "b": 10},
    )
    return fig


def package_widget(records: Sequence[Record], pids: Sequence[int], per_modality: int = 4):
    """Live view: a slider over packages; its photographs and its scans side by side
    (ipywidgets 7.7 and 8). ``widget.update()`` redraws (the slider calls it)."""
    import ipywidgets as widgets

    if not pids:
        raise ValueError("package_widget needs at least one pid")
    slider = widgets.SelectionSlider(options=list(pids), value=pids[0], description="package")
    rows = {
        m: [widgets.Image(format="png", width="128") for _ in range(per_modality)]
        for m in MODALITY_NAMES
    }
    label = widgets.HTML()

    def update(_change=None) -> None:
        images = package_images(records, slider.value, per_modality)
        blank = _blank(images)
        for modality, views in rows.items():
            for k, view in enumerate(views):
                found = images[modality]
                view.value = png_bytes(found[k] if k < len(found) else blank)
        counts = ", ".join(f"{len(images[m])} {MODALITY_NAMES[m]}(s)" for m in MODALITY_NAMES)
        label.value = f"<b>package #{slider.value}</b>: {counts} shown"

    slider.observe(update, names="value")
    update()
    lines = [
        widgets.HBox([widgets.HTML(f"<small>{MODALITY_NAMES[m]}</small>"), *views])
        for m, views in rows.items()
    ]
    box = widgets.VBox([slider, label, *lines])
    box.update = update
    return box


def _cell_heatmap(values: np.ndarray, cell_h: float, cell_w: float, **style: object) -> go.Heatmap:
    # Cell (i, j) covers pixels [i * cell_h, (i + 1) * cell_h) x [j * cell_w, (j + 1) * cell_w).
    return go.Heatmap(
        z=values,
        x0=(cell_w - 1) / 2,
        dx=cell_w,
        y0=(cell_h - 1) / 2,
        dy=cell_h,
        colorscale="Inferno",
        opacity=0.55,
        showscale=False,
        **style,
    )


def glaa_attention_figure(
    xray_image: Tensor | np.ndarray | Image.Image,
    weights: Tensor,
    visible_image: Tensor | np.ndarray | Image.Image | None = None,
    title: str | None = None,
) -> go.Figure:
    """Where the visible CLS looks on the scan: GLAA's weights over the X-ray patches, (heads,
    grid_h, grid_w) or (grid_h, grid_w) (``CAST.glaa_maps``), drawn over the X-ray image; a
    menu picks the mean over heads or one head. With ``visible_image`` the photograph whose CLS
    asks is shown on the left."""
    maps = weights.detach().float().cpu()
    if maps.dim() == 2:
        maps = maps[None]  # (1, gh, gw)
    if maps.dim() != 3:
        raise ValueError(
            "weights must be (heads, grid_h, grid_w) or (grid_h, grid_w), got "
            f"{tuple(weights.shape)}"
        )
    scan = image_to_uint8(
        np.asarray(xray_image) if isinstance(xray_image, Image.Image) else xray_image
    )
    height, width = scan.shape[:2]
    cell_h, cell_w = height / maps.shape[1], width / maps.shape[2]
    choices = [maps.mean(dim=0)] + list(maps)  # each (gh, gw)
    names = ["mean of heads"] + [f"head {h}" for h in range(maps.shape[0])]
    if len(maps) == 1:  # one map: nothing to choose
        choices, names = choices[:1], ["attention"]
    col = 1 if visible_image is None else 2
    fig = make_subplots(rows=1, cols=col, horizontal_spacing=0.03)
    if visible_image is not None:
        photo = visible_image
        photo = image_to_uint8(np.asarray(photo) if isinstance(photo, Image.Image) else photo)
        fig.add_trace(go.Image(z=photo, name="photograph"), row=1, col=1)
    fig.add_trace(go.Image(z=scan, name="X-ray scan"), row=1, col=col)
    first = len(fig.data)
    for k, (name, values) in enumerate(zip(names, choices)):
        heat = _cell_heatmap(values.numpy(), cell_h, cell_w, name=name, visible=k == 0)
        fig.add_trace(heat, row=1, col=col)
    heat_traces = list(range(first, len(fig.data)))
    if len(names) > 1:
        fig.update_layout(updatemenus=[choice_menu(names, heat_traces)])
    spread = effective_patches(choices[0])
    fig.update_layout(
        title=title
        or f"GLAA: the photograph's CLS over the scan's patches (spread over {spread:.1f} "
        f"of {maps.shape[1] * maps.shape[2]} patches)",
        height=420,
        margin={"t": 70, "l": 10, "r": 10, "b": 10},
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(range=[-0.5, width - 0.5], row=1, col=col)
    fig.update_yaxes(range=[height - 0.5, -0.5], row=1, col=col)
    return fig
