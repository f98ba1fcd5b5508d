"""The demo: synthetic data -> baseline training in the current profile -> SYSU-MM01 protocol
evaluation -> a small report folder (metrics as JSON and Markdown, figures as one HTML page).

The raw-pixel baseline of chapter 1 is evaluated with exactly the same protocol, gallery
samplings and data, so the two rows of the table compare like with like.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from reidkit.models.raw_pixels import RawPixels
from reidkit.profiles import Profile, get_profile
from reidkit.train.config import TrainConfig, config_from_profile
from reidkit.train.run import Prepared, prepare, train
from reidkit.train.selection import final_record
from reidkit.utils import runs_dir
from reidkit.viz.training import loss_curve_figure

METRIC_KEYS = ("R1", "R5", "R10", "mAP", "mINP")


@dataclass
class DemoResult:
    out_dir: Path
    profile: str
    seconds: float
    metrics: dict[str, float]  # the trained baseline, IR -> visible, all-search, single-shot
    raw_pixels: dict[str, float]  # chapter 1's raw-pixel retrieval, same protocol and data
    files: dict[str, Path] = field(default_factory=dict)


def metrics_markdown(rows: dict[str, dict[str, float]], caption: str) -> str:
    """A Markdown table: one row per method, metrics in percent."""
    header = "| method | " + " | ".join(METRIC_KEYS) + " |"
    rule = "|---|" + "---:|" * len(METRIC_KEYS)
    lines = [caption, "", header, rule]
    for name, metrics in rows.items():
        lines.append(
            f"| {name} | " + " | ".join(f"{100 * metrics[k]:.1f}" for k in METRIC_KEYS) + " |"
        )
    return "\n".join(lines) + "\n"


def ranked_list_figure(model: Any, prepared: Prepared, config: TrainConfig) -> go.Figure | None:
    """The evaluation helper's ranked-list view for a few infrared queries, when available."""
    try:
        from reidkit.viz.ranking import ranked_list_figure as build
    except ImportError:
        return None
    from reidkit.eval.distance import pairwise_distance
    from reidkit.train.evaluation import model_extractor

    dataset, setting = prepared.dataset, config.eval.setting
    query = dataset.query(setting, split="test")
    gallery = dataset.gallery(setting, trial=0, seed=config.eval.seed, split="test")
    extract = model_extractor(model, config.data.img_size, config.eval.batch_size)
    distances = pairwise_distance(extract(query), extract(gallery), "cosine")
    return build(distances, query, gallery, protocol=dataset.protocol)


def write_html(path: Path, title: str, figures: list[go.Figure], intro: str) -> None:
    """One standalone page: plotly.js inlined once, then each figure."""
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family:sans-serif;max-width:1100px;margin:auto'>"
        f"<h1>{title}</h1>{intro}{''.join(parts)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")


def run_demo(
    profile: Profile | str | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> DemoResult:
    """The whole demo; returns the metrics and the report's files."""
    start = time.perf_counter()
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    out = Path(out_dir) if out_dir else runs_dir() / f"demo-{profile.name}"
    config = config_from_profile(profile, out_dir=str(out))
    print(f"[demo] profile {profile.name}: {profile.description}")
    prepared = prepare(config)
    print(f"[demo] data: {prepared.dataset}")
    raw = prepared.evaluate_test(RawPixels())
    print(
        f"[demo] raw pixels, IR->visible all-search: rank-1 {raw['R1']:.1%}, mAP {raw['mAP']:.1%}"
    )
    backbone = config.options.model.backbone
    print(
        f"[demo] training {backbone} for {config.epochs} epochs on "
        f"{prepared.num_classes} identities ({len(prepared.records)} images)"
    )
    trainer, history = train(config, resume=resume, progress=progress, prepared=prepared)
    final = final_record(history)
    metrics = {k: final[k] for k in METRIC_KEYS}
    seconds = time.perf_counter() - start

    result = DemoResult(out, profile.name, seconds, metrics, raw)
    rows = {f"baseline ({backbone})": metrics, "raw pixels (chapter 1)": raw}
    selected = (
        f" Model of epoch {final['epoch']}, selected by {final['selected_by']}."
        if "selected_by" in final
        else ""
    )
    caption = (
        f"SYSU-MM01 protocol on synthetic data (test split), infrared -> visible, all-search, "
        f"single-shot, mean of {config.eval.trials} trials; profile {profile.name}.{selected}"
    )
    table = metrics_markdown(rows, caption)
    result.files["markdown"] = out / "metrics.md"
    result.files["markdown"].write_text(table, encoding="utf-8")
    summary = {
        "profile": profile.name,
        "seconds": round(seconds, 1),
        "protocol": {
            "dataset": "synthetic SYSU-MM01 layout",
            "direction": "IR->visible",
            "mode": config.eval.setting or prepared.dataset.default_setting,
            "shot": "single",
            "trials": config.eval.trials,
        },
        "baseline": metrics,
        "selected_epoch": final["epoch"],
        "selected_by": final.get("selected_by", "the last epoch"),
        "raw_pixels": raw,
        "config": config.to_dict(),
    }
    result.files["json"] = out / "metrics.json"
    result.files["json"].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    figures = [loss_curve_figure(history, "Baseline training")]
    ranking = ranked_list_figure(trainer.model, prepared, config)
    if ranking is not None:
        figures.append(ranking)
    result.files["html"] = out / "report.html"
    intro = "<pre>" + table + f"\nwall-clock time {seconds:.0f} s</pre>"
    write_html(result.files["html"], f"reidkit demo ({profile.name})", figures, intro)
    return result
