"""Shared test settings: never touch the network, use the smoke profile, cache in tmp."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("REIDKIT_PROFILE", "smoke")
