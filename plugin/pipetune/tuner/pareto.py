"""Multi-objective results as pure functions: which trials count, and which are not dominated.

A trial *counts* when it ended with every objective's value (Succeeded, or stopped early with
them) and meets every constraint (``Objective.feasible``); an infeasible trial never enters
the front nor becomes the best. Trial ``a`` *dominates* ``b`` when it is at least as good on
every objective and better on one. The *Pareto front* is the counted trials no other counted
trial dominates, in trial order; trials with equal values are all on it.

Every front end (results.yaml, trials.json, ``pipetune tune --json`` and its table,
``pipetune.tune``'s result, the Tekton and KFP outputs) reads the front from :func:`front`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import TrialState
from pipetune.tuner.objective import Objective

#: The statuses whose objective values are a trial's result.
SCORED = (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)


def values_of(trial: TrialState, objective: Objective) -> tuple[float, ...] | None:
    """The trial's value of each objective (as reported, in ``objective.objectives`` order),
    or None when it has not got them all."""
    if trial.status not in SCORED:
        return None
    if not objective.multi:
        return None if trial.objective is None else (trial.objective,)
    values = trial.values
    if values is None or len(values) != len(objective.objectives):
        return None
    return tuple(values)


def losses_of(values: Sequence[float], objective: Objective) -> tuple[float, ...]:
    """Objective values turned into quantities to minimise (maximised ones negated)."""
    return tuple(v if o.minimize else -v for v, o in zip(values, objective.objectives))


def counted(trial: TrialState, objective: Objective) -> bool:
    """Whether the trial has every objective's value and meets every constraint."""
    return values_of(trial, objective) is not None and objective.feasible(trial.metrics)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether losses ``a`` dominate losses ``b`` (minimising each)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated(points: Sequence[Sequence[float]]) -> list[int]:
    """The positions of the points (losses, minimised) that no other point dominates, in
    order. In O(n x front) rather than O(n^2): taken in lexicographic order, a point's
    dominators all come before it, and if one is off the front, a front point dominates it
    and so the point too; so each point is checked against the front found so far only."""
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    front: list[int] = []
    for i in order:
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
    return sorted(front)


def front(trials: Sequence[TrialState], objective: Objective) -> list[TrialState]:
    """The Pareto front of ``trials`` under ``objective`` (module docstring), in trial order."""
    candidates = [t for t in trials if counted(t, objective)]
    points = [losses_of(values_of(t, objective) or (), objective) for t in candidates]
    return [candidates[i] for i in non_dominated(points)]


def front_rows(trials: Sequence[TrialState], objective: Objective) -> list[dict[str, Any]]:
    """The front as plain rows: trial, parameters, each objective's value by metric, run id."""
    rows = []
    for trial in front(trials, objective):
        values = values_of(trial, objective) or ()
        rows.append({
            "trial": trial.index,
            "parameters": dict(trial.assignment),
            "values": {o.metric: v for o, v in zip(objective.objectives, values)},
            "run_id": trial.run_id,
        })
    return rows


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The area dominated by 2-D ``points`` (minimised) and bounded by ``reference``: exact,
    a sweep over the non-dominated points sorted by the first coordinate. Points not better
    than the reference on both coordinates add nothing."""
    rx, ry = float(reference[0]), float(reference[1])
    inside = sorted((float(x), float(y)) for x, y in points if x < rx and y < ry)
    area = 0.0
    low = ry
    for x, y in inside:
        if y < low:
            area += (rx - x) * (low - y)
            low = y
    return area
