"""Datasets: the procedural synthetic default and loaders for the real benchmarks.

Every loader (SYSU-MM01, RegDB, LLCM, the text datasets, visible-X-ray packages) is a
:class:`Benchmark`: ``query(setting, split)`` and ``gallery(setting, trial,
seed, split)`` give the records that ``reidkit.eval.evaluate_protocol`` ranks.
:class:`CaptionTokenizer` turns captions into the text encoders' token ids. Importing this
package registers the synthetic generator's ``synth://`` image reader.
"""

from reidkit.data import synth  # noqa: F401  (registers the synth:// reader of read_image)
from reidkit.data.llcm import LLCM
from reidkit.data.pedes import CUHKPEDES, ICFGPEDES, RSTPReid, TextReIDDataset
from reidkit.data.records import (
    MODALITIES,
    Record,
    modality_index,
    read_image,
    register_reader,
)
from reidkit.data.regdb import RegDB
from reidkit.data.splits import TASKS, Benchmark
from reidkit.data.sysu import SYSUMM01
from reidkit.data.tokenizer import CaptionTokenizer, pretrained_tokenizer, wordpiece_tokenizer
from reidkit.data.wordpiece import train_wordpiece
from reidkit.data.xray import XrayPackages

__all__ = [
    "CUHKPEDES",
    "ICFGPEDES",
    "LLCM",
    "MODALITIES",
    "RSTPReid",
    "TASKS",
    "Benchmark",
    "CaptionTokenizer",
    "Record",
    "RegDB",
    "SYSUMM01",
    "TextReIDDataset",
    "modality_index",
    "pretrained_tokenizer",
    "read_image",
    "register_reader",
    "train_wordpiece",
    "wordpiece_tokenizer",
    "XrayPackages",
]
