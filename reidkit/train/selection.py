"""Model selection on a validation split: keep the best epoch's weights, test it once.

When training evaluates on ``eval.split: val``, every evaluation offers its metrics to a
:class:`BestEpoch`; the epoch with the best ``eval.select`` metric (ties keep the earlier one)
has its weights written to ``checkpoints/best-epoch-XXXX.safetensors`` and named by
``checkpoints/best.json``, which ``reidkit eval RUN`` then evaluates. After the last epoch the
trainer loads those weights and evaluates the test split once (chapter 2: select on
validation, report test once).

Crash safety: the weights are written before the pointer (both atomically), and the selection
is part of every checkpoint's state, so a resumed run knows which epoch it had selected; a
selected file is deleted only when neither the pointer nor the newest checkpoint names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_model
from torch import nn

from reidkit.train.checkpoint import atomic_write

BEST_POINTER = "best.json"


class BestEpoch:
    """The best validation epoch so far: ``{"epoch", "metric", "value", "file"}`` or None."""

    def __init__(self, folder: str | Path, metric: str, metadata: dict[str, str]) -> None:
        self.folder = Path(folder)
        self.metric = metric
        self.metadata = metadata
        self.best: dict[str, Any] | None = None
        self.saved: dict[str, Any] | None = None  # what the newest checkpoint holds

    def offer(self, model: nn.Module, epoch: int, metrics: dict[str, float]) -> bool:
        """Keep ``model``'s weights if ``metrics`` beat the best so far; True if kept."""
        if self.metric not in metrics:
            raise KeyError(
                f"eval.select: {self.metric!r} is not one of the metrics {sorted(metrics)}"
            )
        value = float(metrics[self.metric])
        if self.best is not None and value <= self.best["value"]:
            return False
        file = f"best-epoch-{epoch:04d}.safetensors"
        atomic_write(
            self.folder / file, lambda p: save_model(model, str(p), metadata=self.metadata)
        )
        self.best = {"epoch": epoch, "metric": self.metric, "value": value, "file": file}
        self._write_pointer()
        self._prune()
        return True

    @property
    def weights(self) -> Path:
        if self.best is None:
            raise RuntimeError("no validation result to select a model on: evaluate first")
        return self.folder / self.best["file"]

    def state_dict(self) -> dict[str, Any] | None:
        return None if self.best is None else dict(self.best)

    def saved_with_checkpoint(self) -> None:
        """The newest checkpoint now holds the current selection."""
        self.saved = self.best
        self._prune()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """The selection a checkpoint held (the pointer is rewritten to match it)."""
        self.best = self.saved = state
        self._write_pointer()

    def _write_pointer(self) -> None:
        pointer = self.folder / BEST_POINTER
        if self.best is None:
            pointer.unlink(missing_ok=True)
            return
        text = json.dumps(self.best)
        atomic_write(pointer, lambda p: p.write_text(text, encoding="utf-8"))

    def _prune(self) -> None:
        keep = {b["file"] for b in (self.best, self.saved) if b is not None}
        for path in self.folder.glob("best-epoch-*.safetensors"):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def selected_weights(folder: str | Path) -> Path | None:
    """The weights ``best.json`` in ``folder`` names, or None when there is no selection."""
    pointer = Path(folder) / BEST_POINTER
    if not pointer.is_file():
        return None
    try:
        entry = json.loads(pointer.read_text(encoding="utf-8"))
        weights = Path(folder) / entry["file"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{pointer}: not a model-selection pointer ({error})") from None
    if not weights.is_file():
        raise FileNotFoundError(f"{pointer} names {weights.name}, which is missing")
    return weights


def final_record(history: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's reported result: the test evaluation of the model selected on validation when
    the log has one, else the last evaluation (a ValueError when there is neither)."""
    tests = [r for r in history if r.get("kind") == "test"]
    evals = [r for r in history if r.get("kind") == "eval"]
    if not (tests or evals):
        raise ValueError("the run logged no evaluation")
    return (tests or evals)[-1]
