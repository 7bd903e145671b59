"""Grid search: every combination of each parameter's grid, once, in a fixed order.

Pure: no hyperopt, no randomness. The order is the product of the parameters' grids in the
order the parameters are declared, the last one varying fastest. Any point already in the
history (whatever its status, pending included) is skipped; when none is left, ``Exhausted``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipetune.errors import SpaceError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Exhausted, Suggestion
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    Parameter,
    SearchSpace,
)


class Grid(Algorithm):
    """Katib's ``grid``: double and int parameters need ``feasibleSpace.step``."""

    name = "grid"

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        _settings.parse(self.settings, {})

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        if isinstance(space, ExpressionSpace):
            raise SpaceError(
                "grid search needs a SearchSpace of parameters with a finite grid; a hyperopt "
                "expression space can't be enumerated: use random, tpe, anneal or auto"
            )
        if not isinstance(space, SearchSpace):
            raise SpaceError(f"expected a SearchSpace, got {type(space).__name__}")
        axes = [_axis(parameter) for parameter in space.parameters]
        taken: set[tuple[int, ...]] = set()
        for record in history:
            position = _position(axes, space, record.assignment)
            if position is not None:
                taken.add(position)
        for position in itertools.product(*(range(len(values)) for values, _ in axes)):
            if position not in taken:
                return Suggestion(
                    {
                        parameter.name: axes[i][0][k]
                        for i, (parameter, k) in enumerate(zip(space.parameters, position))
                    }
                )
        total = math.prod(len(values) for values, _ in axes)
        raise Exhausted(f"all {total} points of the grid have been visited")


#: A parameter's grid, and a function from a value to its place on it (None if off it).
_Axis = tuple[list[Any], Callable[[Any], int | None]]


def _axis(parameter: Parameter) -> _Axis:
    """A parameter's grid and a function from a value to its place on it (None if off it)."""
    if isinstance(parameter, (DiscreteParameter, CategoricalParameter)):
        listed = list(parameter.values)

        def place_listed(value: Any) -> int | None:
            return listed.index(value) if parameter.contains(value) else None

        return listed, place_listed
    if not isinstance(parameter, (DoubleParameter, IntParameter)) or parameter.step is None:
        raise SpaceError(
            f"parameter {parameter.name!r}: grid search needs feasibleSpace.step for a "
            f"{'int' if type(parameter).__name__ == 'IntParameter' else 'double'} parameter"
        )
    values = parameter.grid()
    low, step = float(parameter.min), float(parameter.step)

    def place(value: Any) -> int | None:
        if not parameter.contains(value):
            return None
        k = round((float(value) - low) / step)
        if 0 <= k < len(values) and math.isclose(values[k], value, rel_tol=1e-9, abs_tol=1e-12):
            return k
        return None

    return values, place


def _position(axes: Sequence[_Axis], space: SearchSpace, assignment: Mapping[str, Any]) -> tuple[int, ...] | None:
    position = []
    for (_, place), parameter in zip(axes, space.parameters):
        if parameter.name not in assignment:
            return None
        k = place(assignment[parameter.name])
        if k is None:
            return None
        position.append(k)
    return tuple(position)
