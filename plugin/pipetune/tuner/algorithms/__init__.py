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
    "nsga2": "pipetune.tuner.algorithms._multi:NSGA2",
}

#: What an experiment with several objectives runs for a name: ``auto`` becomes Optuna's
#: multi-objective TPE; names not here optimise one objective and are refused.
_MULTI_OBJECTIVE: dict[str, str] = {
    "auto": "pipetune.tuner.algorithms._multi:MultiObjectiveTPE",
    "nsga2": "pipetune.tuner.algorithms._multi:NSGA2",
}

#: Katib algorithm names that pipetune refuses for now, with the reason given to the user.
_UNSUPPORTED: dict[str, str] = {
    "enas": "neural architecture search (ENAS) is not a parameter search; not built in",
    "darts": "neural architecture search (DARTS) is not a parameter search; not built in",
}


def algorithm_names() -> list[str]:
    return sorted(_REGISTRY)


def get_algorithm(name: str, settings: Mapping[str, str] | None = None, *, objectives: int = 1) -> Algorithm:
    """The algorithm called ``name`` with its settings, for an experiment with ``objectives``
    objectives; ``SpecError`` for an unknown name, or one that optimises a single objective
    when there are several."""
    if objectives > 1 and name in _REGISTRY and name not in _MULTI_OBJECTIVE:
        raise SpecError(
            f"algorithm.algorithmName: {name!r} optimises a single objective and this experiment has "
            f"{objectives} (spec.objectives); expected one of {', '.join(sorted(_MULTI_OBJECTIVE))}"
        )
    if objectives > 1 and name in _MULTI_OBJECTIVE:
        module_name, class_name = _MULTI_OBJECTIVE[name].split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(settings, objectives=objectives)
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
