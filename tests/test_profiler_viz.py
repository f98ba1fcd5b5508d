"""Chapter 16's profiler summary: top operators by self time, and a training-step trace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from reidkit.viz.profiler import profiler_figure, top_operations


def event(key: str, cpu_us: float, device_us: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(key=key, self_cpu_time_total=cpu_us, self_device_time_total=device_us)


def test_top_operations_sorts_keeps_the_total_and_prefers_device_time() -> None:
    events = [event("a", 1000), event("b", 5000), event("c", 0), event("d", 2000), event("e", 500)]
    rows, clock = top_operations(events, top=2)
    assert clock == "CPU"
    assert rows == [("b", 5.0), ("d", 2.0), ("other (2 operators)", 1.5)]  # "c" took no time
    assert top_operations(events, top=10)[0][-1] == ("e", 0.5)  # nothing left for "other"
    gpu = [event("x", 9000, 100), event("y", 10, 3000)]
    assert top_operations(gpu) == ([("y", 3.0), ("x", 0.1)], "GPU")
    with pytest.raises(ValueError, match="no profiler events"):
        top_operations([])
    with pytest.raises(ValueError, match="top must be at least 1"):
        top_operations(events, top=0)


def test_profiler_figure_on_a_real_trace() -> None:
    from torch.profiler import profile

    a = torch.randn(128, 128)
    with profile() as prof:
        for _ in range(3):
            (a @ a).relu().sum()
    rows, clock = top_operations(prof.key_averages(), top=3)
    assert clock == "CPU" and any("mm" in name for name, _ in rows)
    fig = profiler_figure(prof.key_averages(), top=3)
    bars = fig.data[0]
    assert list(bars.y) == [name for name, _ in rows][::-1]
    assert sum(bars.x) == pytest.approx(sum(ms for _, ms in rows))
    assert "self CPU time" in fig.layout.title.text


def test_profile_train_steps_records_the_steps_of_a_real_trainer(tmp_path) -> None:
    from reidkit.profiles import get_profile
    from reidkit.train import config_from_profile
    from reidkit.train.measure import profile_train_steps
    from reidkit.train.run import build_trainer, prepare

    config = config_from_profile(get_profile("smoke"), out_dir=str(tmp_path))
    trainer = build_trainer(config, prepare(config), progress=False)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    events = profile_train_steps(trainer, steps=2, warmup=1)
    names = {e.key for e in events}
    assert "Optimizer.step#AdamW.step" in names or any("adamw" in n.lower() for n in names)
    assert any("addmm" in n or "linear" in n for n in names)  # the transformer's layers
    changed = [not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters())]
    assert any(changed)  # the steps really trained
    rows, clock = top_operations(events, top=5)
    assert clock == "CPU" and len(rows) == 6
