"""Run a learner's function and the library's on the same seeded cases, and say what differs.

Every ``check_<name>(fn)`` in :mod:`reidkit.exercises` is a thin declaration over
:func:`run_check`: the cases (several seeded random inputs and the edge cases that catch the
usual slips), the library's function and the tolerance. The result is a :class:`CheckResult`
that shows as one line: a success line, or the first failing case and what differs there (a
shape, a type, an exception, or the largest difference and where it is).
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Case:
    """One input of a check: what it tests, in a few words, and the arguments. Each function
    gets its own deep copy of the arguments, so changing them in place is harmless."""

    description: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """What a check found. ``bool(result)`` is ``result.passed``; it displays as ``message``."""

    exercise: str
    passed: bool
    cases: int  # cases in the check
    message: str
    failing_case: int | None = None  # 1-based number of the first failing case

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message


def _kind(value: object) -> str:
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    return type(value).__name__


def _as_array(value: object) -> np.ndarray:
    """Tensors, arrays, numbers and (nested) lists -> a NumPy array; TypeError otherwise."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.numpy() if value.dtype == torch.bool else value.double().numpy()
    if isinstance(value, np.ndarray | numbers.Number | np.generic):
        return np.asarray(value)
    if isinstance(value, list):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"a list that is not rectangular numbers ({error})") from error
    raise TypeError(f"a {type(value).__name__}")


def _differing_numbers(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> str:
    exact = expected.dtype.kind in "biu"  # indices, labels, flags: no tolerance
    g, e = got.astype(np.float64), expected.astype(np.float64)
    nan_g, nan_e = np.isnan(g), np.isnan(e)
    if exact:
        bad = g != e
    else:
        close = np.abs(g - e) <= atol + rtol * np.abs(e)
        bad = (nan_g != nan_e) | (~close & ~nan_e & ~nan_g)
    if not bad.any():
        return ""
    difference = np.where(bad, np.nan_to_num(np.abs(g - e), nan=np.inf), 0.0)
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    got_value, expected_value = g[index], e[index]
    if g.ndim == 0:
        return f"got {got_value:.6g}, expected {expected_value:.6g}" + (
            "" if exact else f" (|difference| {abs(got_value - expected_value):.3g})"
        )
    largest = "" if exact else f"largest |difference| {difference[index]:.3g} "
    return (
        f"{int(bad.sum())} of {bad.size} values differ; {largest}at index "
        f"{tuple(int(i) for i in index)}: got {got_value:.6g}, expected {expected_value:.6g}"
    )


def describe_difference(
    got: object, expected: object, atol: float = 1e-5, rtol: float = 1e-4
) -> str:
    """An empty string when ``got`` matches ``expected`` (within ``atol + rtol * |expected|``
    for floats, exactly for integers, booleans and strings), else what differs, in words."""
    if got is None and expected is not None:
        return "your function returned None (is the stub still empty, or a `return` missing?)"
    if isinstance(expected, tuple):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {_kind(got)}"
        for number, (g, e) in enumerate(zip(got, expected)):
            difference = describe_difference(g, e, atol, rtol)
            if difference:
                return f"item {number} of the tuple: {difference}"
        return ""
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, dict) else _kind(got)
            return f"expected a dict with keys {sorted(expected)}, got {keys}"
        for key, value in expected.items():
            difference = describe_difference(got[key], value, atol, rtol)
            if difference:
                return f"[{key!r}]: {difference}"
        return ""
    if isinstance(expected, str | bool):
        return "" if got == expected else f"got {got!r}, expected {expected!r}"
    want = _as_array(expected)
    try:
        have = _as_array(got)
    except TypeError:
        return f"expected {_kind(expected)}, got {_kind(got)}"
    if have.shape != want.shape:
        size = "a number" if want.ndim == 0 else f"shape {tuple(want.shape)}"
        return f"got shape {tuple(have.shape)}, expected {size}"
    return _differing_numbers(have, want, atol, rtol)


def run_check(
    exercise: str,
    learner: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    reference_name: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> CheckResult:
    """Call ``learner`` and ``reference`` on every case; stop at the first that differs. The
    global random states of Python, NumPy and torch are the same afterwards."""
    if not callable(learner):
        return CheckResult(exercise, False, len(cases), f"✗ {exercise}: pass a function")
    with keep_random_state():
        return _first_difference(exercise, learner, reference, cases, reference_name, atol, rtol)


def _first_difference(
    exercise: str,
    learner: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    reference_name: str,
    atol: float,
    rtol: float,
) -> CheckResult:
    for number, case in enumerate(cases, start=1):
        where = f"✗ {exercise}, case {number} of {len(cases)} ({case.description})"
        expected = reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        try:
            got = learner(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            message = f"✗ {exercise}: not written yet (the stub raises NotImplementedError)"
            return CheckResult(exercise, False, len(cases), message, number)
        except Exception as error:  # noqa: BLE001 - any error of the learner's code is reported
            message = f"{where}: your function raised {type(error).__name__}: {error}"
            return CheckResult(exercise, False, len(cases), message, number)
        difference = describe_difference(got, expected, atol, rtol)
        if difference:
            return CheckResult(exercise, False, len(cases), f"{where}: {difference}", number)
    message = f"✓ {exercise}: agrees with {reference_name} on all {len(cases)} cases"
    return CheckResult(exercise, True, len(cases), message)


@contextlib.contextmanager
def keep_random_state() -> Iterator[None]:
    """Put the global random states of Python, NumPy and torch (CPU) back as they were."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])  # noqa: NPY002
        torch.set_rng_state(states[2])


def generator(seed: int) -> torch.Generator:
    """A torch generator for the cases of one check (the global RNG is left alone)."""
    return torch.Generator().manual_seed(seed)
