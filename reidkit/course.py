"""The chapter map of the course: parts, chapters, source papers and notebooks.

The map ships with the package, so it is the same in a clone and after ``pip install reidkit``
(Colab): which chapters are written is recorded here, not guessed from the files around the
installed package. Where this checkout has the notebooks (``notebooks/`` beside the package),
:meth:`Chapter.path` finds them; everywhere, :meth:`Chapter.link` gives a place to open one
(the local file when there is one, else the notebook on Colab).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"  # in a clone of the repository
REPOSITORY = "reidkit/reidkit"
BRANCH = "main"
GITHUB_NOTEBOOKS = f"https://github.com/{REPOSITORY}/blob/{BRANCH}/notebooks/"
COLAB_NOTEBOOKS = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/"


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    part: str
    papers: tuple[str, ...]  # keys of the chapter's source papers in book/references.bib
    notebook: str  # file name under notebooks/
    written: bool = False  # the notebook exists in the repository (a test keeps this true)

    @property
    def available(self) -> bool:
        """True when the chapter is written (whether or not its file is on this machine)."""
        return self.written

    @property
    def colab_url(self) -> str:
        return COLAB_NOTEBOOKS + self.notebook

    @property
    def github_url(self) -> str:
        return GITHUB_NOTEBOOKS + self.notebook

    def path(self, notebooks: Path | None = None) -> Path | None:
        """The notebook file in ``notebooks`` (default: this checkout's ``notebooks/``), or None
        when it is not there (an installed package, or a chapter not written yet)."""
        candidate = (NOTEBOOKS if notebooks is None else Path(notebooks)) / self.notebook
        return candidate if candidate.is_file() else None

    def link(self, notebooks: Path | None = None) -> str | None:
        """Where to open the chapter: the local notebook when there is one, else its Colab URL;
        None for a chapter that is not written yet."""
        local = self.path(notebooks)
        if local is not None:
            return str(local)
        return self.colab_url if self.written else None


PARTS = (
    "I Foundations",
    "II Fused attention",
    "III Similarity exchange",
    "IV Text to image",
    "V Visible-X-ray packages",
    "VI Real data at scale",
)

DATA = ("wu2017sysu", "nguyen2017regdb")
FUSED, CSET, ACSA, CMSN, CAST, AGW = (
    ("huang2024fused",),
    ("lei2025cset",),
    ("acsa2024",),
    ("sun2025cmsn",),
    ("wang2025cast",),
    ("ye2021agw", "luo2019bag"),
)

CHAPTERS = (
    Chapter(0, "Start here", PARTS[0], (), "00_start_here.ipynb", True),
    Chapter(
        1,
        "Cross-modal re-id and the synthetic data",
        PARTS[0],
        DATA,
        "01_synthetic_data.ipynb",
        True,
    ),
    Chapter(
        2,
        "Evaluation protocols",
        PARTS[0],
        DATA + ("zhong2017rerank",),
        "02_evaluation.ipynb",
        True,
    ),
    Chapter(
        3,
        "Vision Transformer from scratch",
        PARTS[0],
        ("dosovitskiy2021vit", *FUSED),
        "03_vit.ipynb",
        True,
    ),
    Chapter(4, "A strong cross-modal baseline", PARTS[0], AGW, "04_baseline.ipynb", True),
    Chapter(
        5,
        "Augmentation across modalities",
        PARTS[1],
        (*FUSED, "muller2021trivialaugment", "ye2021caj", "zhong2020erasing"),
        "05_augmentation.ipynb",
        True,
    ),
    Chapter(6, "CrossViT", PARTS[1], (*FUSED, "chen2021crossvit"), "06_crossvit.ipynb", True),
    Chapter(
        7,
        "Channel and spatial attention",
        PARTS[1],
        (*FUSED, "woo2018cbam"),
        "07_csa.ipynb",
        True,
    ),
    Chapter(
        8,
        "Metric-learning losses and the ablation",
        PARTS[1],
        FUSED,
        "08_losses_ablation.ipynb",
        True,
    ),
    Chapter(9, "Similarity exchange", PARTS[2], CSET, "09_similarity_exchange.ipynb", True),
    Chapter(
        10,
        "MHGA graph attention",
        PARTS[2],
        (*CSET, "velickovic2018gat"),
        "10_mhga.ipynb",
        True,
    ),
    Chapter(11, "CSET end to end", PARTS[2], CSET, "11_cset.ipynb", True),
    Chapter(
        12,
        "Text encoders and global alignment",
        PARTS[3],
        ("li2017cuhkpedes", "jiang2023irra", "zhang2018cmpm", "devlin2019bert"),
        "12_text_global.ipynb",
        True,
    ),
    Chapter(
        13,
        "ACSA: asymmetric cross-scale alignment",
        PARTS[3],
        (*ACSA, "lee2018scan"),
        "13_acsa.ipynb",
        True,
    ),
    Chapter(
        14,
        "CMSN: multi-scale fusion and semi-positive triplets",
        PARTS[3],
        (*CMSN, "jiang2023irra", "li2017cuhkpedes"),
        "14_cmsn.ipynb",
        True,
    ),
    Chapter(15, "Visible-X-ray packages: CAST and GLAA", PARTS[4], CAST, "15_xray.ipynb", True),
    Chapter(
        16,
        "Real datasets, scale and speed",
        PARTS[5],
        DATA + ("zhang2023llcm", "li2017cuhkpedes", "ding2021icfg", "zhu2021rstpreid"),
        "16_scale.ipynb",
        True,
    ),
)
