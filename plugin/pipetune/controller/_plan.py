"""The plan of one reconcile, as a pure function of what was observed.

A reconcile observes a parent (its body as last seen) and, when the parent is running, lets
its tuner take one turn (``Turn``: the tuner's progress and journal afterwards; the trials it
started are held back by ``HeldEngine``). ``plan_customrun`` and ``plan_experiment`` turn
that into one ``Plan``, which the controller applies once and in this order:

1. write the ConfigMaps the journal's newly frozen segments go to (``configmaps``,
   ``_journal``), before the status that references them;
2. write the parent's status (``patch``, when it differs from what was observed): the new
   conditions, counts, results and the journal, with the records of the trials about to be
   created, so a restarted controller can explain every child it meets;
3. create the children the tuner started this turn (``create``);
4. forget the parent's tuner (``forget``), when the parent is done or its attempt is over;
5. look again after ``requeue`` seconds (None: only when an event comes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipetune.controller._customtask import decide, fail, is_new, is_over, timeout_of
from pipetune.controller._journal import (
    ARCHIVE_FIELD,
    DEFAULT_LAYOUT,
    ConfigMapWrite,
    Layout,
    archive_base,
    journal_status,
)
from pipetune.controller._parent import (
    STATE_FIELD,
    Progress,
    experiment_ended,
    experiment_status,
    parse_iso,
    status_patch,
)

#: Requeue at least this soon before an attempt's timeout, so it is seen as it passes.
_MIN_REQUEUE = 0.05


@dataclass(frozen=True)
class Turn:
    """What a parent's tuner says after its turn: its progress, its journal (every record),
    and, for a CustomRun, the experiment spec it runs (saved in the status with the first
    journal, so a restarted controller runs what it began with)."""

    progress: Progress
    journal: Sequence[Mapping[str, Any]]
    spec: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """What one reconcile does (see the module docstring): ``status`` is the parent's status
    afterwards, ``patch`` the merge patch from the observed one (empty: no write);
    ``configmaps`` the journal's ConfigMap writes, applied before it."""

    status: dict[str, Any]
    patch: dict[str, Any] = field(default_factory=dict)
    configmaps: tuple[ConfigMapWrite, ...] = ()
    create: bool = False
    forget: bool = False
    requeue: float | None = None


def plan_customrun(customrun: Mapping[str, Any], turn: Turn | None, now: datetime, resync: float,
                   failure: tuple[str, str] | None = None, layout: Layout = DEFAULT_LAYOUT) -> Plan:
    """The plan for a CustomRun: ``turn`` is None for one that is new or over (its tuner takes
    no turn); ``failure`` (reason, message) ends one that can't run at all; ``layout``: how
    its journal is frozen."""
    old = dict(customrun.get("status") or {})
    if failure is not None:
        new = fail(customrun, now, *failure)
        return Plan(new, status_patch(old, new), forget=True)
    if turn is None:
        if is_over(customrun):
            return Plan(old, forget=True)
        if not is_new(customrun):
            raise ValueError("plan_customrun: a running CustomRun's plan needs its tuner's turn")
        started = decide(customrun, None, now).status
        return Plan(started, status_patch(old, started), requeue=0.0)
    decision = decide(customrun, turn.progress, now)
    new = decision.status
    state = dict(new.get(STATE_FIELD) or {})
    writes: tuple[ConfigMapWrite, ...] = ()
    if turn.spec is not None:
        state.setdefault("experiment", dict(turn.spec))
    if decision.new_attempt:
        # The next attempt starts from nothing; the failed one's record is in retriesStatus.
        # It runs the same spec: the saved copy is kept, not looked up again.
        state = {k: v for k, v in state.items() if k in ("attempt", "experiment")}
        for previous in new.get("retriesStatus") or []:
            # Its archive's ConfigMaps are the next attempt's to write over.
            for bulky in ("journal", "journalSegments", ARCHIVE_FIELD, "experiment"):
                (previous.get(STATE_FIELD) or {}).pop(bulky, None)
    else:
        writes = _journal_into(state, turn, "CustomRun", customrun, old.get(STATE_FIELD), layout)
    new[STATE_FIELD] = state
    patch = status_patch(old, new)
    if decision.new_attempt:
        return Plan(new, patch, forget=True, requeue=0.0)
    if decision.done:
        return Plan(new, patch, writes, forget=True)
    timeout = timeout_of(customrun)  # valid: decide ended the run otherwise
    if not timeout:
        return Plan(new, patch, writes, create=True, requeue=resync)
    left = timeout - (now - parse_iso(new["startTime"])).total_seconds()
    return Plan(new, patch, writes, create=True, requeue=min(resync, max(left, _MIN_REQUEUE)))


def plan_experiment(experiment: Mapping[str, Any], turn: Turn | None, now: datetime, resync: float,
                    failure: tuple[str, str] | None = None, layout: Layout = DEFAULT_LAYOUT) -> Plan:
    """The plan for a standalone Experiment: ``turn`` is None for one that has ended;
    ``failure`` (reason, message) ends one that can't run; ``layout``: how its journal is
    frozen."""
    old = dict(experiment.get("status") or {})
    if experiment_ended(old):
        return Plan(old, forget=True)
    if failure is not None:
        new = experiment_status(old, None, now, failure)
        return Plan(new, status_patch(old, new), forget=True)
    if turn is None:
        raise ValueError("plan_experiment: a running Experiment's plan needs its tuner's turn")
    new = experiment_status(old, turn.progress, now)
    state = dict(new.get(STATE_FIELD) or {})
    writes = _journal_into(state, turn, "Experiment", experiment, old.get(STATE_FIELD), layout)
    new[STATE_FIELD] = state
    patch = status_patch(old, new)
    if turn.progress.ended is not None:
        return Plan(new, patch, writes, forget=True)
    return Plan(new, patch, writes, create=True, requeue=resync)


def _journal_into(state: dict[str, Any], turn: Turn, kind: str, parent: Mapping[str, Any],
                  previous: Mapping[str, Any] | None, layout: Layout) -> tuple[ConfigMapWrite, ...]:
    """Put the turn's journal into the parent's ``state`` (``journal_status``); the ConfigMap
    writes it needs first."""
    metadata = parent.get("metadata") or {}
    base = archive_base(kind, str(metadata.get("name") or ""))
    journal = journal_status(turn.journal, previous, base, layout)
    state.pop("journalSegments", None)  # a status written before the archive: moved to ConfigMaps
    state.pop(ARCHIVE_FIELD, None)
    state.update(journal.fields)
    return journal.writes
