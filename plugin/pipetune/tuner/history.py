"""Trials as the tuner's algorithms see them: plain records, rebuilt from the journal."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class TrialStatus(str, enum.Enum):
    """A trial's state, as the tuner judges it (Katib's trial conditions). Pending and Running
    are unfinished; the rest are final. Its runs have an engine ``Phase`` of their own."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    #: Stopped because the experiment ended (goal reached, too many failures).
    KILLED = "Killed"

    @property
    def final(self) -> bool:
        return self not in (TrialStatus.PENDING, TrialStatus.RUNNING)


@dataclass(frozen=True)
class TrialRecord:
    """One trial in the history an algorithm is given.

    ``loss`` is the objective turned into a quantity to minimise (the value for a minimise
    goal, its negation for maximise), or None when the trial has none yet (pending, running)
    or never will (failed). ``internal`` is the algorithm's own JSON-able encoding of the
    assignment when the assignment can't be mapped back (hyperopt expression spaces).
    """

    index: int
    assignment: Mapping[str, Any]
    status: TrialStatus = TrialStatus.PENDING
    loss: float | None = None
    internal: Mapping[str, Any] | None = field(default=None, compare=False)
    #: A multi-objective or constrained experiment's: every objective as a loss (None until
    #: the trial has them all), and each constraint's violation (at most 0 when it holds,
    #: Optuna's convention). ``loss`` is then None for an infeasible trial, so no algorithm
    #: takes it for a good one; those that model constraints read ``losses`` and
    #: ``violations`` (``algorithms._constraints``), the others take it as failed.
    losses: tuple[float, ...] | None = None
    violations: tuple[float, ...] | None = None

    @property
    def infeasible(self) -> bool:
        """Whether the trial settled with its objective values but broke a constraint: an
        observation of the infeasible region (``algorithms._constraints``), not a failure."""
        return (self.status.final and self.losses is not None and self.violations is not None
                and any(v > 0 for v in self.violations))

    @property
    def total_violation(self) -> float:
        """The sum of the broken constraints' violations (Optuna's score of an infeasible
        trial); 0 for a feasible or unconstrained one, infinite for an unreported metric."""
        return sum(v for v in self.violations or () if v > 0)

    @classmethod
    def pending(
        cls, index: int, assignment: Mapping[str, Any], internal: Mapping[str, Any] | None = None
    ) -> TrialRecord:
        return cls(index, assignment, TrialStatus.PENDING, None, internal)
