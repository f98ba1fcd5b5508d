"""Datasets: the procedural synthetic default and loaders for the real benchmarks."""

from reidkit.data.records import MODALITIES, ImageDataset, Record, read_image

__all__ = ["MODALITIES", "ImageDataset", "Record", "read_image"]
