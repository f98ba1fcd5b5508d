"""Ablation specs: parsing and checking a spec, and planning its runs (rows x seeds).

The spec format is described in ``reidkit.train.ablate``; every row's configuration is built
and checked here, before anything trains, and errors name the spec file, the row and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from reidkit.profiles import get_profile
from reidkit.train.config import (
    TrainConfig,
    config_from_dict,
    config_from_profile,
    load_config,
    read_yaml,
    with_overrides,
)
from reidkit.typed import Checked, bounded, build, merge
from reidkit.utils import runs_dir

RESULTS = "results.jsonl"
SPEC_COPY = "spec.json"
SET_BY_RUNNER = ("seed", "out_dir", "name")  # a row may not override these
DEFAULT_METRICS = ["R1", "mAP"]
BUNDLED_SPECS = "configs/ablations"  # inside the package: specs the chapters load


class AblationError(ValueError):
    """A spec, a results file or a run folder that the runner cannot use as it is."""


@dataclass
class TimingOptions(Checked):
    batch_sizes: tuple[int, ...] = bounded((1, 64), ge=1)
    warmup: int = bounded(2, ge=0)  # untimed calls first
    repeats: int = bounded(5, ge=1)  # the median of these is reported


@dataclass
class PaperNumbers(Checked):
    source: str  # e.g. "Seed 002, Table 3 (SYSU-MM01 all-search)"
    rows: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> column -> value


@dataclass
class SpecFile(Checked):
    """The keys a spec file may have (see the module's docstring)."""

    base: str | dict[str, Any]
    rows: Any
    seeds: list[int]
    name: str | None = None
    method: str | None = None  # with a profile base: the method it configures (else baseline)
    overrides: dict[str, Any] = field(default_factory=dict)  # changes to the base, every row
    out: str | None = None
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    paper: PaperNumbers | None = None
    timing: TimingOptions = field(default_factory=TimingOptions)


@dataclass(frozen=True)
class Row:
    name: str
    slug: str  # its folder's name
    overrides: dict[str, Any]
    config: TrainConfig  # base + overrides (seed, name and out_dir still the base's)


@dataclass
class AblationSpec:
    name: str
    base: TrainConfig
    rows: list[Row]
    seeds: list[int]
    out: Path
    metrics: list[str]
    paper: PaperNumbers | None
    timing: TimingOptions


@dataclass(frozen=True)
class Run:
    row: Row
    seed: int
    config: TrainConfig  # the row's, with this seed and folder
    folder: Path
    config_hash: str


# ---- the spec ----------------------------------------------------------------------------
def first_repeated_key(text: str) -> tuple[str, int] | None:
    """The first key given twice in one mapping of a YAML text, with its line; or None.
    (YAML loaders keep the last value silently; a row named twice must be an error.)"""
    import yaml

    nodes = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in seen:
                    return key.value, key.start_mark.line + 1
                seen.add(getattr(key, "value", None))
                nodes.append(value)
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
    return None


def read_spec_yaml(path: Path) -> dict[str, Any]:
    """The spec file as a mapping; a key given twice (e.g. a row name) is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"ablation spec not found: {path}")
    values = read_yaml(path)  # its errors name the file
    repeated = first_repeated_key(path.read_text(encoding="utf-8"))
    if repeated:
        raise AblationError(f"{path}, line {repeated[1]}: key {repeated[0]!r} given twice")
    return values


def slugify(name: str) -> str:
    """A folder name for a row: ``"no triplet"`` -> ``no-triplet``, ``"+TA"`` -> ``plus-ta``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("+", " plus ")).strip("-")
    return slug or "row"


def row_entries(rows: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, overrides) of each row, from the list form or the mapping form."""
    if isinstance(rows, dict):
        rows = [{"name": k, "overrides": v} for k, v in rows.items()]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"rows: expected a non-empty list of {{name, overrides}}, got {rows!r}")
    entries = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not set(row) <= {"name", "overrides"} or "name" not in row:
            raise ValueError(f"rows[{i}]: expected {{name: ..., overrides: {{...}}}}, got {row!r}")
        name, overrides = row["name"], row.get("overrides") or {}
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"rows[{i}].name: expected a non-empty string, got {name!r}")
        if not isinstance(overrides, dict):
            raise ValueError(f"rows[{i}] {name!r}: overrides must be a mapping, got {overrides!r}")
        entries.append((name, overrides))
    return entries


def row_config(base: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``base`` with a row's overrides; a new ``method`` replaces the base's method section."""
    values = base.to_dict()
    if overrides.get("method", base.method) != base.method:
        values.pop(base.method)
    return config_from_dict(merge(values, overrides))


def build_rows(
    base: TrainConfig, rows: Any, base_for: Callable[[str], TrainConfig] | None = None
) -> list[Row]:
    """Each row's configuration: ``base`` with its overrides. A row that sets another method
    starts from ``base_for(method)`` where it is given (a profile base: that method's sizes for
    the profile), else from ``base`` with that method's defaults."""
    built: list[Row] = []
    for i, (name, overrides) in enumerate(row_entries(rows)):
        where = f"rows[{i}] {name!r}"
        taken = [str(k).split(".")[0] for k in overrides if str(k).split(".")[0] in SET_BY_RUNNER]
        if taken:
            raise ValueError(f"{where}: {taken[0]} is set by the runner (seeds, out); remove it")
        for other in built:
            if name == other.name or slugify(name) == other.slug:
                raise ValueError(f"{where}: same name or folder as row {other.name!r}")
        try:
            method = overrides.get("method", base.method)
            if method != base.method and base_for is not None:
                config = row_config(base_for(method), overrides)
            else:
                config = row_config(base, overrides)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        built.append(Row(name, slugify(name), dict(overrides), config))
    return built


