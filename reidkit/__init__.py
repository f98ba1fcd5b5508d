"""reidkit: cross-modality re-identification, built one component at a time.

The library is the single source of truth for the course: every chapter notebook shows
and calls the code in this package rather than keeping a copy of its own.
"""

__version__ = "0.1.0"

from reidkit.profiles import Profile, get_profile  # noqa: E402

__all__ = ["Profile", "__version__", "get_profile"]
