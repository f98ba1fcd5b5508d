"""Chapter 12's views of text-to-image retrieval: a caption's ranked gallery and a similarity
matrix of captions x images.

:func:`caption_ranking_figure` is a plotly figure with a dropdown of fixed captions, so it stays
interactive in the static book; :func:`caption_search_widget` is a text box for a live kernel
(ipywidgets 7.7 and 8): type a caption, see the gallery ranked by the model. Both rank as the
evaluator does: by the cosine similarity of the model's embeddings (``forward_embedding``), or
by the model's own score where it has one (``metric=retrieval_metric(model)``; the widget asks
the model itself).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torch import Tensor, nn

from reidkit.data.batch import TEXT, Batch, tokenize
from reidkit.data.records import Record
from reidkit.eval.distance import Distance, pairwise_distance
from reidkit.train.evaluation import model_device, retrieval_metric
from reidkit.viz.ranking import MATCH, WRONG, thumbnail_row

Tokenizer = Callable[[list[str]], tuple[Tensor, Tensor]]


@torch.no_grad()
def embed_captions(model: nn.Module, tokenizer: Tokenizer, captions: Sequence[str]) -> Tensor:
    """Captions -> the model's caption embeddings (N, E), float32 on the CPU, one caption at a
    time as at test time (a caption's embedding does not depend on the others in its batch)."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    n = len(captions)
    batch = Batch(
        labels=torch.zeros(n, dtype=torch.long),
        modalities=torch.full((n,), TEXT, dtype=torch.long),
        cameras=torch.zeros(n, dtype=torch.long),
        captions=list(captions),
    )
    tokenize(batch, tokenizer)  # token ids and mask (N, L); phrases where the tokenizer has them
    out = model.forward_embedding(batch.to(device)).float().cpu()  # (N, E)
    model.train(was_training)
    return out


def top_k(similarity: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` most similar gallery items of each query row: (values, indices), (Q, k) each,
    best first (ties broken by gallery order, as a stable sort)."""
    if similarity.dim() != 2:
        raise ValueError(f"similarity must be (queries, gallery), got {tuple(similarity.shape)}")
    k = min(k, similarity.shape[1])
    order = torch.sort(similarity, dim=1, descending=True, stable=True).indices[:, :k]  # (Q, k)
    return similarity.gather(1, order), order


def similarities(queries: Tensor, gallery: Tensor, metric: str | Distance = "cosine") -> Tensor:
    """(Q, G) similarity = 1 - the evaluator's distance: the cosine of the embeddings, or a
    model's own score (``retrieval_metric(model)``, e.g. ACSA's 0.9 global + 0.1 local)."""
    return 1.0 - pairwise_distance(queries, gallery, metric)


def _short(caption: str, width: int = 60) -> str:
    return caption if len(caption) <= width else caption[: width - 1] + "…"


NO_IDENTITY = (120, 120, 120)  # the frame of a typed caption's results: no person to check


def _gallery_traces(
    order: Sequence[int], scores: Sequence[float], pid: int | None, gallery, size
) -> tuple[list[go.Image], list[dict]]:
    items = []
    for rank, (j, score) in enumerate(zip(order, scores), start=1):
        record = gallery[j]
        colour = NO_IDENTITY if pid is None else MATCH if record.pid == pid else WRONG
        hover = f"#{rank}: id {record.pid}, cosine {score:.3f}"
        items.append((record, colour, hover, f"#{rank} id {record.pid}<br>{score:.2f}"))
    return thumbnail_row(items, size)


def caption_ranking_figure(
    captions: Sequence[str],
    caption_embeddings: Tensor,
    gallery: Sequence[Record],
    gallery_embeddings: Tensor,
    caption_pids: Sequence[int | None] | None = None,
    top_k_items: int = 8,
    size: tuple[int, int] = (80, 40),
    metric: str | Distance = "cosine",
) -> go.Figure:
    """The top-k gallery images of each caption, one caption at a time, chosen in a dropdown.

    With ``caption_pids`` a thumbnail is framed green when it shows the caption's person and
    red otherwise (grey for a caption with pid ``None``); hovers give the similarity
    (:func:`similarities` with ``metric``)."""
    if len(captions) != caption_embeddings.shape[0] or not captions:
        raise ValueError(
            f"{len(captions)} captions but caption_embeddings has {caption_embeddings.shape[0]} "
            "rows; expected one row per caption, at least one"
        )
    if len(gallery) != gallery_embeddings.shape[0]:
        raise ValueError(
            f"{len(gallery)} gallery records but gallery_embeddings has "
            f"{gallery_embeddings.shape[0]} rows"
        )
    pids = list(caption_pids) if caption_pids is not None else [None] * len(captions)
    sim = similarities(caption_embeddings, gallery_embeddings, metric)  # (Q, G)
    values, order = top_k(sim, top_k_items)  # (Q, k)
    figure, buttons, spans, all_labels = go.Figure(), [], [], []
    for q in range(len(captions)):
        traces, labels = _gallery_traces(
            order[q].tolist(), values[q].tolist(), pids[q], gallery, size
        )
        spans.append((len(figure.data), len(figure.data) + len(traces)))
        for trace in traces:
            trace.visible = q == 0
            figure.add_trace(trace)
        all_labels.append(labels)
    for q, (start, stop) in enumerate(spans):
        visible = [start <= t < stop for t in range(len(figure.data))]
        title = f"“{_short(captions[q], 90)}”"
        buttons.append(
            {
                "method": "update",
                "label": _short(captions[q]),
                "args": [{"visible": visible}, {"title.text": title, "annotations": all_labels[q]}],
            }
        )
    figure.update_layout(
        title=f"“{_short(captions[0], 90)}”",
        annotations=all_labels[0],
        height=size[0] + 170,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        plot_bgcolor="white",
        updatemenus=[{"buttons": buttons, "x": 0, "xanchor": "left", "y": 1.35, "yanchor": "top"}]
        if len(captions) > 1
        else [],
    )
    return figure


def caption_search_widget(
    model: nn.Module,
    tokenizer: Tokenizer,
    gallery: Sequence[Record],
    gallery_embeddings: Tensor,
    value: str = "",
    top_k_items: int = 8,
    size: tuple[int, int] = (80, 40),
):
    """A text box: type a caption and press Enter to see the gallery ranked by the model (needs
    a live kernel). The returned ``VBox`` keeps the last figure as ``.figure`` and the search
    as ``.search(caption)`` (tests call it). An empty caption shows a message instead."""
    import ipywidgets as widgets

    from reidkit.plotting import show

    metric = retrieval_metric(model)

    box_text = widgets.Text(
        value=value,
        placeholder="a person in a red jacket",
        description="caption",
        continuous_update=False,  # ipywidgets 7.7 and 8: the value changes on Enter
    )
    output = widgets.Output()
    box = widgets.VBox([box_text, output])
    box.figure = None

    def search(caption: str) -> go.Figure | None:
        with output:
            output.clear_output(wait=True)
            if not caption.strip():
                print("type a caption and press Enter")
                return None
            query = embed_captions(model, tokenizer, [caption])  # (1, E)
            box.figure = caption_ranking_figure(
                [caption], query, gallery, gallery_embeddings, None, top_k_items, size, metric
            )
            show(box.figure)
        return box.figure

    def on_change(change: dict) -> None:  # Enter (or leaving the box) sets the value
        search(change["new"])

    box_text.observe(on_change, names="value")
    box.search = search
    if value:
        search(value)
    return box


def similarity_matrix_figure(
    caption_embeddings: Tensor,
    image_embeddings: Tensor,
    caption_pids: Sequence[int],
    image_pids: Sequence[int],
    title: str = "cosine similarity, captions x images",
    metric: str | Distance = "cosine",
) -> go.Figure:
    """A heat map of caption x image similarities (:func:`similarities`), both sorted by
    identity, with the identity boundaries drawn: a model that aligns the modalities shows
    bright diagonal blocks."""
    sim = similarities(caption_embeddings, image_embeddings, metric).float()  # (Q, G)
    if sim.shape != (len(caption_pids), len(image_pids)):
        raise ValueError(
            f"similarities have shape {tuple(sim.shape)}, expected ({len(caption_pids)}, "
            f"{len(image_pids)}) for the caption and image pids"
        )
    rows = np.argsort(np.asarray(caption_pids), kind="stable")
    cols = np.argsort(np.asarray(image_pids), kind="stable")
    z = sim[torch.as_tensor(rows)][:, torch.as_tensor(cols)].numpy()
    row_pids, col_pids = np.asarray(caption_pids)[rows], np.asarray(image_pids)[cols]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            colorscale="Viridis",
            customdata=np.stack(np.broadcast_arrays(row_pids[:, None], col_pids[None, :]), -1),
            hovertemplate="caption of id %{customdata[0]}, image of id %{customdata[1]}: "
            "%{z:.3f}<extra></extra>",
        )
    )
    line = {"type": "line", "line": {"color": "white", "width": 1}}
    shapes = [  # identity boundaries: between rows, then between columns
        {**line, "x0": -0.5, "x1": len(cols) - 0.5, "y0": b, "y1": b}
        for b in np.flatnonzero(np.diff(row_pids)) + 0.5
    ] + [
        {**line, "y0": -0.5, "y1": len(rows) - 0.5, "x0": b, "x1": b}
        for b in np.flatnonzero(np.diff(col_pids)) + 0.5
    ]
    figure.update_layout(
        title=title,
        shapes=shapes,
        xaxis_title="images (sorted by identity)",
        yaxis_title="captions (sorted by identity)",
        yaxis={"autorange": "reversed"},
        height=480,
        margin={"l": 60, "r": 10, "t": 50, "b": 50},
    )
    return figure
