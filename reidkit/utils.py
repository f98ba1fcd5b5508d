"""Small shared helpers: seeding, devices, cache folders and the environment report."""

from __future__ import annotations

import importlib
import os
import platform
import random
import sys
from pathlib import Path

import numpy as np
import torch

CACHE_ENV = "REIDKIT_CACHE"
RUNS_ENV = "REIDKIT_RUNS"
DATASETS_ENV = "REIDKIT_DATASETS"
REPO_ROOT = Path(__file__).resolve().parent.parent


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so that a run can be repeated."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code that uses the global NumPy RNG
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given, else CUDA when available, else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _in_repo_checkout() -> bool:
    pyproject = REPO_ROOT / "pyproject.toml"
    return pyproject.is_file() and 'name = "reidkit"' in pyproject.read_text(encoding="utf-8")


def cache_dir() -> Path:
    """Where generated data lives: ``$REIDKIT_CACHE``, else ``data/cache`` in a repository
    checkout (git-ignored), else ``~/.cache/reidkit``. The folder is created on demand."""
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV]).expanduser()
    elif _in_repo_checkout():
        path = REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "reidkit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Where training runs and reports go: ``$REIDKIT_RUNS``, else ``runs`` at the top of a
    repository checkout (git-ignored), else ``runs`` in the current folder. Not created here."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    return REPO_ROOT / "runs" if _in_repo_checkout() else Path("runs")


def datasets_dir() -> Path | None:
    """The folder holding real datasets (``$REIDKIT_DATASETS``), or None when unset."""
    value = os.environ.get(DATASETS_ENV)
    return Path(value).expanduser() if value else None


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception as error:  # noqa: BLE001 - a report lists what fails to import
        return f"not importable ({type(error).__name__}: {error})"


def cpu_model() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``, else :func:`platform.processor`): CPUs
    differ in speed and in their bf16 kernels, so a run's timings (and, in bf16, its numbers)
    belong to the CPU that measured them."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def environment_report() -> dict[str, str]:
    """Versions, device, profile and folders: what ``reidkit info`` prints."""
    import reidkit
    from reidkit.profiles import get_profile

    device = get_device()
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else "none"
    profile = get_profile()
    report = {
        "reidkit": reidkit.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for module in ("torch", "torchvision", "timm", "transformers", "plotly", "ipywidgets"):
        report[module] = _version(module)
    report.update(
        {
            "device": device.type,
            "gpu": gpu,
            "cpu": f"{cpu_model()}, {torch.get_num_threads()} threads for torch",
            "profile": f"{profile.name} ({profile.description})",
            "data cache": str(cache_dir()),
            "real datasets": str(datasets_dir() or f"not set (export {DATASETS_ENV}=/path)"),
        }
    )
    return report


def format_report(report: dict[str, str]) -> str:
    width = max(len(key) for key in report)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in report.items())
