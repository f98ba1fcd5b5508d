"""The registry of methods: one name -> model builder, objective, sampler, options, task.

A *method* is what a chapter adds: a model module, an objective (its losses, weights and
schedules) and a dataclass of options that a configuration writes under the method's name. The
engine (``reidkit.train``) only ever calls what a :class:`Method` provides, so registering a
new one never edits the engine::

    register_method(Method(
        name="my_method",
        task="visible-infrared",
        options=MyOptions,                      # a dataclass; YAML section ``my_method:``
        build_model=build_my_model,             # (config, num_classes) -> nn.Module
        build_objective=MyObjective,            # (config) -> objective
    ))

The model's contract: in training, ``model(batch)`` returns a dict of named tensors (for
example ``{"features": f, "logits": logits}``); ``model.forward_embedding(batch)`` returns the
retrieval embedding (B, D) of one image (or caption) at a time, which every evaluator uses.
The objective's: ``objective(outputs, batch, progress)`` returns a dict of named loss terms
whose ``"loss"`` is the total; ``progress`` is the fractional epoch. Every term is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from torch import Tensor, nn

from reidkit.data.splits import TASKS

if TYPE_CHECKING:
    from reidkit.data.batch import Batch, Tokenizer
    from reidkit.data.records import Record
    from reidkit.train.config import TrainConfig


class Objective(Protocol):
    """Named loss terms from a model's training outputs; ``"loss"`` is the total."""

    def __call__(
        self, outputs: dict[str, Tensor], batch: Batch, progress: float
    ) -> dict[str, Tensor]: ...


def _no_profile_options(options: type) -> Callable[[Any], Any]:
    return lambda profile: options()


@dataclass(frozen=True)
class Method:
    """Everything the engine needs to train and evaluate one method."""

    name: str
    task: str  # one of TASKS: chooses the evaluation protocol family
    options: type  # dataclass of the method's options (the YAML section named ``name``)
    build_model: Callable[[TrainConfig, int], nn.Module]  # (config, num_classes) -> model
    build_objective: Callable[[TrainConfig], Objective]
    sampler: str = "cross_modal"  # a name in reidkit.train.sampling.SAMPLERS
    # text methods: (config, training records) -> tokenizer of captions (see reidkit.data.batch)
    build_tokenizer: Callable[[TrainConfig, Sequence[Record]], Tokenizer] | None = None
    # the options a profile implies (model sizes per profile); default: the dataclass defaults
    profile_options: Callable[[Any], Any] | None = None
    # the rest of a profile's configuration this method's task needs, as overrides in the YAML
    # form (e.g. text methods: the synthetic CUHK-PEDES layout, the t2i protocol); default none
    profile_config: Callable[[Any], dict[str, Any]] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"method {self.name!r}: task {self.task!r} is not one of {TASKS}")
        if self.profile_options is None:
            object.__setattr__(self, "profile_options", _no_profile_options(self.options))


METHODS: dict[str, Method] = {}


def register_method(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to the registry (``replace=True`` to redefine a name, e.g. in a notebook)."""
    if method.name in METHODS and not replace:
        raise ValueError(f"a method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``; the error lists the registered ones."""
    if name not in METHODS:
        raise ValueError(f"method: unknown method {name!r}; registered: {sorted(METHODS)}")
    return METHODS[name]
