"""A ``SearchSpace`` as the unit cube, for the algorithms that search a box (sobol, cmaes,
hyperband's samples, ``auto``'s local steps) and for translating a history into vectors.

Each searched parameter is one coordinate in [0, 1]: a number linearly, or on the log scale
for a log distribution (normal ones are searched as uniform over [min, max], as Katib's skopt
and Optuna services do); a list value by its position (``(k + 0.5) / n`` for the k-th of n).
Decoding snaps to the parameter's step grid and type, so every decoded point is inside the
space. Parameters with one value are constants.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipetune.errors import SpaceError, SpecError
from pipetune.tuner.algorithms._base import Exhausted, seed_for
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntParameter,
    Parameter,
    SearchSpace,
)


@dataclass(frozen=True)
class Axis:
    """One searched parameter as a coordinate of the unit cube."""

    parameter: Parameter

    @property
    def name(self) -> str:
        return self.parameter.name

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The listed values of a discrete or categorical parameter; None for a range."""
        if isinstance(self.parameter, (DiscreteParameter, CategoricalParameter)):
            return tuple(self.parameter.values)
        return None

    @property
    def log(self) -> bool:
        return isinstance(self.parameter, (DoubleParameter, IntParameter)) and (
            self.parameter.distribution.startswith("log")
        )

    @property
    def size(self) -> int | None:
        """How many values the coordinate can decode to; None when continuous."""
        choices = self.choices
        if choices is not None:
            return len(choices)
        p = self.parameter
        assert isinstance(p, (DoubleParameter, IntParameter))
        step = p.step if p.step is not None else (1 if isinstance(p, IntParameter) else None)
        if step is None:
            return None
        return math.floor((float(p.max) - float(p.min)) / float(step) + 1e-9) + 1

    def nth(self, k: int) -> Any:
        """The ``k``-th value of a finite axis (list order, or min + k * step)."""
        choices = self.choices
        if choices is not None:
            return choices[k]
        p = self.parameter
        assert isinstance(p, (DoubleParameter, IntParameter))
        step = float(p.step) if p.step is not None else 1.0
        return fit(p, float(p.min) + k * step)

    def decode(self, u: float) -> Any:
        u = min(max(float(u), 0.0), 1.0)
        choices = self.choices
        if choices is not None:
            return choices[min(int(u * len(choices)), len(choices) - 1)]
        p = self.parameter
        assert isinstance(p, (DoubleParameter, IntParameter))
        low, high = float(p.min), float(p.max)
        if self.log:
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            value = low + u * (high - low)
        return fit(p, value)

    def encode(self, value: Any) -> float:
        choices = self.choices
        if choices is not None:
            return (choices.index(value) + 0.5) / len(choices)
        p = self.parameter
        assert isinstance(p, (DoubleParameter, IntParameter))
        low, high = float(p.min), float(p.max)
        if high == low:
            return 0.5
        if self.log:
            return (math.log(float(value)) - math.log(low)) / (math.log(high) - math.log(low))
        return (float(value) - low) / (high - low)


def fit(parameter: DoubleParameter | IntParameter, value: float) -> float | int:
    """``value`` clipped to the range, on the step grid (min, min+step, ...), an int for an int
    parameter: the same grid ``SearchSpace`` validates and grid search visits."""
    low, high = float(parameter.min), float(parameter.max)
    value = min(max(float(value), low), high)
    step = parameter.step if parameter.step is not None else (1 if isinstance(parameter, IntParameter) else None)
    if step:
        count = math.floor((high - low) / float(step) + 1e-9)
        k = min(max(round((value - low) / float(step)), 0), count)
        value = min(low + k * float(step), high)
    if isinstance(parameter, IntParameter):
        return int(round(value))
    return float(value)


