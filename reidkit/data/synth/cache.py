"""A bounded least-recently-used store of rendered images, sized in bytes.

A training loop reads every image once per epoch and rendering one costs about 0.5 ms at
64×32 and 2 ms at 256×128 (measured on this project's 2-core CPU), so
:func:`reidkit.data.synth.render_uri` keeps recent renders in ``RENDER_CACHE``. The store
holds at most ``max_bytes`` of pixels: 256 MiB by default, which holds every image of the
quick profile (about 5,700 of 128×64, 134 MiB) or 2,730 of 256×128. The environment variable
``REIDKIT_SYNTH_CACHE_MB`` sets another default (``0`` turns caching off) and
:func:`set_cache_limit` changes it at run time. When a new image would exceed the limit, the
least recently used ones are dropped. Each data-loader worker process has its own store, so
the total is up to the limit times the number of workers.

Cached arrays are read-only: a hit returns the very array that was rendered, so its bytes are
those of a fresh render.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CACHE_ENV = "REIDKIT_SYNTH_CACHE_MB"
DEFAULT_MAX_BYTES = 256 * 2**20


def default_max_bytes() -> int:
    """``REIDKIT_SYNTH_CACHE_MB`` in bytes when set, else 256 MiB."""
    value = os.environ.get(CACHE_ENV)
    if value is None or value == "":
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:
        raise ValueError(f"{CACHE_ENV} must be a number of MiB >= 0, got {value!r}")
    return int(megabytes * 2**20)


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    images: int
    bytes: int
    max_bytes: int


class ImageCache:
    """``get(key, make)``: the cached array of ``key``, or ``make()`` stored (read-only)."""

    def __init__(self, max_bytes: int) -> None:
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()  # oldest use first
        self._lock = threading.Lock()
        self._bytes = self.hits = self.misses = 0
        self.max_bytes = 0
        self.resize(max_bytes)

    def get(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            array = self._items.get(key)
            if array is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return array
            self.misses += 1
        array = make()  # rendered outside the lock: threads may render in parallel
        array.flags.writeable = False
        with self._lock:
            if key not in self._items and array.nbytes <= self.max_bytes:
                self._items[key] = array
                self._bytes += array.nbytes
                self._evict()
        return array

    def resize(self, max_bytes: int) -> None:
        """Set the limit in bytes (0 disables caching), dropping old images to fit it."""
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        with self._lock:
            self.max_bytes = max_bytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = self.hits = self.misses = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self.hits, self.misses, len(self._items), self._bytes, self.max_bytes)

    def _evict(self) -> None:
        while self._bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes


RENDER_CACHE = ImageCache(default_max_bytes())  # the store of render_uri


def set_cache_limit(max_bytes: int) -> None:
    """Hold at most ``max_bytes`` of rendered images (0: no caching)."""
    RENDER_CACHE.resize(max_bytes)


def cache_info() -> CacheInfo:
    """Hits, misses, images and bytes held, and the limit of the render cache."""
    return RENDER_CACHE.info()


def clear_cache() -> None:
    """Forget cached images (tests use it to check that re-rendering gives the same bytes)."""
    RENDER_CACHE.clear()
