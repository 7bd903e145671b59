"""The tuner's decisions as plain functions over plain data: no I/O, no clock, no engine.

The driver in ``experiment.py`` applies them; the Tekton reconciler and the KFP component use
the same functions, so every front end decides alike.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipetune.contract import Results
from pipetune.tuner import pareto
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.journal import RECOMPUTE, ExperimentState, TrialState
from pipetune.tuner.objective import Objective

#: The reason of a trial stopped by early stopping, and of a run that stopped itself when its
#: trial was asked to (a Python objective's ``trial.should_stop()``).
EARLY_STOPPED = "EarlyStopped"


@dataclass(frozen=True)
class Budget:
    """How many trials, how many at once, how many may fail, how often a trial is retried."""

    max_trials: int
    parallel: int = 1
    max_failed: int | None = None
    max_retries: int = 0
    #: End the experiment when its first this many trials all ended without the objective
    #: (failed, or never reported it): a setup every trial fails alike (a wrong metric name, a
    #: crash) is said at once rather than after the whole budget. None: never.
    give_up_after: int | None = None


@dataclass(frozen=True)
class Verdict:
    """Why an experiment ends (Katib's reason words)."""

    status: str  # Succeeded or Failed
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """How a finished run counts as a trial."""

    status: TrialStatus
    objective: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    #: A multi-objective trial's value of each objective (``TrialState.values``).
    values: tuple[float, ...] | None = None


def objective_value(results: Results | None, objective: Objective) -> float | None:
    """The trial's objective under its strategy: min or max over every reported value (the
    history and the final metric), or the latest; None when the metric was never reported."""
    if results is None:
        return None
    values = [
        float(entry[objective.metric]) for entry in results.history if objective.metric in entry
    ]
    final = results.metrics.get(objective.metric)
    if objective.strategy == "latest":
        return float(final) if final is not None else (values[-1] if values else None)
    if final is not None:
        values.append(float(final))
    if not values:
        return None
    return min(values) if objective.strategy == "min" else max(values)


def judge_run(
    succeeded: bool,
    results: Results | None,
    objective: Objective,
    reason: str | None,
    message: str | None,
) -> Outcome:
    """A finished run as a trial: Succeeded with an objective, MetricsUnavailable when it ran
    but never reported the objective, Failed otherwise."""
    metrics = dict(results.metrics) if results is not None else {}
    if not succeeded:
        return Outcome(TrialStatus.FAILED, None, metrics, reason, message)
    value = objective_value(results, objective)
    if value is None or not math.isfinite(value):
        reported = ", ".join(sorted(metrics)) or "none"
        return Outcome(
            TrialStatus.METRICS_UNAVAILABLE,
            None,
            metrics,
            "MetricsUnavailable",
            f"the trial reported no {objective.metric!r} (metrics reported: {reported})",
        )
    values = None
    if objective.multi:
        found = [value, *(objective_value(results, other) for other in objective.others)]
        for other, each in zip(objective.objectives, found):
            if each is None or not math.isfinite(each):
                reported = ", ".join(sorted(metrics)) or "none"
                return Outcome(
                    TrialStatus.METRICS_UNAVAILABLE, None, metrics, "MetricsUnavailable",
                    f"the trial reported no {other.metric!r} (metrics reported: {reported})",
                )
        values = tuple(float(v) for v in found if v is not None)
    for constraint in objective.constraints:
        if constraint.metric not in metrics and results is not None:
            # Reported only as progress: its latest value is what the constraint judges.
            latest = [entry[constraint.metric] for entry in results.history if constraint.metric in entry]
            if latest:
                metrics[constraint.metric] = float(latest[-1])
    return Outcome(TrialStatus.SUCCEEDED, value, metrics, "Completed", None, values)


def best_trial(trials: Sequence[TrialState], objective: Objective) -> TrialState | None:
    """The trial with the best objective among those that have one (earliest wins ties).

    Infeasible trials (``Objective.feasible``) never are; in a multi-objective experiment the
    best is the Pareto front's best on the first objective (``pareto.front``)."""
    if objective.multi:
        trials = pareto.front(trials, objective)
    elif objective.constraints:
        trials = [t for t in trials if objective.feasible(t.metrics)]
    best = None
    for trial in trials:
        if trial.objective is None or trial.status not in (
            TrialStatus.SUCCEEDED,
            TrialStatus.EARLY_STOPPED,
        ):
            continue
        if best is None or objective.better(trial.objective, best.objective):  # type: ignore[arg-type]
            best = trial
    return best


def state_best(state: ExperimentState, objective: Objective) -> TrialState | None:
    """``best_trial`` of the state's trials, kept up to date trial by trial (``derive``): each
    changed trial is weighed against the best so far with ``best_trial`` itself, so the rule
    lives in one place; the best trial getting worse is computed whole. With several
    objectives the best is the front's, which one pair of trials can't tell: computed whole."""
    if objective.multi:
        return best_trial(state.ordered(), objective)

    def step(best: TrialState | None, old: TrialState | None, new: TrialState) -> Any:
        if best is not None and best.index == new.index:
            kept = best_trial([new], objective)
            if kept is None or objective.better(best.objective, new.objective):  # type: ignore[arg-type]
                return RECOMPUTE  # the best got worse: another trial may be best now
            return kept
        pair = [best, new] if best is None or best.index < new.index else [new, best]
        return best_trial([t for t in pair if t is not None], objective)

    return state.derive(("best", objective.minimize, objective.constraints),
                        lambda: best_trial(state.ordered(), objective), step)


def state_counts(state: ExperimentState) -> Mapping[str, int]:
    """``summary_counts`` of the state's trials, kept up to date trial by trial (a new dict)."""

    def step(counts: Mapping[str, int], old: TrialState | None, new: TrialState) -> Any:
        changed = dict(counts)
        if old is not None:
            changed[old.status.value] -= 1
        changed[new.status.value] += 1
        return changed

    counts: Mapping[str, int] = state.derive(("counts",), lambda: summary_counts(state.ordered()), step)
    return dict(counts)


def goal_reached(trials: Sequence[TrialState] | ExperimentState, objective: Objective) -> bool:
    """Whether a trial reached the objective's goal (see :func:`goal_trial`)."""
    return goal_trial(trials, objective) is not None


def goal_trial(trials: Sequence[TrialState] | ExperimentState, objective: Objective) -> TrialState | None:
    """The trial that reached the goal, or None: the best trial (of a state: ``state_best``)
    when it reaches the goal. With several objectives, the first front trial that reaches
    every goal given (objectives without one don't count; none given: never)."""
    if objective.multi:
        goals = [(i, o) for i, o in enumerate(objective.objectives) if o.goal is not None]
        if not goals:
            return None
        ordered = trials.ordered() if isinstance(trials, ExperimentState) else trials
        for trial in pareto.front(ordered, objective):
            values = pareto.values_of(trial, objective) or ()
            if all(_reaches(o, values[i]) for i, o in goals):
                return trial
        return None
    if objective.goal is None:
        return None
    best = state_best(trials, objective) if isinstance(trials, ExperimentState) else best_trial(trials, objective)
    if best is None or best.objective is None:
        return None
    return best if _reaches(objective, best.objective) else None


def _reaches(objective: Objective, value: float) -> bool:
    assert objective.goal is not None
    return value <= objective.goal if objective.minimize else value >= objective.goal


def failed_count(trials: Sequence[TrialState] | ExperimentState, budget: Budget) -> int:
    """Trials that failed for good: a failure with a retry left doesn't count yet. Of a state:
    from its counts, less the retryable failures, which all lie past the settled prefix."""
    if isinstance(trials, ExperimentState):
        counts = state_counts(trials)
        failed = counts[TrialStatus.FAILED.value] + counts[TrialStatus.METRICS_UNAVAILABLE.value]
        if budget.max_retries:
            failed -= sum(1 for t in unsettled(trials, budget) if retryable(t, budget))
        return failed
    return sum(
        1
        for t in trials
        if t.status in (TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE) and not retryable(t, budget)
    )


def verdict(
    state: ExperimentState, objective: Objective, budget: Budget, exhausted: bool = False
) -> Verdict | None:
    """Whether the experiment is over, and why; None while it goes on.

    Goal reached and too many failures end it at once (running trials are then stopped);
    the trial budget and an exhausted search space end it once every trial is final.
    """
    count = len(state.trials)
    reached = goal_trial(state, objective)
    if reached is not None:
        values = pareto.values_of(reached, objective) or ()
        shown = ", ".join(f"{o.metric} {v:g}" for o, v in zip(objective.objectives, values))
        return Verdict("Succeeded", "ExperimentGoalReached", f"trial {reached.index} reached the goal: {shown}")
    failed = failed_count(state, budget)
    if budget.max_failed is not None and failed and failed >= budget.max_failed:  # Katib's rule
        return Verdict(
            "Failed",
            "ExperimentMaxFailedTrialsReached",
            f"{failed} trials failed, reaching maxFailedTrialCount {budget.max_failed}",
        )
    # After Katib's own rule: where both apply, a Katib user gets Katib's reason.
    if budget.give_up_after and count >= budget.give_up_after:
        given_up = give_up(state.ordered()[: budget.give_up_after], objective, budget)
        if given_up is not None:
            return given_up
    if settled_prefix(state, budget) < count:
        return None
    if (count >= budget.max_trials or exhausted) and state_best(state, objective) is None:
        scored = [t for t in state.ordered() if pareto.values_of(t, objective) is not None]
        if scored and objective.constraints:
            rules = ", ".join(c.describe() for c in objective.constraints)
            why = f"none of the {count} trials met the constraints ({rules})"
        else:
            metrics = " and ".join(repr(o.metric) for o in objective.objectives)
            why = f"none of the {count} trials reported {metrics}"
        return Verdict("Failed", "ExperimentNoTrialSucceeded", why)
    if count >= budget.max_trials:
        return Verdict(
            "Succeeded", "ExperimentMaxTrialsReached", f"all {count} trials have finished"
        )
    if exhausted:
        return Verdict(
            "Succeeded",
            "ExperimentSearchSpaceExhausted",
            f"the search space has no untried point left after {count} trials",
        )
    return None


#: Why an experiment ends when its first trials all ended without the objective.
GAVE_UP = "ExperimentFirstTrialsFailed"


def give_up(trials: Sequence[TrialState], objective: Objective, budget: Budget) -> Verdict | None:
    """The experiment ends when its first ``budget.give_up_after`` trials are all final, none
    with the objective, and none retried any more: every trial failing alike is a setup to fix,
    not bad luck. The message says what they did instead: the first failure's reason, or the
    metrics they reported."""
    count = budget.give_up_after
    if not count or len(trials) < count:
        return None
    first = trials[:count]
    if any(not t.status.final or t.objective is not None or retryable(t, budget) for t in first):
        return None
    if any(t.status not in (TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE) for t in first):
        return None  # early stopped or killed: not a sign the setup is broken
    failed = [t for t in first if t.status is TrialStatus.FAILED]
    if failed:
        why = failed[0].message or failed[0].reason or "no reason given"
        return Verdict(
            "Failed",
            GAVE_UP,
            f"the first {count} trials all ended without {objective.metric!r}, {len(failed)} of them "
            f"failed; trial {failed[0].index}: {why}",
        )
    reported = sorted({name for t in first for name in t.metrics})
    listing = ", ".join(reported) if reported else "no metrics at all"
    return Verdict(
        "Failed",
        GAVE_UP,
        f"the first {count} trials all finished without reporting {objective.metric!r}; they "
        f"reported: {listing}",
    )


def retryable(trial: TrialState, budget: Budget) -> bool:
    """A failed trial with retries left is run again (same parameters, next attempt)."""
    return trial.status is TrialStatus.FAILED and trial.attempt < budget.max_retries


def can_ask(state: ExperimentState, budget: Budget) -> bool:
    """Whether the next trial may be suggested now.

    Trial ``k`` is suggested from trials ``0..k-1`` where the last ``parallel - 1`` of them
    count as pending whatever their state, and every earlier one must be final. The history an
    algorithm sees therefore never depends on timing, so a run with a seed suggests the same
    trials however fast its trials finish, and a resumed run the same as an uninterrupted one.
    """
    k = len(state.trials)
    if k >= budget.max_trials:
        return False
    return settled_prefix(state, budget) >= k - budget.parallel + 1


def settled_prefix(state: ExperimentState, budget: Budget) -> int:
    """How many leading trials (0, 1, ...) are final and will not be retried.

    Such a trial never changes again, so the count only grows; it is kept in the state's
    cache (shared with the states that follow it) and extended from there, which keeps the
    checks made on every turn of the tuner's loop from rescanning the whole history.
    """
    cache = state.settled_cache
    count = cache[0]
    while count in state.trials and state.trials[count].status.final and not retryable(state.trials[count], budget):
        count += 1
    cache[0] = count
    return count


def history_for(state: ExperimentState, budget: Budget, objective: Objective) -> list[TrialRecord]:
    """The history the next suggestion is made from (see :func:`can_ask`)."""
    k = len(state.trials)
    settled = k - budget.parallel + 1
    # The records of the settled prefix never change: kept (``state.history_cache``, shared by
    # the states that follow) and extended, so a suggestion's history costs what is new.
    ordered = state.ordered()
    contiguous = not ordered or (ordered[0].index == 0 and ordered[-1].index == len(ordered) - 1)
    cached: list[TrialRecord] = []
    if contiguous:  # numbered 0, 1, ... as the tuner numbers them; else built whole
        # Keyed by all that shapes a record: the directions and the constraints.
        key = ("history", objective.minimize, tuple(o.minimize for o in objective.objectives), objective.constraints)
        trials, cached = state.history_cache.get(key) or ([], [])
        if len(trials) > len(ordered) or not all(map(operator.is_, trials, ordered)):
            trials, cached = [], []  # kept for another branch of states (a test's): start again
        state.history_cache[key] = (trials, cached)
        last = min(settled, settled_prefix(state, budget))
        for i in range(len(cached), last):
            trials.append(ordered[i])
            cached.append(settled_record(ordered[i], objective))
    history = cached[:settled]
    for trial in ordered[len(history):]:
        if trial.index < settled:
            history.append(settled_record(trial, objective))
        else:
            history.append(TrialRecord.pending(trial.index, trial.assignment, trial.internal))
    return history


def settled_record(trial: TrialState, objective: Objective) -> TrialRecord:
    """A settled trial's record as the algorithms see it (scored with several objectives or
    constraints)."""
    record = trial.record(objective.minimize)
    if objective.multi or objective.constraints:
        record = scored_record(record, trial, objective)
    return record


def scored_record(record: TrialRecord, trial: TrialState, objective: Objective) -> TrialRecord:
    """A settled trial's record with its losses and constraint violations; an infeasible
    trial's ``loss`` is None (its value stays in ``losses``): the algorithms that model
    constraints read those and the violations (``algorithms._constraints``)."""
    values = pareto.values_of(trial, objective)
    losses = pareto.losses_of(values, objective) if values is not None else None
    violations = objective.violations(trial.metrics) if objective.constraints else None
    feasible = violations is None or all(v <= 0 for v in violations)
    return replace(record, loss=record.loss if feasible else None, losses=losses, violations=violations)


def unsettled(state: ExperimentState, budget: Budget) -> list[TrialState]:
    """The trials after the settled prefix, by index: the only ones that may still change."""
    return state.ordered()[settled_prefix(state, budget):]


def summary_counts(trials: Sequence[TrialState]) -> Mapping[str, int]:
    """Trials per status, for progress lines and the tuner's results."""
    counts = {status.value: 0 for status in TrialStatus}
    for trial in trials:
        counts[trial.status.value] += 1
    return counts
