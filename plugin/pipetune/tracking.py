"""What was run, read back: experiments (a run-store row plus the journal in its directory),
their trials mapped to runs, and the time filters ``runs list`` and the dashboard share.

Read-only: nothing here writes the store or a journal. Journals are cached by (size, mtime),
so a page polled every second re-reads one only when the tuner appended to it.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipetune.contract import RESULTS_FILE, read_results
from pipetune.errors import PipetuneError, UsageError
from pipetune.store import RunQuery, RunRecord, RunStore
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import JOURNAL_FILE, ExperimentState, Journal, TrialState
from pipetune.tuner.objective import Objective
from pipetune.tuner.policy import best_trial, summary_counts

#: The component name the tuner gives an experiment's own run: ``experiment/<name>``.
EXPERIMENT_PREFIX = "experiment/"
#: The component name a pipeline run gets: ``pipeline/<name>``.
PIPELINE_PREFIX = "pipeline/"

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str, what: str = "--older-than") -> float:
    """``90s``, ``30m``, ``12h``, ``7d`` or ``2w`` as seconds; ``UsageError`` naming ``what``."""
    match = _AGE.match(text)
    if not match:
        raise UsageError(f"{what} {text!r}: expected an age such as 30m, 12h, 7d or 2w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_since(text: str, now: float | None = None, what: str = "--since") -> float:
    """A point in time: an age back from ``now`` (``2h``, ``7d``) or a local date or date-time
    (``2026-12-01``, ``2026-12-01T14:30``); ``UsageError`` naming ``what`` otherwise."""
    if _AGE.match(text):
        return (time.time() if now is None else now) - parse_age(text, what)
    for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return time.mktime(time.strptime(text.strip(), pattern))
        except ValueError:
            continue
    raise UsageError(f"{what} {text!r}: expected an age (30m, 12h, 7d) or a date (2026-12-01 or 2026-12-01T14:30)")


@dataclass(frozen=True)
class ExperimentView:
    """An experiment as the run store and its journal say: ``state`` is None when its journal
    can't be read (``problem`` says why)."""

    record: RunRecord
    state: ExperimentState | None
    problem: str | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return (self.state.name if self.state and self.state.name else None) or self.record.component.removeprefix(
            EXPERIMENT_PREFIX)

    @property
    def directory(self) -> Path | None:
        return Path(self.record.outputs_dir) if self.record.outputs_dir else None

    @property
    def objective(self) -> Objective | None:
        if self.state is None or not self.state.metric:
            return None
        return Objective(self.state.metric, type="minimize" if self.state.minimize else "maximize")

    @property
    def trials(self) -> list[TrialState]:
        return self.state.ordered() if self.state else []

    @property
    def best(self) -> TrialState | None:
        objective = self.objective
        return best_trial(self.trials, objective) if objective else None

    @property
    def counts(self) -> Mapping[str, int]:
        return summary_counts(self.trials)

    @property
    def status(self) -> str:
        """The experiment's status: the journal's once it ended, else its run's."""
        if self.state is not None and self.state.status:
            return self.state.status
        return self.record.status

    @property
    def algorithm(self) -> str | None:
        value = self.record.parameters.get("algorithm")
        return str(value) if value is not None else None

    @property
    def done(self) -> int:
        return sum(1 for t in self.trials if t.status.final)

    @property
    def started(self) -> float:
        return self.record.started_at or self.record.created_at

    def duration(self, now: float | None = None) -> float | None:
        if self.record.finished_at is not None and self.record.status not in ("Running", "Pending"):
            return self.record.finished_at - self.started
        if self.record.status == "Running":
            return (time.time() if now is None else now) - self.started
        return None

    def trial_of_run(self) -> dict[str, TrialState]:
        """Each run id (every attempt) to its trial."""
        found: dict[str, TrialState] = {}
        for trial in self.trials:
            for run_id in (*trial.run_ids, *([trial.run_id] if trial.run_id else [])):
                found[run_id] = trial
        return found


