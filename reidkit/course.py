"""The chapter map of the course: parts, chapters, source papers and notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    part: str
    seed: str  # the source paper in shared/seeds ("" for foundations)
    notebook: str  # file name under notebooks/

    @property
    def available(self) -> bool:
        """True when the chapter's notebook exists in this checkout."""
        return (NOTEBOOKS / self.notebook).is_file()


PARTS = (
    "I Foundations",
    "II Fused attention",
    "III Similarity exchange",
    "IV Text to image",
    "V Visible-X-ray packages",
    "VI Real data at scale",
)

CHAPTERS = (
    Chapter(0, "Start here", PARTS[0], "", "00_start_here.ipynb"),
    Chapter(1, "Cross-modal re-id and the synthetic data", PARTS[0], "", "01_synthetic_data.ipynb"),
    Chapter(2, "Evaluation protocols", PARTS[0], "", "02_evaluation.ipynb"),
    Chapter(3, "Vision Transformer from scratch", PARTS[0], "002", "03_vit.ipynb"),
    Chapter(4, "A strong cross-modal baseline", PARTS[0], "", "04_baseline.ipynb"),
    Chapter(5, "Augmentation", PARTS[1], "002", "05_augmentation.ipynb"),
    Chapter(6, "CrossViT", PARTS[1], "002", "06_crossvit.ipynb"),
    Chapter(7, "Channel and spatial attention", PARTS[1], "002", "07_csa.ipynb"),
    Chapter(8, "Metric-learning losses and the ablation", PARTS[1], "002", "08_losses.ipynb"),
    Chapter(9, "Similarity exchange", PARTS[2], "003", "09_similarity_exchange.ipynb"),
    Chapter(10, "MHGA graph attention", PARTS[2], "003", "10_mhga.ipynb"),
    Chapter(11, "CSET end to end", PARTS[2], "003", "11_cset.ipynb"),
    Chapter(12, "Text encoders and global alignment", PARTS[3], "001", "12_text_global.ipynb"),
    Chapter(13, "ACSA", PARTS[3], "001", "13_acsa.ipynb"),
    Chapter(14, "CMSN", PARTS[3], "004", "14_cmsn.ipynb"),
    Chapter(15, "Visible-X-ray packages: CAST and GLAA", PARTS[4], "000", "15_xray.ipynb"),
    Chapter(16, "Real datasets, scale and speed", PARTS[5], "", "16_real_data.ipynb"),
)
