"""Algorithms by name. An unknown name raises at load and lists the known ones."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

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
_REGISTRY: dict[str, str] = {
    "auto": "pipetune.tuner.algorithms._auto:Auto",
    "random": "pipetune.tuner.algorithms._hyperopt:Random",
    "tpe": "pipetune.tuner.algorithms._hyperopt:TPE",
    "anneal": "pipetune.tuner.algorithms._hyperopt:Anneal",
    "grid": "pipetune.tuner.algorithms._grid:Grid",
    "pbt": "pipetune.tuner.algorithms._pbt:PBT",
    "multivariate-tpe": "pipetune.tuner.algorithms._optuna:MultivariateTPE",
    "cmaes": "pipetune.tuner.algorithms._cmaes:CMAES",
    "sobol": "pipetune.tuner.algorithms._sobol:Sobol",
    "bayesianoptimization": "pipetune.tuner.algorithms._skopt:BayesianOptimization",
    "hyperband": "pipetune.tuner.algorithms._hyperband:Hyperband",
}

#: Katib algorithm names that pipetune refuses for now, with the reason given to the user.
_UNSUPPORTED: dict[str, str] = {
    "enas": "neural architecture search (ENAS) is not a parameter search; not built in",
    "darts": "neural architecture search (DARTS) is not a parameter search; not built in",
}


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
