"""What was run, read back: experiments (a run-store row plus the journal in its directory),
their trials mapped to runs, and the time filters ``runs list`` and the dashboard share.

``Source`` is where the dashboard reads all this: ``LocalSource`` over a state directory, or
the cluster's (``pipetune.ui.ClusterSource``: CustomRuns and Experiments with the journal in
their status). Both answer in the same shapes, so one API serves either.

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
from typing import Any, Protocol

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
    #: The cluster resource it is (``CustomRun ns/name``); None for a local experiment.
    resource: str | None = None

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


# -- where the dashboard reads from ---------------------------------------------------------


class Refused(UsageError):
    """A path a request may not read (outside the run's folder); the dashboard answers 403."""


class NotFound(UsageError):
    """Something a request names that is not there; the dashboard answers 404."""


class Source(Protocol):
    """Where the dashboard reads experiments and runs: ``LocalSource`` (a state directory) or
    ``pipetune.ui.ClusterSource`` (a namespace of a cluster). Runs are queried in ``store``
    (for a cluster, a scratch mirror of its trials), so filters mean the same on both."""

    #: ``local`` or ``kubernetes``: the ``--engine`` the dashboard was started with.
    engine: str
    #: What the dashboard reads, for its header: a state directory, a cluster's namespace.
    where: str
    #: Why a write is refused (every write is: the dashboard only reads).
    read_only: str
    store: RunStore

    def refresh(self) -> None:
        """Bring ``store`` up to date with what it mirrors (a cluster's), if it mirrors one."""
        ...

    def experiments(self) -> list[ExperimentView]:
        """Every experiment, newest first."""
        ...

    def experiment(self, experiment_id: str) -> ExperimentView | None:
        """The experiment with this id, or None."""
        ...

    def trial_records(self, view: ExperimentView) -> dict[int, RunRecord]:
        """Each trial's (latest) run, by trial index."""
        ...

    def trials(self, records: Iterable[RunRecord]) -> dict[str, TrialState]:
        """The trial each of ``records`` ran, for those that are trials."""
        ...

    def curves(self, view: ExperimentView) -> dict[int, list[tuple[float, float]]]:
        """Each trial's intermediate values of the objective metric, (step, value)."""
        ...

    def fingerprint(self, view: ExperimentView) -> tuple[Any, ...]:
        """Changes whenever what the experiment's page shows may have changed."""
        ...

    def history(self, record: RunRecord) -> list[dict[str, float]]:
        """The run's reported history, oldest first."""
        ...

    def results(self, record: RunRecord) -> dict[str, Any] | None:
        """The run's results (metrics, outputs, artifacts), None when there are none."""
        ...

    def logs(self, record: RunRecord) -> list[dict[str, Any]]:
        """The run's logs: ``path`` (a name for ``log``), ``size`` (None: unknown)."""
        ...

    def log(self, record: RunRecord, name: str, tail: int) -> bytes:
        """The log ``name`` (its last ``tail`` lines; 0: all); ``Refused``/``NotFound``."""
        ...

    def files(self, record: RunRecord) -> list[dict[str, Any]]:
        """The run's output files: ``path``, ``size``, ``modified`` (a cluster's: ``uri``
        and ``note``, why it is not read, too)."""
        ...

    def files_note(self, record: RunRecord) -> str | None:
        """Why the run shows no output files, where a user could not tell (None: no note)."""
        ...

    def file(self, record: RunRecord, name: str) -> bytes:
        """The output file ``name``; ``Refused``/``NotFound``."""
        ...


#: The most files a run's listing shows.
MAX_FILES = 1000


class LocalSource:
    """A state directory: its run store, the journals in the experiments' directories, each
    run's logs and outputs folders."""

    engine = "local"
    read_only = ("the dashboard only reads the run store: change it with `pipetune runs delete`, "
                 "`pipetune runs gc` or `pipetune experiments delete`")

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.store = RunStore(state_dir)
        self.where = str(self.store.state_dir)
        self.journals = Journals()
        self.histories = Histories()

    def refresh(self) -> None:
        """Nothing to do: the store is the state directory's own."""

    def experiments(self) -> list[ExperimentView]:
        return experiments(self.store, self.journals)

    def experiment(self, experiment_id: str) -> ExperimentView | None:
        record = self.store.find(experiment_id)
        if record is None or not is_experiment(record):
            return None
        return experiment_view(record, self.journals)

    def trial_records(self, view: ExperimentView) -> dict[int, RunRecord]:
        runs = {r.id: r for r in self.store.children([view.id]).get(view.id, [])}
        return {t.index: runs[t.run_id] for t in view.trials if t.run_id in runs}

    def trials(self, records: Iterable[RunRecord]) -> dict[str, TrialState]:
        return trial_index(self.store, records, self.journals)

    def curves(self, view: ExperimentView) -> dict[int, list[tuple[float, float]]]:
        return trial_curves(view, self.store, self.histories)

    def fingerprint(self, view: ExperimentView) -> tuple[Any, ...]:
        parts: list[Any] = [_stat(self.store.path), _stat(self.store.path.with_name("runs.db-wal"))]
        if view.directory:
            parts.append(_stat(view.directory / JOURNAL_FILE))
        for trial in view.trials:
            if not trial.status.final and trial.run_id:
                parts.append(_stat(self.store.run_dir(trial.run_id) / "outputs" / RESULTS_FILE))
        if view.record.status == "Running":
            parts.append(int(time.time()) // 5)  # durations shown move on
        return tuple(parts)

    def history(self, record: RunRecord) -> list[dict[str, float]]:
        if not record.outputs_dir or is_experiment(record):
            return []
        return self.histories.history(Path(record.outputs_dir))

    def results(self, record: RunRecord) -> dict[str, Any] | None:
        if not record.outputs_dir or is_experiment(record):
            return None
        try:
            results = read_results(Path(record.outputs_dir))
        except PipetuneError:
            return None
        return {"metrics": results.metrics, "outputs": results.outputs, "artifacts": results.artifacts}

    def logs(self, record: RunRecord) -> list[dict[str, Any]]:
        return listing(self.store.run_dir(record.id) / "logs", MAX_FILES)

    def log(self, record: RunRecord, name: str, tail: int) -> bytes:
        path = contained(self.store.run_dir(record.id) / "logs", name, "log")
        return tail_of(path, tail) if tail else path.read_bytes()

    def files(self, record: RunRecord) -> list[dict[str, Any]]:
        if not record.outputs_dir or is_experiment(record):
            return []
        return listing(Path(record.outputs_dir), MAX_FILES)

    def files_note(self, record: RunRecord) -> str | None:
        return None  # the outputs directory shown is the whole story

    def file(self, record: RunRecord, name: str) -> bytes:
        if not record.outputs_dir:
            raise NotFound(f"run {record.id} has no outputs directory")
        return contained(Path(record.outputs_dir), name, "file").read_bytes()


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


def contained(folder: Path, name: str, what: str) -> Path:
    """``folder/name``, ``Refused`` unless it is a file inside ``folder`` once every link is
    followed; ``..``, absolute paths and NUL bytes are refused before any lookup."""
    relative_name(name, what)
    try:
        root = Path(os.path.realpath(folder))
        target = Path(os.path.realpath(folder / name))
        target.relative_to(root)
    except ValueError:
        raise Refused(f"{what} path {name!r} refused: it leads outside the run's folder") from None
    if not target.is_file():
        raise NotFound(f"no {what} {name!r} in this run")
    return target


def relative_name(name: str, what: str) -> list[str]:
    """The pieces of ``name``, a relative path a request asks for; ``Refused`` when it has a
    ``..``, ``.`` or empty piece, a leading ``/``, a backslash or a NUL byte (nothing is looked
    up first, so no name reaches outside the folder or object it is taken under)."""
    pieces = name.split("/")
    if "\x00" in name or name.startswith("/") or any(p in ("", ".", "..") for p in pieces) or "\\" in name:
        raise Refused(f"{what} path {name!r} refused: expected a path inside the run's folder, "
                      "without '..' or a leading '/'")
    return pieces


def tail_of(path: Path, lines: int) -> bytes:
    """The last ``lines`` lines, reading backwards in blocks (a log may be huge)."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        position, data = end, b""
        while position > 0 and data.count(b"\n") <= lines:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    return last_lines(data, lines)


def last_lines(data: bytes, lines: int) -> bytes:
    """The last ``lines`` lines of ``data`` (a final newline kept as it was)."""
    kept = data.split(b"\n")
    if kept and kept[-1] == b"":
        kept = kept[:-1]
        return b"\n".join(kept[-lines:]) + b"\n"
    return b"\n".join(kept[-lines:])


def listing(folder: Path | None, limit: int) -> list[dict[str, Any]]:
    """Files under ``folder`` (relative paths, sizes), links never followed, at most ``limit``."""
    if folder is None or not folder.is_dir():
        return []
    found = []
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if path.is_symlink():
                continue
            found.append({"path": str(path.relative_to(folder)), "size": info.st_size, "modified": info.st_mtime})
            if len(found) >= limit:
                return found
    return found


__all__ = [
    "EXPERIMENT_PREFIX",
    "MAX_FILES",
    "LocalSource",
    "NotFound",
    "Refused",
    "Source",
    "contained",
    "relative_name",
    "last_lines",
    "listing",
    "tail_of",
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