def is_profile_base(base: str | dict[str, Any]) -> bool:
    return isinstance(base, str) and base.split(":")[0] == "profile"


def base_config(
    base: str | dict[str, Any],
    folder: Path,
    method: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """The spec's ``base``: ``profile[:NAME]`` (configuring ``method``, default the baseline),
    a file relative to ``folder``, or a mapping; then the spec's ``overrides``."""
    if method is not None and not is_profile_base(base):
        raise ValueError("method: only a profile base takes it (a file or mapping names its own)")
    if isinstance(base, str) and not is_profile_base(base):
        config = load_config(folder / base)  # its errors name the file
    else:
        try:
            if isinstance(base, str):
                profile = get_profile(base.partition(":")[2] or None)
                config = config_from_profile(profile, method=method or "baseline")
            else:
                config = config_from_dict(base)
        except (TypeError, ValueError) as error:
            where = "base: " if isinstance(base, str) else "base."
            raise type(error)(f"{where}{error}") from None
    if not overrides:
        return config
    try:
        return with_overrides(config, overrides)
    except (TypeError, ValueError) as error:
        raise type(error)(f"overrides: {error}") from None


def check_spec(spec: SpecFile) -> None:
    if not spec.seeds or len(set(spec.seeds)) != len(spec.seeds) or min(spec.seeds) < 0:
        raise ValueError(f"seeds: expected distinct seeds >= 0 (at least one), got {spec.seeds}")
    if not spec.metrics or len(set(spec.metrics)) != len(spec.metrics):
        raise ValueError(f"metrics: expected distinct metric names, got {spec.metrics}")
    if spec.paper is not None and not spec.paper.source.strip():
        raise ValueError("paper.source: name where the numbers come from (paper, table)")


def parse_spec(
    values: dict[str, Any], folder: str | Path = ".", name: str = "ablation", out: str | None = None
) -> AblationSpec:
    """A checked :class:`AblationSpec` from a spec's mapping; ``folder`` resolves ``base``."""
    missing = [k for k in ("base", "rows", "seeds") if k not in values]
    if missing:
        raise ValueError(f"{missing[0]}: missing; a spec needs base, rows and seeds")
    spec = build(SpecFile, values)
    check_spec(spec)
    base = base_config(spec.base, Path(folder), spec.method, spec.overrides)
    base_for = None
    if is_profile_base(spec.base):  # a row's other method gets its own profile sizes

        def base_for(method: str) -> TrainConfig:
            return base_config(spec.base, Path(folder), method, spec.overrides)

    rows = build_rows(base, spec.rows, base_for)
    if spec.paper is not None:
        unknown = sorted(set(spec.paper.rows) - {r.name for r in rows})
        if unknown:
            names = [r.name for r in rows]
            raise ValueError(f"paper.rows.{unknown[0]}: not a row of this spec; rows: {names}")
    spec_name = spec.name or name
    target = Path(out or spec.out or runs_dir() / "ablations" / slugify(spec_name))
    return AblationSpec(
        spec_name, base, rows, spec.seeds, target, spec.metrics, spec.paper, spec.timing
    )


def load_spec(path: str | Path, out: str | None = None) -> AblationSpec:
    """Read and check a spec file; every error names the file and the key (or row)."""
    path = Path(path)
    values = read_spec_yaml(path)
    try:
        return parse_spec(values, path.parent, path.stem, out)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise AblationError(f"{path}: {error}") from None


def bundled_specs() -> list[str]:
    """Names of the ablation specs shipped inside the package (``reidkit/configs/ablations``;
    the repository's ``configs/ablations/`` links to the same files)."""
    folder = resources.files("reidkit") / BUNDLED_SPECS
    names = [f.name for f in folder.iterdir()]
    return sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))


def load_bundled_spec(name: str, out: str | None = None) -> AblationSpec:
    """:func:`load_spec` of a spec shipped with the package, by name (e.g. ``"fused_table4"``),
    so that a chapter finds it after ``pip install reidkit`` as well as in a clone."""
    known = bundled_specs()
    if name not in known:
        raise AblationError(f"no bundled ablation spec {name!r}; the package ships {known}")
    with resources.as_file(resources.files("reidkit") / BUNDLED_SPECS / f"{name}.yaml") as path:
        return load_spec(path, out)


# ---- runs and their results ---------------------------------------------------------------
def values_hash(values: dict[str, Any]) -> str:
    """A short hash of a configuration's YAML form, without ``name`` and ``out_dir``."""
    kept = {k: v for k, v in values.items() if k not in ("name", "out_dir")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def plan_runs(
    spec: AblationSpec, rows: Sequence[str] | None = None, seeds: Sequence[int] | None = None
) -> list[Run]:
    """The grid (rows × seeds, row by row), or the part that ``rows`` / ``seeds`` select."""
    names = [r.name for r in spec.rows]
    for wanted, known, what in ((rows, names, "row"), (seeds, spec.seeds, "seed")):
        unknown = [w for w in wanted or () if w not in known]
        if unknown:
            raise AblationError(f"no {what} {unknown[0]!r} in the spec; it has {known}")
    runs = []
    for row in spec.rows:
        for seed in spec.seeds:
            if (rows and row.name not in rows) or (seeds and seed not in seeds):
                continue
            folder = spec.out / row.slug / f"seed-{seed}"
            change = {"seed": seed, "out_dir": str(folder), "name": f"{spec.name}/{row.slug}"}
            config = row_config(row.config, change)
            runs.append(Run(row, seed, config, folder, values_hash(config.to_dict())))
    return runs
