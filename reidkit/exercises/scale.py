"""Chapter 16 exercises: data-loader workers, a GPU time estimate and a profiler summary."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from reidkit.exercises.checking import Case, CheckResult, run_check


def check_data_workers(fn: Callable[[int, int], int]) -> CheckResult:
    """``fn(wanted, cpus)``: data-loader processes for a machine with ``cpus`` cores: at most
    ``wanted``, and at most one per core left beside the training process (never negative)."""
    from reidkit.profiles import data_workers

    cases = [
        Case("Colab: 2 cores, 4 wanted", (4, 2)),
        Case("16 cores, 4 wanted", (4, 16)),
        Case("none wanted", (0, 8)),
        Case("one core", (4, 1)),
        Case("5 cores, 8 wanted", (8, 5)),
    ]
    return run_check(
        "data_workers", fn, lambda w, c: data_workers(w, c), cases, "reidkit.profiles.data_workers"
    )


def check_training_seconds(fn: Callable[[int, float, float, float], float]) -> CheckResult:
    """``fn(steps, flops_per_step, sustained_tflops, step_overhead_s)``: the estimated seconds
    of ``steps`` steps, each its FLOPs at the sustained rate (TFLOP/s) plus the overhead."""
    from reidkit.train.cost import training_seconds

    cases = [
        Case("chapter 4 full on a T4", (2214, 1.12e12, 15.0, 0.03)),
        Case("the same on an H100", (2214, 1.12e12, 150.0, 0.01)),
        Case("no overhead", (100, 5e11, 10.0, 0.0)),
        Case("no steps", (0, 1e12, 15.0, 0.03)),
    ]
    return run_check(
        "training_seconds", fn, training_seconds, cases, "reidkit.train.cost.training_seconds"
    )


def _events(times_us: list[tuple[str, float]]) -> list[SimpleNamespace]:
    """Stand-ins for ``prof.key_averages()`` entries: a name and a self CPU time (us)."""
    return [
        SimpleNamespace(key=key, self_cpu_time_total=us, self_device_time_total=0.0)
        for key, us in times_us
    ]


def check_top_operations(fn: Callable[[list, int], list]) -> CheckResult:
    """``fn(events, top)``: from profiler events (``.key``, ``.self_cpu_time_total`` in
    microseconds) the ``top`` operators by self time as ``(name, milliseconds)``, largest
    first, leaving out operators that took no time, then ``("other (N operators)", ms)`` for
    the N others when there are any."""
    from reidkit.viz.profiler import top_operations

    step = [("aten::addmm", 9000.0), ("aten::mm", 4000.0), ("aten::gelu", 1500.0)]
    step += [("aten::add_", 700.0), ("aten::copy_", 0.0), ("aten::softmax", 1200.0)]
    cases = [
        Case("a training step, top 3", (_events(step), 3)),
        Case("top larger than the list", (_events(step), 10)),
        Case("top 1", (_events(step), 1)),
        Case("unsorted", (_events([("b", 500.0), ("a", 2000.0), ("c", 800.0)]), 2)),
    ]
    return run_check(
        "top_operations",
        fn,
        lambda events, top: tuple(top_operations(events, top)[0]),  # ((name, ms), ...)
        cases,
        "reidkit.viz.profiler.top_operations",
    )
