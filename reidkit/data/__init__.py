"""Datasets: the procedural synthetic default and loaders for the real benchmarks."""

from reidkit.data.llcm import LLCM
from reidkit.data.pedes import CUHKPEDES, ICFGPEDES, RSTPReid, TextReIDDataset
from reidkit.data.records import MODALITIES, ImageDataset, Record, read_image
from reidkit.data.regdb import RegDB
from reidkit.data.sysu import SYSUMM01

__all__ = [
    "CUHKPEDES",
    "ICFGPEDES",
    "LLCM",
    "MODALITIES",
    "RSTPReid",
    "ImageDataset",
    "Record",
    "RegDB",
    "SYSUMM01",
    "TextReIDDataset",
    "read_image",
]