class Journals:
    """Experiment states read from journals, cached by the file's size and mtime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], ExperimentState]] = {}

    def state(self, directory: Path) -> ExperimentState:
        """The journal's state (``PipetuneError`` for one that can't be read)."""
        path = directory / JOURNAL_FILE
        try:
            info = path.stat()
        except FileNotFoundError:
            return ExperimentState()
        except OSError as exc:
            raise UsageError(f"{path}: can't read the journal: {exc.strerror or exc}") from None
        key = (info.st_size, info.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
        state = Journal(path).state()
        with self._lock:
            self._cache[path] = (key, state)
        return state


_SHARED = Journals()


def experiment_view(record: RunRecord, journals: Journals | None = None) -> ExperimentView:
    """The experiment whose own run is ``record``."""
    if not record.outputs_dir:
        return ExperimentView(record, None, "no experiment directory recorded")
    try:
        return ExperimentView(record, (journals or _SHARED).state(Path(record.outputs_dir)))
    except PipetuneError as exc:
        return ExperimentView(record, None, str(exc))


def is_experiment(record: RunRecord) -> bool:
    return record.parent_id is None and record.component.startswith(EXPERIMENT_PREFIX)


def is_pipeline(record: RunRecord) -> bool:
    return record.parent_id is None and record.component.startswith(PIPELINE_PREFIX)


def experiments(store: RunStore, journals: Journals | None = None, limit: int | None = None) -> list[ExperimentView]:
    """Every experiment in the store, newest first."""
    records = store.query(RunQuery(component=EXPERIMENT_PREFIX + "*", top_level=True, limit=limit))
    return [experiment_view(r, journals) for r in records]


def find_experiment(store: RunStore, key: str, journals: Journals | None = None) -> ExperimentView:
    """The experiment named ``key``, or whose run id (or a unique prefix of one) is ``key``."""
    named = store.query(RunQuery(component=EXPERIMENT_PREFIX + _glob_escape(key), top_level=True))
    if len(named) > 1:
        raise UsageError(
            f"{len(named)} experiments are named {key!r} (in different directories): "
            + ", ".join(r.id for r in named) + "; name one by its run id"
        )
    if named:
        return experiment_view(named[0], journals)
    try:
        record = store.get(key)
    except UsageError:
        raise UsageError(f"no experiment {key!r} in {store.path}; `pipetune experiments list` shows them") from None
    if not is_experiment(record):
        raise UsageError(f"run {record.id} is not an experiment (it is {record.component})")
    return experiment_view(record, journals)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def trial_index(store: RunStore, records: Iterable[RunRecord], journals: Journals | None = None) -> dict[str, TrialState]:
    """The trial each of ``records`` ran, for those that are trials of an experiment."""
    parents = {r.parent_id for r in records if r.parent_id}
    found: dict[str, TrialState] = {}
    for parent_id in parents:
        parent = store.find(parent_id)
        if parent is not None and is_experiment(parent):
            found.update(experiment_view(parent, journals).trial_of_run())
    return found


class Histories:
    """Each run's reported ``history`` (from its results.yaml), cached by the file's size and
    mtime: a running trial rewrites it at every report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], list[dict[str, float]]]] = {}

    def history(self, outputs_dir: Path) -> list[dict[str, float]]:
        path = outputs_dir / RESULTS_FILE
        try:
            info = path.stat()
        except OSError:
            return []
        key = (info.st_size, info.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            found = read_results(outputs_dir).history
        except PipetuneError:
            found = []
        with self._lock:
            self._cache[path] = (key, found)
        return found


_HISTORIES = Histories()


def trial_curves(
    view: ExperimentView, store: RunStore, histories: Histories | None = None
) -> dict[int, list[tuple[float, float]]]:
    """Each trial's intermediate values of the objective metric: its journaled curve, else the
    history in its (latest) run's results.yaml."""
    metric = view.state.metric if view.state else None
    if not metric:
        return {}
    runs = {r.id: r for r in store.children([view.id]).get(view.id, [])}
    found: dict[int, list[tuple[float, float]]] = {}
    for trial in view.trials:
        if trial.curve:
            found[trial.index] = [(float(s), float(v)) for s, v in trial.curve]
            continue
        record = runs.get(trial.run_id or "")
        if record is not None and record.outputs_dir:
            pairs = curve_of((histories or _HISTORIES).history(Path(record.outputs_dir)), metric)
            if pairs:
                found[trial.index] = pairs
    return found


def curve_of(history: Iterable[Mapping[str, object]], metric: str) -> list[tuple[float, float]]:
    """(step, value) of ``metric`` from a results ``history`` (a step defaults to its position)."""
    pairs = []
    for position, entry in enumerate(history):
        value = entry.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            step = entry.get("step", position)
            pairs.append((float(step) if isinstance(step, (int, float)) else float(position), float(value)))
    return pairs


def scored(trials: Iterable[TrialState]) -> list[TrialState]:
    """The trials that have an objective value (succeeded or stopped early)."""
    return [t for t in trials if t.objective is not None and t.status in (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)]


def state_dir_line(store: RunStore) -> str:
    """Where runs are recorded, for headers and first-run notices."""
    where = str(store.state_dir)
    try:
        relative = os.path.relpath(where)
        if not relative.startswith(".."):
            where = f"{where} (./{relative})" if relative != "." else where
    except ValueError:
        pass
    return where


__all__ = [
    "EXPERIMENT_PREFIX",
    "PIPELINE_PREFIX",
    "ExperimentView",
    "Histories",
    "curve_of",
    "trial_curves",
    "Journals",
    "experiment_view",
    "experiments",
    "find_experiment",
    "is_experiment",
    "is_pipeline",
    "parse_age",
    "parse_since",
    "scored",
    "state_dir_line",
    "trial_index",
]
