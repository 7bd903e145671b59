"""Algorithms by name. An unknown name raises at load and lists the known ones."""

from __future__ import annotations

from typing import Mapping

from pipetune.errors import SpecError
from pipetune.tuner.algorithms._base import (
    Algorithm,
    Exhausted,
    Suggestion,
    suggest_batch,
    trial_seed,
)

#: name -> "module:Class", imported on first use so that loading an experiment stays cheap
#: and hyperopt is imported only where an algorithm needs it.
_REGISTRY: dict[str, str] = {}

#: Katib algorithm names that pipetune refuses for now, with the reason given to the user.
_UNSUPPORTED: dict[str, str] = {}


def algorithm_names() -> list[str]:
    return sorted(_REGISTRY)


def get_algorithm(name: str, settings: Mapping[str, str] | None = None) -> Algorithm:
    """The algorithm called ``name`` with its settings; ``SpecError`` for an unknown name."""
    if name in _UNSUPPORTED:
        raise SpecError(f"algorithm.algorithmName: {name!r} is not supported yet: {_UNSUPPORTED[name]}")
    target = _REGISTRY.get(name)
    if target is None:
        raise SpecError(
            f"algorithm.algorithmName: unknown algorithm {name!r}; expected one of "
            f"{', '.join(algorithm_names())}"
        )
    import importlib

    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)


__all__ = [
    "Algorithm",
    "Exhausted",
    "Suggestion",
    "algorithm_names",
    "get_algorithm",
    "suggest_batch",
    "trial_seed",
]
