"""Checkpoints that a crash cannot corrupt, and that load without unpickling code.

A checkpoint of epoch ``e`` is two files in ``<run>/checkpoints/``:

* ``epoch-XXXX.safetensors`` - the model weights, with the training configuration and the
  number of classes in the file's metadata (enough for ``reidkit eval`` to rebuild the model);
* ``epoch-XXXX.state.pt`` - optimizer, scheduler, grad-scaler and sampler state, the RNG states
  and the epoch, saved with ``torch.save`` and read back with ``torch.load(weights_only=True)``.

Each file is written to a temporary name and renamed into place (``os.replace`` is atomic), and
only then is ``latest.json`` (itself written the same way) pointed at the pair. A crash at any
moment leaves the previous complete checkpoint as the one that ``latest.json`` names.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

LATEST = "latest.json"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, flush it to disk, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors and plain values (weights_only-safe)."""
    version, python_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - the global RNG is what we save
    state: dict[str, Any] = {
        "python": [version, list(python_state), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy().astype(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: str | Path,
    epoch: int,
    model: nn.Module,
    state: dict[str, Any],
    metadata: dict[str, str] | None = None,
    keep: int = 2,
) -> Path:
    """Write the weights and ``state`` of ``epoch``, point ``latest.json`` at them, and delete
    all but the ``keep`` newest checkpoints. Returns the weights file."""
    folder = Path(folder)
    stem = f"epoch-{epoch:04d}"
    weights, extra = folder / f"{stem}.safetensors", folder / f"{stem}.state.pt"
    meta = {"epoch": str(epoch), **(metadata or {})}
    atomic_write(weights, lambda p: save_model(model, str(p), metadata=meta))
    atomic_write(extra, lambda p: torch.save({**state, "epoch": epoch}, p))
    pointer = json.dumps({"epoch": epoch, "weights": weights.name, "state": extra.name})
    atomic_write(folder / LATEST, lambda p: p.write_text(pointer, encoding="utf-8"))
    old = sorted(folder.glob("epoch-*.safetensors"))[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
        path.with_name(path.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)
    return weights


def latest_checkpoint(folder: str | Path) -> tuple[Path, Path] | None:
    """(weights, state) of the newest complete checkpoint in ``folder``, or None."""
    folder = Path(folder)
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    try:
        entry = json.loads(pointer.read_text(encoding="utf-8"))
        weights, state = folder / entry["weights"], folder / entry["state"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{pointer}: not a checkpoint pointer (expected JSON with 'weights' and 'state'): "
            f"{error}"
        ) from None
    for path in (weights, state):
        if not path.is_file():
            raise FileNotFoundError(f"{pointer} names {path.name}, which is missing")
    return weights, state


def read_metadata(weights: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors file."""
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({error})") from None


def load_weights(model: nn.Module, weights: str | Path, device: str | torch.device = "cpu") -> None:
    """Load a safetensors file into ``model`` strictly (every key must match)."""
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(device))
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {weights}") from None
    except Exception as error:  # a damaged or foreign file
        if isinstance(error, RuntimeError) and "size mismatch" in str(error):
            raise ValueError(f"{weights}: weights do not fit the model: {error}") from None
        raise ValueError(f"{weights}: not a readable safetensors checkpoint ({error})") from None
    # a module used twice (CSET's shared streams) has two names for one tensor; safetensors
    # keeps one per shared tensor but misses 0-d buffers (BatchNorm's num_batches_tracked) and
    # reports their second name: a name the model has is loaded, not unexpected
    unexpected = set(unexpected) - set(model.state_dict())
    if missing or unexpected:
        raise ValueError(
            f"{weights}: weights do not fit the model (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )


def load_state(path: str | Path) -> dict[str, Any]:
    """The non-weight state, read with ``torch.load(weights_only=True)``: no code runs."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"training state not found: {path}") from None
    except Exception as error:  # truncated, damaged, or holding objects that need unpickling
        raise ValueError(f"{path}: not a readable training state ({error})") from None
