"""Methods: each a model, an objective and its options, registered under a name.

``get_method("baseline")``; ``register_method(Method(...))`` adds one (see ``registry``)."""

from reidkit.methods import (  # noqa: E402, F401  (registers the built-in methods)
    acsa,
    baseline,
    cast,
    cmsn,
    cset,
    fused_attention,
    text_baseline,
)
from reidkit.methods.registry import METHODS, TASKS, Method, Objective, get_method, register_method

__all__ = ["METHODS", "TASKS", "Method", "Objective", "get_method", "register_method"]
