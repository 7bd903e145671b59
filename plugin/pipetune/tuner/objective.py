"""The objective: the metric a trial is judged by, which way is better, and the goal; for a
multi-objective experiment the further objectives, and the constraints a trial must meet."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipetune.errors import SpecError

OBJECTIVE_TYPES = ("minimize", "maximize")
METRIC_STRATEGIES = ("min", "max", "latest")


@dataclass(frozen=True)
class Constraint:
    """``spec.constraints[]``: a metric the trial reports and the bounds it must stay within,
    ``min <= value <= max`` (either bound may be left out, not both). The value is the metric's
    final report (else its latest intermediate one); a trial that never reported it is
    infeasible."""

    metric: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        where = "spec.constraints"
        if not isinstance(self.metric, str) or not self.metric:
            raise SpecError(f"{where}.metricName: expected a metric name, got {self.metric!r}")
        if self.min is None and self.max is None:
            raise SpecError(f"{where} ({self.metric}): expected min, max or both")
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise SpecError(f"{where} ({self.metric}): expected finite bounds, got {bound!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecError(f"{where} ({self.metric}).min: {self.min:g} is above max {self.max:g}")

    def violation(self, value: float | None) -> float:
        """How far ``value`` is outside the bounds: at most 0 when it holds (Optuna's
        convention for a constraint value), infinite when the metric was not reported."""
        if value is None or not math.isfinite(value):
            return math.inf
        over = value - self.max if self.max is not None else -math.inf
        under = self.min - value if self.min is not None else -math.inf
        return max(over, under)

    def describe(self) -> str:
        """``latency <= 50``, ``0.1 <= ratio <= 0.9``."""
        if self.min is not None and self.max is not None:
            return f"{self.min:g} <= {self.metric} <= {self.max:g}"
        return f"{self.metric} >= {self.min:g}" if self.min is not None else f"{self.metric} <= {self.max:g}"


@dataclass(frozen=True)
class Objective:
    """What a trial is judged by: Katib's ``spec.objective``. ``metric_strategies`` holds a
    strategy for every metric, the default filled in (``min`` when minimising, else ``max``);
    errors name the experiment field.

    A multi-objective experiment (``spec.objectives``) is this object for its first objective
    with the further ones in ``others`` (each an ``Objective`` of its own); ``constraints`` are
    what a trial must meet to count (``feasible``). With neither, it is Katib's objective."""

    metric: str
    type: str = "maximize"
    goal: float | None = None
    additional_metrics: tuple[str, ...] = ()
    metric_strategies: Mapping[str, str] = field(default_factory=dict)
    others: tuple[Objective, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        where = "spec.objective"
        seen = [self.metric]
        for other in self.others:
            if other.metric in seen:
                raise SpecError(
                    f"spec.objectives: {other.metric!r} is listed twice; expected each objective metric once"
                )
            seen.append(other.metric)
        constrained = [c.metric for c in self.constraints]
        if len(set(constrained)) != len(constrained):
            raise SpecError("spec.constraints: a metric is constrained twice; expected one entry per "
                            "metric (with min and max)")
        if self.type not in OBJECTIVE_TYPES:
            raise SpecError(
                f"{where}.type: expected minimize or maximize, got {self.type!r}"
            )
        if not isinstance(self.metric, str) or not self.metric:
            raise SpecError(f"{where}.objectiveMetricName: expected a metric name, got {self.metric!r}")
        if self.metric in self.additional_metrics:
            raise SpecError(
                f"{where}.additionalMetricNames: {self.metric!r} is the objective metric; "
                "expected only other metrics"
            )
        if len(set(self.additional_metrics)) != len(self.additional_metrics):
            raise SpecError(f"{where}.additionalMetricNames: a metric is listed twice")
        names = self.metric_names
        for name, value in self.metric_strategies.items():
            if name not in names:
                raise SpecError(
                    f"{where}.metricStrategies: {name!r} is not a metric of this objective; "
                    f"expected one of {', '.join(names)}"
                )
            if value not in METRIC_STRATEGIES:
                raise SpecError(
                    f"{where}.metricStrategies ({name}).value: expected one of "
                    f"{', '.join(METRIC_STRATEGIES)}, got {value!r}"
                )
        default = "min" if self.minimize else "max"
        filled = {name: self.metric_strategies.get(name, default) for name in names}
        object.__setattr__(self, "metric_strategies", filled)

    @property
    def minimize(self) -> bool:
        return self.type == "minimize"

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The objective metric first, then the additional ones, then those of the further
        objectives and of the constraints (each once): every metric a trial's log is read for."""
        names = [self.metric, *self.additional_metrics]
        for name in (*(o.metric for o in self.others), *(c.metric for c in self.constraints)):
            if name not in names:
                names.append(name)
        return tuple(names)

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """Every objective, this one first: one for a single-objective experiment."""
        return (self, *self.others)

    @property
    def multi(self) -> bool:
        """Whether the experiment has more than one objective (a Pareto front, not a best)."""
        return bool(self.others)

    def violations(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """Each constraint's violation for a trial's metrics (``Constraint.violation``)."""
        return tuple(c.violation(metrics.get(c.metric)) for c in self.constraints)

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        """Whether a trial with these metrics meets every constraint (always, without any)."""
        return all(v <= 0 for v in self.violations(metrics))

    @property
    def strategy(self) -> str:
        """How the objective metric's value is taken from a trial's reports."""
        return self.metric_strategies[self.metric]

    def better(self, a: float, b: float) -> bool:
        """Whether objective value ``a`` is strictly better than ``b``."""
        return a < b if self.minimize else a > b
