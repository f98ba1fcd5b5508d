"""The ranked-list viewer: a query, its top-k gallery images framed green (same person) or red,
and the query's AP under the protocol's rules.

:func:`ranked_list_figure` is a plotly figure with a slider over queries, so it stays
interactive in the static book; :func:`ranked_list_widget` is the ipywidgets version for a live
kernel (works with ipywidgets 7.7 and 8). The figure shows a seeded sample of queries
(:func:`sample_queries`): spread over identities, successes and failures (rank-1 wrong) in turn.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from reidkit.data.records import Record, read_image
from reidkit.eval.distance import as_tensor
from reidkit.eval.metrics import rank_metrics
from reidkit.eval.reference import query_metrics, ranked_list

MATCH, WRONG, QUERY = (42, 157, 69), (214, 40, 40), (60, 60, 60)  # border colours (RGB)


@dataclass(frozen=True)
class RankedQuery:
    """What the viewer shows for one query."""

    query: int  # index into the query records
    gallery: list[int]  # top-k gallery indices after the protocol's removal rule
    matches: list[bool]  # whether each is the query's identity
    ap: float | None  # None when the query has no true match in the gallery


def rank_queries(
    distmat,
    query_records: Sequence[Record],
    gallery_records: Sequence[Record],
    protocol: str,
    top_k: int = 8,
    queries: Sequence[int] | None = None,
) -> list[RankedQuery]:
    """The top-k list and AP of each chosen query (all queries by default)."""
    dist = np.asarray(as_tensor(distmat, "distmat").detach().cpu(), dtype=np.float64)
    if dist.shape != (len(query_records), len(gallery_records)):
        raise ValueError(
            f"distmat has shape {dist.shape}, expected ({len(query_records)}, "
            f"{len(gallery_records)}) for the query and gallery records"
        )
    g_pids = [r.pid for r in gallery_records]
    g_cams = [r.camid for r in gallery_records]
    rows = []
    for i in range(len(query_records)) if queries is None else queries:
        q = query_records[i]
        kept = ranked_list(dist[i], q.pid, q.camid, g_pids, g_cams, protocol)[:top_k]
        metrics = query_metrics(dist[i], q.pid, q.camid, g_pids, g_cams, protocol)
        rows.append(
            RankedQuery(
                i,
                kept,
                [g_pids[j] == q.pid for j in kept],
                None if metrics is None else metrics["AP"],
            )
        )
    return rows


def _spread_over_identities(
    rng: np.random.Generator,
    candidates: np.ndarray,
    pids: np.ndarray,
    count: int,
    shown: frozenset[int] = frozenset(),
) -> list[int]:
    """Up to ``count`` of ``candidates`` (query indices), one per identity in a shuffled order of
    identities (those already ``shown`` last), then a second per identity, and so on."""
    order = rng.permutation(candidates)
    by_id: dict[int, list[int]] = {}
    for index in order.tolist():
        by_id.setdefault(int(pids[index]), []).append(index)
    rounds = sorted(by_id.values(), key=lambda group: int(pids[group[0]]) in shown)
    chosen: list[int] = []
    while len(chosen) < count and any(rounds):
        for group in rounds:
            if group and len(chosen) < count:
                chosen.append(group.pop(0))
    return chosen


def sample_queries(
    distmat,
    query_records: Sequence[Record],
    gallery_records: Sequence[Record],
    protocol: str,
    count: int = 12,
    seed: int = 0,
) -> list[int]:
    """``count`` query indices worth looking at, chosen with ``seed``.

    Only queries with a true match left under the protocol count. Half of them (or as many as
    there are) are *failures*, queries whose rank-1 item is another person; the rest are
    successes. Within each group the queries are spread over identities (a second query of a
    person only once every person in the group has one). The list alternates success and
    failure, so both show up among the first few slider steps.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    q_pids = np.array([r.pid for r in query_records])
    per_query = rank_metrics(
        distmat,
        q_pids,
        [r.pid for r in gallery_records],
        [r.camid for r in query_records],
        [r.camid for r in gallery_records],
        protocol,
        max_rank=1,
        return_per_query=True,
    )
    valid, first = per_query["valid"], per_query["first_rank"]
    failures = np.flatnonzero(valid & (first != 1))
    successes = np.flatnonzero(valid & (first == 1))
    rng = np.random.default_rng(seed)
    wrong = _spread_over_identities(rng, failures, q_pids, count)
    keep_wrong = min(len(wrong), max(count // 2, count - len(successes)))
    wrong = wrong[:keep_wrong]
    shown = frozenset(int(q_pids[q]) for q in wrong)
    right = _spread_over_identities(rng, successes, q_pids, count - keep_wrong, shown)
    mixed = [q for pair in zip(right, wrong) for q in pair]
    longer = right if len(right) > len(wrong) else wrong
    return mixed + longer[len(mixed) // 2 :]


def framed_thumbnail(
    record: Record, colour: tuple[int, int, int], size=(80, 40), border: int = 4
) -> np.ndarray:
    """The record's image resized to ``size`` (height, width) inside a coloured frame."""
    image = read_image(record.path).resize((size[1], size[0]), Image.BILINEAR)
    framed = np.empty((size[0] + 2 * border, size[1] + 2 * border, 3), dtype=np.uint8)
    framed[:] = colour
    framed[border:-border, border:-border] = np.asarray(image)
    return framed


def _jpeg_uri(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=80)  # a few kB per thumbnail
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail_row(
    items: Sequence[tuple[Record, tuple[int, int, int], str, str]],
    size=(80, 40),
    gap_after_first: int = 0,
) -> tuple[list[go.Image], list[dict]]:
    """Framed thumbnails side by side and their captions: ``items`` are (record, frame colour,
    hover text, label text under the image); ``gap_after_first`` widens the gap after the first
    (a query). Returns the image traces and the label annotations."""
    width = size[1] + 8 + 12  # thumbnail, frame and a gap
    traces, labels = [], []
    for position, (record, colour, hover, label) in enumerate(items):
        x0 = position * width + (0 if position == 0 else gap_after_first)
        traces.append(
            go.Image(
                source=_jpeg_uri(framed_thumbnail(record, colour, size)),
                x0=x0,
                y0=0,
                hovertemplate=f"{hover}<extra></extra>",
            )
        )
        labels.append(
            {
                "x": x0 + width / 2 - 6,
                "y": size[0] + 8,
                "yanchor": "top",
                "text": label,
                "showarrow": False,
                "font": {"size": 10},
            }
        )
    return traces, labels


def _traces_and_labels(row: RankedQuery, query_records, gallery_records, size):
    items = [(query_records[row.query], QUERY, "query")]
    items += [
        (gallery_records[j], MATCH if ok else WRONG, f"#{rank}")
        for rank, (j, ok) in enumerate(zip(row.gallery, row.matches), start=1)
    ]
    described = [
        (r, colour, f"{name}: id {r.pid}, cam {r.camid}", f"{name}<br>id {r.pid} c{r.camid}")
        for r, colour, name in items
    ]
    return thumbnail_row(described, size, gap_after_first=16)  # a wider gap after the query


def _title(row: RankedQuery, protocol: str) -> str:
    ap = "no true match" if row.ap is None else f"AP {100 * row.ap:.1f}%"
    verdict = "rank-1 right" if row.matches[:1] == [True] else "rank-1 WRONG"
    return f"Query {row.query} ({protocol}): {verdict}, {ap}; green = same person, red = another"


def _label(row: RankedQuery) -> str:
    return f"{row.query} {'ok' if row.matches[:1] == [True] else 'wrong'}"


def ranked_list_figure(
    distmat,
    query_records: Sequence[Record],
    gallery_records: Sequence[Record],
    protocol: str,
    top_k: int = 8,
    queries: Sequence[int] | None = None,
    size=(80, 40),
    count: int = 12,
    seed: int = 0,
) -> go.Figure:
    """Top-k gallery of each query, one query at a time, with a slider when there are several.

    ``queries`` picks query indices; by default :func:`sample_queries` chooses ``count`` of
    them with ``seed`` (spread over identities, failures included; a few to keep the page
    light). Each slider step is labelled with the query index and whether rank-1 is right.
    """
    if queries is None:
        queries = sample_queries(distmat, query_records, gallery_records, protocol, count, seed)
    chosen = list(queries)
    rows = rank_queries(distmat, query_records, gallery_records, protocol, top_k, chosen)
    figure = go.Figure()
    labels, spans = [], []
    for row in rows:
        traces, row_labels = _traces_and_labels(row, query_records, gallery_records, size)
        spans.append((len(figure.data), len(figure.data) + len(traces)))
        for trace in traces:
            trace.visible = not spans[:-1]  # only the first query shows at first
            figure.add_trace(trace)
        labels.append(row_labels)
    steps = []
    for n, (row, (start, stop)) in enumerate(zip(rows, spans)):
        visible = [start <= t < stop for t in range(len(figure.data))]
        steps.append(
            {
                "method": "update",
                "label": _label(row),
                "args": [
                    {"visible": visible},
                    {"title.text": _title(row, protocol), "annotations": labels[n]},
                ],
            }
        )
    figure.update_layout(
        title=_title(rows[0], protocol) if rows else "no queries",
        annotations=labels[0] if labels else [],
        height=size[0] + 190 if len(rows) > 1 else size[0] + 120,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        plot_bgcolor="white",
    )
    if len(rows) > 1:
        figure.update_layout(
            sliders=[
                {
                    "active": 0,
                    "steps": steps,
                    "currentvalue": {"prefix": "query "},
                    "pad": {"t": 20},
                }
            ]
        )
    return figure


def ranked_list_widget(
    distmat,
    query_records: Sequence[Record],
    gallery_records: Sequence[Record],
    protocol: str,
    top_k: int = 8,
    size=(80, 40),
):
    """A slider over every query and the figure of the chosen one (needs a live kernel).

    The returned ``VBox`` keeps the figure on show as ``.figure`` (handy in tests).
    """
    import ipywidgets as widgets
    from IPython.display import display

    from reidkit.plotting import show

    slider = widgets.IntSlider(
        value=0,
        min=0,
        max=max(0, len(query_records) - 1),
        description="query",
        continuous_update=False,
    )
    output = widgets.Output()
    box = widgets.VBox([slider, output])

    def draw(change=None) -> None:
        box.figure = ranked_list_figure(
            distmat,
            query_records,
            gallery_records,
            protocol,
            top_k,
            queries=[slider.value],
            size=size,
        )
        with output:
            output.clear_output(wait=True)
            show(box.figure) if _in_kernel() else display(box.figure.layout.title.text)

    slider.observe(draw, names="value")
    draw()
    return box


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
