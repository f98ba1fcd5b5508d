"""Where the time of a training step goes: a ``torch.profiler`` summary as a bar chart.

``top_operations`` reads ``prof.key_averages()`` (``reidkit.train.measure.profile_train_steps``
makes one): each operator's *self* time, i.e. excluding the operators it calls, so that the
bars add up to the total without counting anything twice. On a GPU the device time is used,
on a CPU the CPU time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go


def _self_time_us(event: Any, device: bool) -> float:
    if device:  # torch >= 2.4 names it self_device_time_total, older ones self_cuda_time_total
        return float(
            getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0))
        )
    return float(event.self_cpu_time_total)


def top_operations(events: Iterable[Any], top: int = 12) -> tuple[list[tuple[str, float]], str]:
    """The ``top`` operators by self time in milliseconds, then ``"other"`` with the rest:
    ``([(name, ms), ...], "GPU" or "CPU")``. Largest first; the sum is the total time."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    events = list(events)
    if not events:
        raise ValueError("no profiler events: was anything run inside the profiler?")
    device = any(_self_time_us(e, device=True) > 0 for e in events)
    times = sorted(
        ((e.key, _self_time_us(e, device) / 1000.0) for e in events),
        key=lambda item: item[1],
        reverse=True,
    )
    times = [(name, ms) for name, ms in times if ms > 0]
    head, rest = times[:top], times[top:]
    if rest:
        head.append((f"other ({len(rest)} operators)", sum(ms for _, ms in rest)))
    return head, "GPU" if device else "CPU"


def profiler_figure(events: Iterable[Any], top: int = 12, title: str | None = None) -> go.Figure:
    """Horizontal bars of the ``top`` operators' self time (ms) with their share of the total."""
    rows, clock = top_operations(events, top)
    total = sum(ms for _, ms in rows)
    names = [name for name, _ in rows][::-1]  # largest at the top
    values = [ms for _, ms in rows][::-1]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            text=[f"{ms:.1f} ms ({ms / total:.0%})" for ms in values],
            textposition="auto",
        )
    )
    figure.update_layout(
        title=title or f"Where the time goes: self {clock} time, {total:.0f} ms in all",
        xaxis_title=f"self {clock} time (ms)",
        height=120 + 28 * len(rows),
        margin={"l": 10, "r": 10, "t": 60, "b": 40},
    )
    figure.update_yaxes(automargin=True)
    return figure