@dataclass(frozen=True)
class Box:
    """A search space as the unit cube: its axes and its constants."""

    space: SearchSpace
    axes: tuple[Axis, ...]
    constants: Mapping[str, Any]

    @property
    def dims(self) -> int:
        return len(self.axes)

    @property
    def size(self) -> int | None:
        """How many distinct points the space has, when finite."""
        sizes = [axis.size for axis in self.axes]
        if any(s is None for s in sizes):
            return None
        return math.prod(s for s in sizes if s is not None)

    def decode(self, u: Sequence[float]) -> dict[str, Any]:
        """The assignment at point ``u`` of the cube (clipped into it)."""
        values = {axis.name: axis.decode(x) for axis, x in zip(self.axes, u)}
        return {name: values[name] if name in values else self.constants[name] for name in self.space.names}

    def encode(self, assignment: Mapping[str, Any]) -> list[float] | None:
        """``assignment`` as a point of the cube; None when it is outside the space."""
        try:
            self.space.validate(assignment)
        except SpaceError:
            return None
        return [axis.encode(assignment[axis.name]) for axis in self.axes]


@lru_cache(maxsize=64)
def box_for(space: SearchSpace) -> Box:
    """The unit-cube view of ``space`` (cached: a space is immutable)."""
    axes = []
    constants: dict[str, Any] = {}
    for parameter in space.parameters:
        if parameter.fixed:
            if isinstance(parameter, (DiscreteParameter, CategoricalParameter)):
                constants[parameter.name] = parameter.values[0]
            elif isinstance(parameter, IntParameter):
                constants[parameter.name] = int(parameter.min)
            else:
                assert isinstance(parameter, DoubleParameter)
                constants[parameter.name] = float(parameter.min)
        else:
            axes.append(Axis(parameter))
    return Box(space, tuple(axes), constants)


def require_search_space(space: Any, algorithm: str) -> SearchSpace:
    """``space`` when it is a list of parameters; a ``SpecError`` naming the algorithm if not."""
    if not isinstance(space, SearchSpace):
        raise SpecError(
            f"algorithm {algorithm}: needs a search space of Katib parameters (a parameter list); "
            "a hyperopt expression space works with auto, tpe, anneal and random"
        )
    return space


#: Draws from an algorithm before a finite space is enumerated for a free point.
REDRAWS = 8
#: A finite space up to this many points is enumerated when draws keep hitting taken points.
ENUMERATE_LIMIT = 200_000


def _point_key(box: Box, assignment: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple((type(assignment[a.name]).__name__, assignment[a.name]) for a in box.axes)


def choose(
    box: Box,
    history: Sequence[Any],
    draw: Callable[[int], dict[str, Any]],
    seed: int,
    deterministic: bool,
) -> dict[str, Any]:
    """The first of ``draw(seed)``, ``draw(seed_2)``, ... that the rules on repeats allow
    (``Algorithm``'s docstring): not a point an unfinished trial holds while another is free;
    not a tried point of a deterministic objective, which is ``Exhausted`` once all are tried.
    After ``REDRAWS`` draws a free point of a finite space is picked at random."""
    size = box.size
    if size is None and not deterministic:
        avoid_pending = {_point_key(box, r.assignment) for r in history if not r.status.final
                         and box.encode(r.assignment) is not None}
        avoid = avoid_pending
    else:
        known = [r for r in history if box.encode(r.assignment) is not None]
        tried = {_point_key(box, r.assignment) for r in known}
        avoid = tried if deterministic else {_point_key(box, r.assignment) for r in known if not r.status.final}
        if size is not None and len(avoid) >= size:
            if deterministic:
                raise Exhausted(f"all {size} points of the search space are taken")
            avoid = set()
    for attempt in range(REDRAWS):
        assignment = draw(seed if attempt == 0 else seed_for(seed, f"redraw:{attempt}"))
        if not avoid or _point_key(box, assignment) not in avoid:
            return assignment
    if size is not None and size <= ENUMERATE_LIMIT:
        rng = random.Random(seed)
        ranges = [range(axis.size or 1) for axis in box.axes]
        free = []
        for combo in itertools.product(*ranges):
            values = {axis.name: axis.nth(k) for axis, k in zip(box.axes, combo)}
            point = {name: values.get(name, box.constants.get(name)) for name in box.space.names}
            if _point_key(box, point) not in avoid:
                free.append(point)
        if free:
            return free[rng.randrange(len(free))]
    if deterministic:
        raise Exhausted(f"no untried point found in {REDRAWS} draws from the search space")
    return draw(seed)
