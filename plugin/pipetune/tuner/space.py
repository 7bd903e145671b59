"""The search space: one ``Parameter`` per Katib parameter type, each validating itself.

Values check themselves when built: ``DoubleParameter('lr', 0.1, 0.01)`` raises
``SpaceError("parameter 'lr': min 0.1 is above max 0.01")``. Algorithms translate a
``SearchSpace`` into their own form; this module imports no algorithm library.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipetune.errors import SpaceError

#: Katib's distribution names, as they appear in ``feasibleSpace.distribution``.
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
PARAMETER_TYPES = ("double", "int", "discrete", "categorical")


@dataclass(frozen=True)
class Parameter:
    """Base of the four parameter types; ``name`` is the parameter's name in the experiment."""

    name: str

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this parameter can take."""
        raise NotImplementedError

    @property
    def fixed(self) -> bool:
        """True when the parameter has a single possible value (nothing to search)."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Range(Parameter):
    min: float = 0.0
    max: float = 0.0
    step: float | None = None
    distribution: str = "uniform"

    def __post_init__(self) -> None:
        where = f"parameter {self.name!r}"
        for label, value in (("min", self.min), ("max", self.max)):
            if not math.isfinite(value):
                raise SpaceError(f"{where}: {label} must be a finite number, got {value!r}")
        if self.min > self.max:
            raise SpaceError(f"{where}: min {_fmt(self.min)} is above max {_fmt(self.max)}")
        if self.distribution not in DISTRIBUTIONS:
            raise SpaceError(
                f"{where}: unknown distribution {self.distribution!r}; expected one of "
                f"{', '.join(DISTRIBUTIONS)}"
            )
        if self.distribution.startswith("log") and self.min <= 0:
            raise SpaceError(
                f"{where}: distribution {self.distribution} needs min above 0, got {_fmt(self.min)}"
            )
        if self.step is not None:
            if not math.isfinite(self.step) or self.step <= 0:
                raise SpaceError(f"{where}: step must be a positive number, got {self.step!r}")
            if self.step > self.max - self.min and self.max > self.min:
                raise SpaceError(
                    f"{where}: step {_fmt(self.step)} is larger than the range "
                    f"{_fmt(self.min)}..{_fmt(self.max)}"
                )

    @property
    def fixed(self) -> bool:
        return self.min == self.max

    def grid(self) -> list[float]:
        """The values a grid search visits: min, min+step, ..., up to max."""
        if self.step is None:
            raise SpaceError(
                f"parameter {self.name!r}: grid search needs feasibleSpace.step for a "
                f"{type(self).__name__} parameter"
            )
        count = math.floor((self.max - self.min) / self.step + 1e-9) + 1
        # Clipped: min + i*step may pass max by a rounding error (0.1 + 2*0.1 > 0.3).
        return [min(self.min + i * self.step, self.max) for i in range(count)]


@dataclass(frozen=True)
class DoubleParameter(_Range):
    """A real number in [min, max], optionally on a ``step`` grid."""

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.min <= float(value) <= self.max

    def grid(self) -> list[float]:
        return [float(v) for v in super().grid()]


@dataclass(frozen=True)
class IntParameter(_Range):
    """An integer in [min, max], optionally on a ``step`` grid."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for label, value in (("min", self.min), ("max", self.max), ("step", self.step)):
            if value is not None and float(value) != int(value):
                raise SpaceError(
                    f"parameter {self.name!r}: {label} of an int parameter must be an integer, "
                    f"got {_fmt(value)}"
                )

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.min <= value <= self.max
        )

    def grid(self) -> list[float]:
        return [int(v) for v in super().grid()]


@dataclass(frozen=True)
class DiscreteParameter(Parameter):
    """One of a list of numbers."""

    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        _check_list(self.name, self.values)
        for value in self.values:
            if not _is_number(value):
                raise SpaceError(
                    f"parameter {self.name!r}: discrete values must be numbers, got {value!r}; "
                    "use parameterType categorical for strings"
                )

    @property
    def fixed(self) -> bool:
        return len(self.values) == 1

    def contains(self, value: Any) -> bool:
        return _is_number(value) and value in self.values


@dataclass(frozen=True)
class CategoricalParameter(Parameter):
    """One of a list of strings."""

    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_list(self.name, self.values)

    @property
    def fixed(self) -> bool:
        return len(self.values) == 1

    def contains(self, value: Any) -> bool:
        return value in self.values


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters with unique names and something to search."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        if not self.parameters:
            raise SpaceError("the search space has no parameters; nothing to search")
        seen: set[str] = set()
        for parameter in self.parameters:
            if parameter.name in seen:
                raise SpaceError(f"parameter {parameter.name!r} is declared twice")
            seen.add(parameter.name)
        if all(parameter.fixed for parameter in self.parameters):
            raise SpaceError(
                "every parameter has a single possible value; the search space has nothing "
                "to search"
            )

    @property
    def names(self) -> list[str]:
        return [parameter.name for parameter in self.parameters]

    def first_point(self) -> dict[str, Any]:
        """Each parameter at its first value (a list) or its minimum: a valid assignment to
        check a trial template with before any trial runs."""
        point: dict[str, Any] = {}
        for parameter in self.parameters:
            if isinstance(parameter, (CategoricalParameter, DiscreteParameter)):
                point[parameter.name] = parameter.values[0]
            elif isinstance(parameter, IntParameter):
                point[parameter.name] = int(parameter.min)
            elif isinstance(parameter, DoubleParameter):
                point[parameter.name] = float(parameter.min)
        return point

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def validate(self, assignment: Mapping[str, Any]) -> None:
        """Raise ``SpaceError`` unless ``assignment`` gives each parameter a valid value."""
        if set(assignment) != set(self.names):
            raise SpaceError(
                f"assignment names {sorted(assignment)} do not match the parameters {self.names}"
            )
        for parameter in self.parameters:
            if not parameter.contains(assignment[parameter.name]):
                raise SpaceError(
                    f"parameter {parameter.name!r}: {assignment[parameter.name]!r} is outside "
                    "its feasible space"
                )

    @classmethod
    def from_katib(cls, parameters: Any, where: str = "parameters") -> SearchSpace:
        """Build from Katib's ``parameters`` list (strings for numbers, as Katib writes them)."""
        if not isinstance(parameters, list) or not parameters:
            raise SpaceError(f"{where}: expected a non-empty list of parameters")
        return cls(tuple(parameter_from_katib(item, f"{where}[{i}]") for i, item in enumerate(parameters)))


