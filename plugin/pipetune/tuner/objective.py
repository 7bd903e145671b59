"""The objective: the metric a trial is judged by, which way is better, and the goal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipetune.errors import SpecError

OBJECTIVE_TYPES = ("minimize", "maximize")
METRIC_STRATEGIES = ("min", "max", "latest")


@dataclass(frozen=True)
class Objective:
    """What a trial is judged by: Katib's ``spec.objective``. ``metric_strategies`` holds a
    strategy for every metric, the default filled in (``min`` when minimising, else ``max``);
    errors name the experiment field."""

    metric: str
    type: str = "maximize"
    goal: float | None = None
    additional_metrics: tuple[str, ...] = ()
    metric_strategies: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "spec.objective"
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
        """The objective metric first, then the additional ones."""
        return (self.metric, *self.additional_metrics)

    @property
    def strategy(self) -> str:
        """How the objective metric's value is taken from a trial's reports."""
        return self.metric_strategies[self.metric]

    def better(self, a: float, b: float) -> bool:
        """Whether objective value ``a`` is strictly better than ``b``."""
        return a < b if self.minimize else a > b
