"""Figures and widgets of chapter 1: browsing synthetic people, their attributes and the
raw-pixel modality gap. Plotly figures keep their interactivity (sliders) in the static
book; the ipywidgets view needs a live kernel (works with ipywidgets 7.7 and 8)."""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections import Counter
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from reidkit.data.synth.people import SyntheticPeople, image_captions
from reidkit.data.sysu import CAMERAS, INDOOR_CAMERAS, INFRARED_CAMERAS

CAMERA_NAMES = {
    cam: f"cam{cam} {'IR' if cam in INFRARED_CAMERAS else 'RGB'} "
    f"{'indoor' if cam in INDOOR_CAMERAS else 'outdoor'}"
    for cam in CAMERAS
}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(image: Image.Image) -> str:
    """A PNG ``data:`` URI, the compact way to put an image into a plotly figure."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def camera_images(people: SyntheticPeople, pid: int, index: int = 0) -> list[Image.Image | None]:
    """One image per camera 1..6 (None where the camera does not see the person)."""
    seen = people.identity(pid).cameras
    return [people.render(pid, cam, index) if cam in seen else None for cam in CAMERAS]


def describe(people: SyntheticPeople, pid: int, index: int = 0, width: int = 110) -> str:
    """An attribute summary and the captions of the person's first visible image, as HTML
    lines of at most ``width`` characters (plotly titles do not wrap by themselves)."""
    p = people.identity(pid)
    twin = f", dressed like #{p.twin_of}" if p.twin_of is not None else ""
    summary = (
        f"#{pid}: {p.upper_colour} {p.upper_pattern} {p.upper_type} ({p.upper_fabric}), "
        f"{p.lower_colour} {p.lower_pattern} {p.lower_type} ({p.lower_fabric}), bag {p.bag}, "
        f"hat {p.hat}, hair {p.hair_length}{twin}"
    )
    cam = next(c for c in p.cameras if c not in INFRARED_CAMERAS)
    parts = [summary] + [f"“{c}”" for c in image_captions(people.settings, pid, cam, index)]
    return "<br>".join("<br>".join(textwrap.wrap(part, width)) for part in parts)


def identity_browser_figure(
    people: SyntheticPeople, pids: Sequence[int], index: int = 0
) -> go.Figure:
    """One person across the six cameras, a slider choosing the person (works offline)."""
    if not pids:
        raise ValueError("identity_browser_figure needs at least one pid")
    height, width = people.settings.height, people.settings.width
    blank = Image.new("RGB", (width, height), (235, 235, 235))
    fig = make_subplots(
        rows=1,
        cols=6,
        subplot_titles=[CAMERA_NAMES[c] for c in CAMERAS],
        horizontal_spacing=0.01,
    )
    for n, pid in enumerate(pids):
        for cam, image in enumerate(camera_images(people, pid, index), start=1):
            fig.add_trace(
                go.Image(
                    source=data_uri(image or blank),
                    visible=n == 0,
                    name=f"#{pid} cam{cam}",
                    hovertemplate=f"#{pid} cam{cam}{'' if image else ' (not seen)'}<extra></extra>",
                ),
                row=1,
                col=cam,
            )
    titles = [describe(people, pid, index) for pid in pids]
    top = 40 + 15 * max(t.count("<br>") + 1 for t in titles)  # room for the longest title
    steps = []
    for n, pid in enumerate(pids):
        visible = [k // 6 == n for k in range(6 * len(pids))]
        steps.append(
            {
                "method": "update",
                "label": str(pid),
                "args": [{"visible": visible}, {"title.text": titles[n]}],
            }
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title={"text": titles[0], "font": {"size": 11}, "x": 0.01},
        sliders=[
            {"active": 0, "steps": steps, "currentvalue": {"prefix": "identity "}, "pad": {"t": 10}}
        ],
        height=top + 100 + min(2.2 * height, 360),
        margin={"t": top, "l": 10, "r": 10, "b": 10},
    )
    return fig


def identity_widget(people: SyntheticPeople, pids: Sequence[int]):
    """Live view: a slider over identities and image indices, images of the six cameras and the
    captions of each image (ipywidgets 7.7 and 8)."""
    import ipywidgets as widgets

    if not pids:
        raise ValueError("identity_widget needs at least one pid")
    pid_slider = widgets.SelectionSlider(options=list(pids), value=pids[0], description="identity")
    index_slider = widgets.IntSlider(
        value=0, min=0, max=people.images_per_camera - 1, description="image"
    )
    scale = max(1, 192 // people.settings.height)
    shape = {
        "width": str(people.settings.width * scale),
        "height": str(people.settings.height * scale),
    }
    images = [widgets.Image(format="png", **shape) for _ in range(6)]
    labels = [widgets.HTML(value=f"<small>{CAMERA_NAMES[c]}</small>") for c in CAMERAS]
    text = widgets.HTML()

    def update(_change=None) -> None:
        pid, index = pid_slider.value, index_slider.value
        blank = Image.new("RGB", (people.settings.width, people.settings.height), (235,) * 3)
        lines = []
        for cam, (image, view) in enumerate(zip(camera_images(people, pid, index), images), 1):
            view.value = png_bytes(image or blank)
            if image is not None:
                caps = image_captions(people.settings, pid, cam, index)
                lines.append(f"<b>cam{cam}</b>: " + " / ".join(html.escape(c) for c in caps))
        text.value = f"<p>{describe(people, pid, index).split('<br>')[0]}</p>" + "<br>".join(lines)

    pid_slider.observe(update, names="value")
    index_slider.observe(update, names="value")
    update()
    columns = [widgets.VBox([label, image]) for label, image in zip(labels, images)]
    return widgets.VBox([widgets.HBox([pid_slider, index_slider]), widgets.HBox(columns), text])


ATTRIBUTES = (
    "upper_type",
    "upper_pattern",
    "upper_fabric",
    "lower_type",
    "bag",
    "hat",
    "hair_length",
    "upper_colour",
)


def attribute_counts(people: SyntheticPeople, pids: Sequence[int]) -> dict[str, Counter]:
    """How often each value of each attribute occurs among ``pids``."""
    persons = [people.identity(pid) for pid in pids]
    counts = {name: Counter(getattr(p, name) for p in persons) for name in ATTRIBUTES}
    counts["near duplicate"] = Counter("yes" if p.twin_of is not None else "no" for p in persons)
    return counts


def attribute_figure(people: SyntheticPeople, pids: Sequence[int]) -> go.Figure:
    """Bar charts of attribute frequencies among ``pids``."""
    counts = attribute_counts(people, pids)
    fig = make_subplots(rows=3, cols=3, subplot_titles=list(counts), vertical_spacing=0.14)
    for k, (name, counter) in enumerate(counts.items()):
        values = sorted(counter)
        fig.add_trace(
            go.Bar(x=values, y=[counter[v] for v in values], name=name, showlegend=False),
            row=k // 3 + 1,
            col=k % 3 + 1,
        )
    fig.update_layout(height=720, title=f"Attributes of {len(pids)} synthetic identities")
    return fig


def retrieval_figure(results: dict[str, dict[str, float]]) -> go.Figure:
    """R1 and mAP (percent) of each retrieval setting, with the chance level: the output of
    ``reidkit.eval.modality_gap``."""
    names = list(results)
    fig = go.Figure()
    for metric, colour in (("R1", "#1f77b4"), ("mAP", "#ff7f0e")):
        fig.add_trace(
            go.Bar(
                x=names,
                y=[100 * results[n][metric] for n in names],
                name=metric,
                marker_color=colour,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[100 * results[n][f"chance_{metric}"] for n in names],
                mode="markers",
                marker={"symbol": "line-ew-open", "size": 30, "color": colour},
                name=f"chance {metric}",
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="percent",
        height=420,
        title="Raw-pixel nearest neighbour on the test identities",
    )
    return fig


def image_grid_figure(
    images: Sequence[Image.Image | np.ndarray], titles: Sequence[str], cols: int
) -> go.Figure:
    """A grid of images with titles (e.g. one person recoloured, in both modalities)."""
    if len(images) != len(titles) or not images:
        raise ValueError(f"need as many titles as images, got {len(images)} and {len(titles)}")
    rows = -(-len(images) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles),
        horizontal_spacing=0.02,
        vertical_spacing=0.08,
    )
    for k, image in enumerate(images):
        pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        fig.add_trace(go.Image(source=data_uri(pil)), row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=300 * rows, margin={"t": 40, "l": 10, "r": 10, "b": 10})
    return fig


LABEL_COLOURS = np.array(
    [
        [240, 240, 240],
        [230, 170, 140],
        [90, 60, 40],
        [60, 110, 200],
        [150, 190, 240],
        [50, 150, 80],
        [150, 220, 160],
        [40, 40, 40],
        [200, 60, 60],
        [230, 200, 40],
        [120, 0, 160],
        [250, 120, 200],
        [140, 140, 140],
        [30, 60, 120],
        [20, 90, 40],
    ],
    np.uint8,
)  # one false colour per label of reidkit.data.synth.body


def label_map_image(labels: np.ndarray) -> Image.Image:
    """A (H, W) label map shown in false colours (one per body part or garment label)."""
    if labels.ndim != 2 or labels.max() >= len(LABEL_COLOURS):
        raise ValueError(
            f"expected an (H, W) map of labels < {len(LABEL_COLOURS)}, got shape {labels.shape}"
        )
    return Image.fromarray(LABEL_COLOURS[labels])


def folder_tree(root, limit: int = 4) -> str:
    """A ``tree``-like listing of ``root``, showing at most ``limit`` entries per folder."""
    from pathlib import Path

    root = Path(root)
    lines = [root.name + "/"]

    def walk(folder: Path, indent: str) -> None:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        for entry in entries[:limit]:
            lines.append(f"{indent}{entry.name}{'/' if entry.is_dir() else ''}")
            if entry.is_dir():
                walk(entry, indent + "    ")
        if len(entries) > limit:
            lines.append(f"{indent}... ({len(entries) - limit} more)")

    walk(root, "    ")
    return "\n".join(lines)