@dataclass(frozen=True, eq=False)
class ExpressionSpace:
    """A hyperopt search-space expression, for the Python API: any mix of ``hp.choice``,
    ``hp.qloguniform``, nested and conditional dicts that hyperopt accepts.

    This module does not import hyperopt: the expression is held as given and only the
    hyperopt algorithms (``random``, ``tpe``, ``anneal``, ``auto``) read it. It must evaluate to
    a mapping of names to values, the assignment a trial receives; the raw hyperopt values
    (``{label: [value]}``) travel alongside as the suggestion's ``internal``. ``grid`` refuses it.
    """

    expression: Any

    def __post_init__(self) -> None:
        if self.expression is None:
            raise SpaceError("an ExpressionSpace needs a hyperopt expression, got None")
        if isinstance(self.expression, Mapping):
            if not self.expression:
                raise SpaceError("the search space has no parameters; nothing to search")
            for key in self.expression:
                if not isinstance(key, str):
                    raise SpaceError(f"an ExpressionSpace's names must be strings, got {key!r}")

    @property
    def names(self) -> list[str]:
        """The top-level names when the expression is a dict (conditional ones may add more)."""
        return list(self.expression) if isinstance(self.expression, Mapping) else []

    def validate(self, assignment: Mapping[str, Any]) -> None:
        """Raise ``SpaceError`` unless ``assignment`` is a mapping with the top-level names."""
        if not isinstance(assignment, Mapping):
            raise SpaceError(
                f"an ExpressionSpace must evaluate to a mapping of names to values, got "
                f"{type(assignment).__name__}"
            )
        missing = [name for name in self.names if name not in assignment]
        if missing:
            raise SpaceError(f"assignment lacks {missing}, which the expression defines")

    def digest(self) -> str:
        """A stable identity of the expression (its ``repr`` holds memory addresses)."""
        return hashlib.sha256(_render(self.expression).encode()).hexdigest()[:16]


def _render(value: Any) -> str:
    # hyperopt's pyll nodes print as a stable text graph; containers are walked so that a
    # plain dict holding nodes renders the same in every process.
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: repr(item[0]))
        return "{" + ", ".join(f"{key!r}: {_render(item)}" for key, item in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    return str(value)


def parameter_from_katib(item: Any, where: str) -> Parameter:
    """One Katib parameter: ``{name, parameterType, feasibleSpace: {min, max, step, list,
    distribution}}``. Errors name ``where`` and the field."""
    if not isinstance(item, dict):
        raise SpaceError(f"{where}: expected a mapping with name, parameterType, feasibleSpace")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise SpaceError(f"{where}.name: expected a non-empty string, got {name!r}")
    where = f"{where} ({name})"
    kind = item.get("parameterType")
    space = item.get("feasibleSpace")
    if kind not in PARAMETER_TYPES:
        raise SpaceError(
            f"{where}.parameterType: expected one of {', '.join(PARAMETER_TYPES)}, got {kind!r}"
        )
    if not isinstance(space, dict):
        raise SpaceError(f"{where}.feasibleSpace: expected a mapping")
    try:
        if kind in ("double", "int"):
            for key in ("min", "max"):
                if space.get(key) is None:
                    raise SpaceError(f"{where}.feasibleSpace.{key}: required for a {kind} parameter")
            numbers = {
                key: _number(space[key], f"{where}.feasibleSpace.{key}")
                for key in ("min", "max", "step")
                if space.get(key) is not None
            }
            distribution = space.get("distribution") or "uniform"
            kind_class = DoubleParameter if kind == "double" else IntParameter
            return kind_class(name, numbers["min"], numbers["max"], numbers.get("step"), distribution)
        values = space.get("list")
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}.feasibleSpace.list: expected a non-empty list for a {kind} parameter")
        if kind == "discrete":
            return DiscreteParameter(
                name, tuple(_number(v, f"{where}.feasibleSpace.list") for v in values)
            )
        return CategoricalParameter(name, tuple(str(v) for v in values))
    except SpaceError as exc:
        message = str(exc)
        prefix = f"parameter {name!r}: "
        if message.startswith(prefix):
            raise SpaceError(f"{where}.feasibleSpace: {message[len(prefix):]}") from None
        raise


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool):
        raise SpaceError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
    raise SpaceError(f"{where}: expected a number, got {value!r}")


def _check_list(name: str, values: Sequence[Any] | Iterable[Any]) -> None:
    values = list(values)
    if not values:
        raise SpaceError(f"parameter {name!r}: the list of values is empty")
    if len(set(map(repr, values))) != len(values):
        raise SpaceError(f"parameter {name!r}: the list of values repeats a value")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


#: What a tuner searches: Katib-style parameters, or a hyperopt expression (the Python API).
Space = SearchSpace | ExpressionSpace
