"""The first live cell of every chapter: seed, device, profile, plotting."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reidkit.plotting import configure_plotly
from reidkit.profiles import Profile, get_profile
from reidkit.utils import get_device, seed_everything


@dataclass(frozen=True)
class NotebookContext:
    seed: int
    device: torch.device
    profile: Profile


def setup(seed: int = 0, profile: str | None = None, verbose: bool = True) -> NotebookContext:
    """Seed everything, pick the device and profile, configure plotly; print what was chosen."""
    seed_everything(seed)
    chosen = get_profile(profile)
    device = get_device()
    renderer = configure_plotly()
    if verbose:
        import reidkit

        print(f"reidkit {reidkit.__version__} | torch {torch.__version__}")
        print(f"seed    {seed}")
        print(f"device  {device}")
        print(f"profile {chosen.name}: {chosen.description}")
        print(f"plotly  renderer '{renderer}'")
    return NotebookContext(seed=seed, device=device, profile=chosen)


def source_of(obj: object) -> str:
    """The source code of a library function, class or method, exactly as it is in reidkit."""
    import inspect
    import textwrap

    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError) as error:
        raise ValueError(f"no source available for {obj!r}: {error}") from error


def show_source(obj: object) -> None:
    """Display the library's own source of ``obj`` as a highlighted code block.

    Chapters call this instead of copying code: what the learner reads is what runs.
    """
    from IPython.display import Markdown, display

    module = getattr(obj, "__module__", "")
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    display(Markdown(f"`{module}.{name}`\n\n```python\n{source_of(obj)}```"))
