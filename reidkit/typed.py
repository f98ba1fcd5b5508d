"""Typed dataclasses from plain data (YAML, JSON), with errors that name the key.

Configurations are dataclasses; a YAML file is nested mappings of their fields. ``build``
checks every key and value against the annotations (``int``, ``float``, ``str``, ``bool``,
``X | None``, ``tuple[...]``, ``list[X]``, ``dict[str, X]``, ``Literal[...]`` and nested
dataclasses) and every range declared with :func:`bounded`, so a typo or a bad value stops with
a message such as ``optim.lr: must be > 0, got -1.0`` instead of training something else.

    @dataclass
    class OptimConfig(Checked):
        lr: float = bounded(1e-3, gt=0)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union


def bounded(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A dataclass field with a default and a range that :class:`Checked` enforces."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return dataclasses.field(default=default, metadata={"bounds": bounds})


_TESTS = {
    "ge": (lambda v, b: v >= b, ">="),
    "gt": (lambda v, b: v > b, ">"),
    "le": (lambda v, b: v <= b, "<="),
    "lt": (lambda v, b: v < b, "<"),
}


class Checked:
    """Mixin: ``__post_init__`` checks the ranges of fields declared with :func:`bounded`
    (``None`` passes: optional fields are checked only when set)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or isinstance(value, bool):
                continue
            values = value if isinstance(value, tuple) else (value,)
            for name, bound in f.metadata.get("bounds", {}).items():
                test, sign = _TESTS[name]
                if not all(test(v, bound) for v in values):
                    raise ValueError(f"{f.name}: must be {sign} {bound}, got {value!r}")


def type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _convert_union(value: Any, hint: Any, key: str) -> Any:
    options = typing.get_args(hint)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return convert(value, option, key)
        except (TypeError, ValueError):
            continue
    raise TypeError(f"{key}: expected {type_name(hint)}, got {value!r}")


def _convert_scalar(value: Any, hint: type, key: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{key}: expected bool (true/false), got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key}: expected int, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise TypeError(f"{key}: expected float, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{key}: expected float, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{key}: expected str, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported annotation {hint!r}")


def convert(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against (and lightly converted to) the annotation ``hint``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _convert_union(value, hint, key)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ValueError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"{key}: expected a mapping of {hint.__name__} fields, got {value!r}")
        return build(hint, value, key)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * (len(value) if isinstance(value, (list, tuple)) else 0)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise TypeError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{key}: expected a list, got {value!r}")
        return [convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_type, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError(f"{key}: expected a mapping, got {value!r}")
        return {
            convert(k, key_type, f"{key} key"): convert(v, item, f"{key}.{k}")
            for k, v in value.items()
        }
    return _convert_scalar(value, hint, key)


def build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """An instance of the dataclass ``cls`` from a mapping; missing keys keep their defaults.

    Errors name the key with its whole path (``prefix.key``)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            raise ValueError(f"{name}: unknown key; expected one of {sorted(known)}")
        kwargs[key] = convert(value, hints[key], name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        if prefix and not str(error).startswith(prefix):
            raise type(error)(f"{prefix}.{error}") from None
        raise


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts, lists and scalars (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def merge(base: dict[str, Any], changes: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``base`` with ``changes`` applied: nested mappings merge key by key, and a dotted key
    (``"optim.lr"``) reaches into nested mappings. Neither argument is modified."""
    out = dict(base)
    for key, value in changes.items():
        head, _, rest = str(key).partition(".")
        where = f"{prefix}.{head}" if prefix else head
        if rest:
            value = {rest: value}
        if isinstance(value, dict) and isinstance(out.get(head), dict):
            out[head] = merge(out[head], value, where)
        else:
            out[head] = value
    return out
