"""The experiment journal: one JSON object per line, appended with fsync, replayed into state.

A crash at any byte leaves it readable: a torn last line (one without its newline, what a
``kill -9`` or a full disk mid-append leaves) is ignored on replay and cut off before the next
append. Each record is written whole with ``os.write`` (looping: it may write less) to an
``O_APPEND`` file, so a killed tuner loses none it finished writing (the kernel holds what
was written). Results (``trial_finished``, ``experiment_finished``) are also flushed to disk,
in groups: ``sync`` makes every result appended since the last one durable with one
fdatasync, and the tuner calls it before anything tells anyone a trial finished (a progress
line, a raised error, the returned result) and at least every ``Journal.SYNC_WINDOW``
seconds; the file's directory is synced when the file is created. So a machine that loses
power keeps every result anyone was told of, and loses at most the last window's unreported
ones, which a resume runs again. A suggestion or a start lost that way is harmless:
suggestions are a pure function of the seed and the finished trials, so a resumed tuner makes
the same one again. An append
that fails (a full disk) is cut back to where the record began and raised as a ``RunError``
naming the file: no half record is ever followed by another.

Any other bad line (not JSON, not a record, or a record that does not fit the state before it:
a trial never created, a field missing or of the wrong type) is a ``JournalError`` naming the
file and line, and a resume refuses to guess past it. ``Journal.repair`` (``pipetune tune
--repair``) keeps a copy of the file (``journal.jsonl.bak-<time>``) and keeps the records
before the first bad line, dropping it and every line after it: those may depend on it (a
result for a trial whose creation was lost), and what they held is recomputed, since the
resumed tuner suggests the same trials again and runs those whose results were dropped. Blank
lines are skipped.

State changes only by applying records: ``apply(state, record) -> state`` is the one
transition, used by the live tuner on every record it appends and by ``replay`` on a restart,
so a restarted tuner holds exactly the state the live one held when the journal ended.

Records (``op`` plus fields), version 1:

- ``experiment_started``: ``version``, ``name``, ``seed``, ``spec`` (the digest of the spec),
  ``metric`` and ``minimize`` (the objective), ``parameters`` (their names), ``time``, and
  ``identity`` (what defines the experiment, ``tuner.identity``) with its ``fingerprint``;
  journals written before identities lack both and are resumed as they are
- ``trial_created``: ``trial``, ``assignment``, ``internal``, ``time``
- ``trial_starting``: ``trial``, ``attempt``, ``run_id``, ``time``: journaled before the run
  is submitted, so a resume can always find (and end) a run whose start was cut short;
  older pipetune versions ignore it
- ``trial_started``: ``trial``, ``attempt``, ``run_id``, ``pgid`` (local engine), ``time``
- ``trial_finished``: ``trial``, ``attempt``, ``status``, ``objective``, ``metrics``, ``reason``,
  ``message``, ``run_id``, ``time``, and with early stopping ``curve`` (``[[step, value], ...]``
  of the objective metric; readers of older journals ignore it), and for a failed trial whose
  run left one ``error`` (its traceback or the end of its stderr), and in a multi-objective
  experiment ``values`` (each objective's value, ``spec.objectives`` order)
- ``experiment_finished``: ``status``, ``reason``, ``message``, ``time``
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pipetune.atomic import atomic_write_bytes, fsync_directory, make_directories, write_all
from pipetune.errors import RunError, SpecError
from pipetune.tuner.history import TrialRecord, TrialStatus

JOURNAL_VERSION = 1
JOURNAL_FILE = "journal.jsonl"

#: What a resume refused by a bad line is told.
REPAIR_HINT = (
    "a resume will not guess past it; `pipetune tune --repair` keeps a copy of the journal "
    "and drops this line and every line after it"
)


@dataclass(frozen=True)
class JournalLine:
    """One complete line of a journal file, checked against the state the lines before it
    give: ``problem`` says why it is bad (None when it is a good record)."""

    number: int
    offset: int
    record: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class Repair:
    """What ``Journal.repair`` did: ``kept`` records (lines before ``first_bad``) are the new
    journal, ``dropped`` lines from ``first_bad`` on are only in ``backup``."""

    path: Path
    backup: Path
    kept: int
    first_bad: int
    dropped: int
    problem: str

    def describe(self) -> str:
        """One line for the user."""
        return (
            f"{self.path}: line {self.first_bad}: {self.problem}; kept the {self.kept} records before "
            f"it, dropped {self.dropped} line{'s' if self.dropped != 1 else ''} from there on; the "
            f"original is {self.backup}"
        )


class Journal:
    """An append-only JSONL file. ``append`` is atomic per record and durable (fsync)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._checked = False
        #: When the oldest result not yet flushed to disk was appended (``time.monotonic``);
        #: None when every result is durable.
        self.unsynced_since: float | None = None
        self._flusher: _Flusher | None = None
        #: The file, kept open between appends (``_append``); None until the first.
        self._fd: int | None = None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record, oldest first; a torn last line is skipped. A bad line is a
        ``JournalError`` naming the file and line (see the module docstring); a file that
        can't be read is a ``RunError``."""
        for line, _ in self._applied():
            if line.problem is not None:
                raise JournalError(f"{self.path}: line {line.number}: {line.problem}; {REPAIR_HINT}")
            if line.record is not None:
                yield line.record

    def state(self) -> ExperimentState:
        """What ``replay(self.records())`` gives, with each record applied once: the check of
        every line already is its application."""
        state = ExperimentState()
        for line, state in self._applied():  # noqa: B007 - the last state is the answer
            if line.problem is not None:
                raise JournalError(f"{self.path}: line {line.number}: {line.problem}; {REPAIR_HINT}")
        return state

    def lines(self) -> Iterator[JournalLine]:
        """Every complete line, each checked by applying it to the state of the good records
        before it (``apply``, as ``replay`` will); blank lines are skipped. A record of a newer
        journal version is a ``SpecError``: not a bad line, and not one to repair away."""
        for line, _ in self._applied():
            yield line

    def _applied(self) -> Iterator[tuple[JournalLine, ExperimentState]]:
        """Every line (as ``lines``) with the state of the good records up to it."""
        state = ExperimentState()
        for number, offset, raw in self._raw_lines():
            if not raw.strip():
                continue
            record, problem = _parse(raw)
            if record is not None:
                try:
                    state = apply(state, record)
                except JournalError as exc:
                    problem = str(exc)
                except (KeyError, ValueError, TypeError, AttributeError) as exc:
                    problem = _misfit(record, exc)
                except SpecError as exc:
                    raise SpecError(f"{self.path}: line {number}: {exc}") from None
            yield JournalLine(number, offset, record if problem is None else None, problem), state

    def _raw_lines(self) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte offset, bytes) of every line that ends in a newline."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RunError(f"{self.path}: can't read the journal: {_why(exc, self.path)}") from None
        with handle:
            offset = 0
            number = 0
            while True:
                try:
                    raw = handle.readline()
                except OSError as exc:
                    raise RunError(f"{self.path}: can't read the journal: {_why(exc, self.path)}") from None
                if not raw.endswith(b"\n"):
                    return  # the end, or a last line torn by a crash mid-append
                number += 1
                yield number, offset, raw
                offset += len(raw)

    def repair(self) -> Repair | None:
        """Drop the first bad line and every line after it, keeping the original as
        ``<name>.bak-<time>``; None when there is no bad line (a torn last line is not one:
        the next append cuts it). The copy is written, durably, before the journal is."""
        with self._lock:
            lines = list(self.lines())
            first = next((line for line in lines if line.problem is not None), None)
            if first is None:
                return None
            try:
                data = self.path.read_bytes()
                backup = self._backup_path()
                atomic_write_bytes(backup, data)
                atomic_write_bytes(self.path, data[: first.offset])
            except OSError as exc:
                raise RunError(f"{self.path}: can't repair the journal: {_why(exc, self.path)}") from None
            self._checked = False
            self._close_fd()
            kept = sum(1 for line in lines if line.number < first.number and line.record is not None)
            dropped = data[first.offset:].count(b"\n") + (0 if data.endswith(b"\n") else 1)
            return Repair(self.path, backup, kept, first.number, dropped, first.problem or "")

    def _backup_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.bak-{stamp}")
        number = 1
        while backup.exists():
            backup = self.path.with_name(f"{self.path.name}.bak-{stamp}-{number}")
            number += 1
        return backup

    #: Records worth an fdatasync (see the module docstring).
    DURABLE = frozenset({"trial_finished", "experiment_finished"})
    #: The longest a result waits for its fdatasync when nobody has been told of it (seconds).
    SYNC_WINDOW = 1.0

    def append(self, op: str, **fields: Any) -> dict[str, Any]:
        """Write one record, whole, or raise ``RunError`` (the file left as it was)."""
        record = {"op": op, **fields}
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
        with self._lock:
            try:
                self._append(line)
            except OSError as exc:
                raise RunError(
                    f"{self.path}: can't append to the journal: {_why(exc, self.path)} "
                    "(the record was not written)"
                ) from None
            if op in self.DURABLE and self.unsynced_since is None:
                self.unsynced_since = time.monotonic()
                if self._flusher is not None:
                    self._flusher.wake()
        return record

    def flush_in_background(self, on: bool = True) -> None:
        """Start (or with ``on=False`` stop) a thread that flushes results once they have
        waited ``SYNC_WINDOW``, for when nothing calls ``sync_if_due`` meanwhile: a trial that
        runs on the tuner's own thread (``FunctionEngine`` inline) keeps its loop from turning
        for as long as the trial runs. The tuner runs one while it runs."""
        with self._lock:
            if on:
                if self._flusher is None:
                    self._flusher = _Flusher(self)
                return
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()

    def _append(self, line: bytes) -> None:
        if not self._checked:
            self._close_fd()
            self._truncate_torn_tail()
            self._checked = True
        fd = self._fd
        info = os.fstat(fd) if fd is not None else None
        if fd is None or info is None or info.st_nlink == 0:
            # Opened once and kept (an open and a close per record were most of an append's
            # cost); opened again when the file was replaced meanwhile (its name now leads to
            # another file: ``repair``). ``close`` lets it go, and whoever moves the file away
            # (``Tuner`` starting over) closes first.
            self._close_fd()
            fd = self._fd = self._open_for_append()
            info = os.fstat(fd)
        start = info.st_size
        try:
            write_all(fd, line)
        except OSError:
            # Never leave half a record for the next one to run into.
            try:
                os.ftruncate(fd, start)
            except OSError:
                self._checked = False  # the next append cuts the torn line first
            raise

    def _open_for_append(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags)
        except FileNotFoundError:
            make_directories(self.path.parent)
            fd = os.open(self.path, flags | os.O_CREAT, 0o644)
        try:
            fsync_directory(self.path.parent)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Let the file go (the next append opens it again): before the file is moved away,
        and when the tuner is done with it."""
        with self._lock:
            self._close_fd()

    def sync(self) -> None:
        """Flush every result appended since the last ``sync`` to disk, with one fdatasync
        (group commit), or raise ``RunError`` naming the file. Nothing to do when none is
        waiting."""
        with self._lock:
            if self.unsynced_since is None:
                return
            try:
                if self._fd is not None and os.fstat(self._fd).st_nlink > 0:
                    _sync(self._fd)  # the file the results went to
                else:
                    fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                    try:
                        _sync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                raise RunError(f"{self.path}: can't flush the journal to disk: {_why(exc, self.path)}") from None
            self.unsynced_since = None

    def sync_if_due(self) -> None:
        """``sync`` when a result has waited ``SYNC_WINDOW`` for it: what the tuner calls at
        the end of each turn, so results nobody was told of are grouped into one fdatasync."""
        since = self.unsynced_since
        if since is not None and time.monotonic() - since >= self.SYNC_WINDOW:
            self.sync()

    def _truncate_torn_tail(self) -> None:
        """Cut a partial last line so the next record starts on a line of its own."""
        try:
            handle = open(self.path, "r+b")
        except FileNotFoundError:
            return
        with handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            data = self.path.read_bytes()
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())


class _Flusher:
    """The thread of ``Journal.flush_in_background``: woken when a result waits for its flush
    (once per group, not per record), it sleeps until the result's window is over and flushes
    unless someone did meanwhile. A failed flush is left to the tuner's next ``sync``, which
    raises it; this thread tries again a window later."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.condition = threading.Condition()
        self.stopped = False
        threading.Thread(target=self._run, daemon=True, name="pipetune-journal-flush").start()

    def wake(self) -> None:
        with self.condition:
            self.condition.notify()

    def stop(self) -> None:
        with self.condition:
            self.stopped = True
            self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                if self.stopped:
                    return
                since = self.journal.unsynced_since
                if since is None:
                    self.condition.wait()
                    continue
                remaining = since + self.journal.SYNC_WINDOW - time.monotonic()
                if remaining > 0:
                    self.condition.wait(remaining)
                    continue
            try:
                self.journal.sync()
            except RunError:
                with self.condition:
                    self.condition.wait(self.journal.SYNC_WINDOW)


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A line's record, or why it is none."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    except ValueError:  # UnicodeDecodeError
        return None, "not JSON (not UTF-8 text)"
    if not isinstance(record, dict):
        return None, f"not a journal record (a JSON {type(record).__name__}, not an object)"
    if not isinstance(record.get("op"), str):
        return None, 'not a journal record (no "op")'
    return record, None


def _why(exc: OSError, path: Path) -> str:
    """What went wrong, naming the file it went wrong on when that is not ``path``."""
    why = exc.strerror or str(exc)
    if exc.filename is not None and Path(os.fsdecode(exc.filename)) != path:
        why += f" ({os.fsdecode(exc.filename)})"
    return why


def _misfit(record: Mapping[str, Any], exc: Exception) -> str:
    """Why ``apply`` could not take ``record``, from what it raised."""
    if isinstance(exc, KeyError):
        return f"the {record.get('op')!r} record has no {exc.args[0]!r} field"
    return f"the {record.get('op')!r} record has a bad field ({exc})"


class MemoryJournal:
    """The journal as a list of records, for a tuner whose state lives elsewhere: the
    controller keeps it in its parent's ``status`` (see ``pipetune.controller``).

    ``append`` only records; ``sync`` hands every record to ``save`` when some are unsaved.
    The tuner syncs before it starts trials it has just suggested, so a restarted controller
    never finds a child whose suggestion it has lost. A given record that is not one (no
    ``op``), or does not fit the state before it, is a ``JournalError`` naming its index, as
    a bad line of a journal file is: it was skipped without a word.
    """

    def __init__(
        self,
        records: list[Mapping[str, Any]] | None = None,
        save: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        for index, record in enumerate(records or []):
            if not isinstance(record, Mapping) or not isinstance(record.get("op"), str):
                raise JournalError(f"journal record {index}: not a journal record (no \"op\"): {str(record)[:200]}")
        self.entries: list[dict[str, Any]] = [dict(r) for r in records or []]
        self.save = save
        self.unsaved = False

    def records(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.entries))

    def state(self) -> ExperimentState:
        """What the records give (``replay``); a ``JournalError`` for one that does not fit."""
        state = ExperimentState()
        for index, record in enumerate(self.entries):
            try:
                state = apply(state, record)
            except (KeyError, ValueError, TypeError) as exc:
                if isinstance(exc, SpecError):
                    raise
                raise JournalError(f"journal record {index}: {_misfit(record, exc)}") from None
        return state

    def append(self, op: str, **fields: Any) -> dict[str, Any]:
        record = {"op": op, **fields}
        # The same check the file journal makes: a record must survive JSON.
        json.dumps(record, allow_nan=False)
        self.entries.append(record)
        self.unsaved = True
        return record

    def sync(self) -> None:
        if self.unsaved and self.save is not None:
            self.save(list(self.entries))
        self.unsaved = False

    def sync_if_due(self) -> None:
        """Always ``sync``: the controller saves its records at every turn of the loop."""
        self.sync()


def _sync(fd: int) -> None:
    """Make the appended record durable; the data, not the file's timestamps, is what counts."""
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


@dataclass(frozen=True)
class TrialState:
    """One trial as the journal knows it. Immutable: ``apply`` replaces it."""

    index: int
    assignment: dict[str, Any]
    internal: dict[str, Any] | None = None
    status: TrialStatus = TrialStatus.PENDING
    attempt: int = 0
    run_id: str | None = None
    pgid: int | None = None
    objective: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    run_ids: tuple[str, ...] = ()
    #: The objective metric's intermediate values, (step, value) oldest first, as the trial
    #: ended (journaled when early stopping needs them); None when not recorded.
    curve: tuple[tuple[int, float], ...] | None = None
    #: What the failed attempt left: its traceback, or the end of its stderr; None otherwise.
    error: str | None = None
    #: A multi-objective trial's value of each objective (``spec.objectives`` order); None
    #: for a single-objective one, whose value is ``objective``.
    values: tuple[float, ...] | None = None
    #: The history entry an algorithm sees, made once: the history is rebuilt for every
    #: suggestion, and a trial that changes is a new TrialState.
    _records: dict[bool, TrialRecord] = field(default_factory=dict, init=False, compare=False, repr=False)

    def record(self, minimize: bool) -> TrialRecord:
        """This trial as an algorithm sees it, with the objective turned into a loss."""
        found = self._records.get(minimize)
        if found is None:
            found = self._records[minimize] = self._make_record(minimize)
        return found

    def _make_record(self, minimize: bool) -> TrialRecord:
        loss = None
        if self.objective is not None and self.status in (
            TrialStatus.SUCCEEDED,
            TrialStatus.EARLY_STOPPED,
        ):
            loss = self.objective if minimize else -self.objective
        return TrialRecord(self.index, self.assignment, self.status, loss, self.internal)


@dataclass(frozen=True)
class ExperimentState:
    """Everything the journal says about an experiment. Immutable: ``apply`` replaces it."""

    name: str | None = None
    seed: int | None = None
    spec_digest: str | None = None
    metric: str | None = None
    minimize: bool = False
    parameters: tuple[str, ...] = ()
    #: What defines the experiment (``tuner.identity``), as its latest start recorded it;
    #: None for a journal written before identities.
    identity: Mapping[str, Any] | None = None
    fingerprint: str | None = None
    trials: Mapping[int, TrialState] = field(default_factory=dict)
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    #: How many leading trials are known to be settled for good (``policy.settled_prefix``): a
    #: cache that only grows, shared by the states that follow this one.
    settled_cache: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)
    #: The algorithm's view of the settled trials (``policy.history_for``), by cache key: like
    #: ``settled_cache``, it only grows and is shared by the states that follow this one.
    history_cache: dict[Any, tuple[list[TrialState], list[TrialRecord]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: What is derived from the trials (``derive``): set by ``apply`` for every state it makes.
    derived: Derived = field(default_factory=lambda: Derived(), compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.status is not None

    def ordered(self) -> list[TrialState]:
        """The trials by index (a new list; kept between calls, updated trial by trial)."""
        ordered: list[TrialState] = self.derive(("ordered",), self._sorted, _ordered_step)
        return list(ordered)

    def _sorted(self) -> list[TrialState]:
        return [self.trials[i] for i in sorted(self.trials)]

    def derive(self, key: Any, whole: Callable[[], V], step: Callable[[V, TrialState | None, TrialState], Any]) -> V:
        """A value derived from the trials, computed once for this state: by ``step(value,
        old, new)`` from a recent state's value, once per trial that changed since (``old``
        None for a new trial; ``step`` returns ``RECOMPUTE`` when it can't), else by
        ``whole()``. ``key`` names the value and whatever it depends on besides the trials (the
        objective's direction, say), so several can live side by side. The value is shared:
        never change it."""
        return self.derived.get(key, whole, step)


V = TypeVar("V")
#: What a ``derive`` step returns when the value must be computed whole instead.
RECOMPUTE: Any = object()
#: How many states a derived value is carried through, step by step, before it is computed
#: whole again: bounds the chain of earlier states' changes kept alive.
_DERIVE_DEPTH = 32


class Derived:
    """The derived values of one state (``ExperimentState.derive``), and the way to its
    predecessor's: the change ``apply`` made (the trial before and after), so a value is
    updated per changed trial instead of recomputed from every trial. Replaying or running a
    long experiment therefore costs per record what the record changes, not the history."""

    __slots__ = ("values", "base", "old", "new", "depth")
    depth: int

    def __init__(
        self, base: Derived | None = None, old: TrialState | None = None, new: TrialState | None = None
    ) -> None:
        self.values: dict[Any, Any] = {}
        if base is not None and not base.values and base.depth >= _DERIVE_DEPTH:
            base = None  # nothing near to step from: computed whole when asked
        self.base = base
        self.old = old
        self.new = new
        self.depth = 0 if base is None or base.values else base.depth + 1

    def get(self, key: Any, whole: Callable[[], V], step: Callable[[V, TrialState | None, TrialState], Any]) -> V:
        if key in self.values:
            return self.values[key]
        chain: list[Derived] = []
        node: Derived | None = self
        while node is not None and key not in node.values:
            chain.append(node)
            node = node.base
        value: Any = RECOMPUTE
        if node is not None:
            value = node.values[key]
            for link in reversed(chain):
                if link.new is not None:
                    value = step(value, link.old, link.new)
                    if value is RECOMPUTE:
                        break
        if value is RECOMPUTE:
            value = whole()
        self.values[key] = value
        return value


def _ordered_step(ordered: list[TrialState], old: TrialState | None, new: TrialState) -> Any:
    """``ordered`` after one trial changed: appended or replaced in place when the trials are
    numbered 0, 1, ... (as the tuner numbers them), else computed whole."""
    position = new.index
    if old is None:
        if position != len(ordered):
            return RECOMPUTE
        return [*ordered, new]
    if position >= len(ordered) or ordered[position].index != position:
        return RECOMPUTE
    changed = list(ordered)
    changed[position] = new
    return changed


class JournalError(SpecError):
    """A journal record that does not fit the state it is applied to."""


def apply(state: ExperimentState, record: Mapping[str, Any]) -> ExperimentState:
    """The state after ``record`` (pure: ``state`` is left as it was). The only transition."""
    op = record["op"]
    if op == "experiment_started":
        version = record.get("version", 1)
        if version > JOURNAL_VERSION:
            raise SpecError(
                f"journal version {version} is newer than this pipetune reads "
                f"({JOURNAL_VERSION}); upgrade pipetune"
            )
        # A resumed experiment that had finished (and is extended) goes on running.
        return replace(
            state,
            derived=Derived(state.derived),
            name=record.get("name"),
            seed=record.get("seed"),
            spec_digest=record.get("spec"),
            metric=record.get("metric", state.metric),
            minimize=bool(record.get("minimize", state.minimize)),
            parameters=tuple(record.get("parameters", state.parameters)),
            identity=record.get("identity", state.identity),
            fingerprint=record.get("fingerprint", state.fingerprint),
            status=None,
            reason=None,
            message=None,
        )
    if op == "trial_created":
        index = int(record["trial"])
        trial = TrialState(index, dict(record["assignment"]), record.get("internal"))
        return _with_trial(state, trial)
    if op in ("trial_starting", "trial_started"):
        # trial_starting is the intent, journaled before the run exists, so a tuner killed
        # while starting it finds the run to end on resume; trial_started confirms it.
        trial = _trial(state, record)
        run_id = record.get("run_id")
        known = bool(run_id) and trial.run_ids[-1:] == (run_id,)
        trial = replace(
            trial,
            status=TrialStatus.RUNNING,
            attempt=int(record.get("attempt", 0)),
            run_id=run_id,
            pgid=record.get("pgid", trial.pgid if known else None),
            run_ids=(*trial.run_ids, run_id) if run_id and not known else trial.run_ids,
        )
        return _with_trial(state, trial)
    if op == "trial_finished":
        trial = _trial(state, record)
        trial = replace(
            trial,
            status=TrialStatus(record["status"]),
            # The attempt that ended: one that failed before it started (an invalid trial)
            # has no trial_started record of its own.
            attempt=int(record.get("attempt", trial.attempt)),
            objective=record.get("objective"),
            metrics=dict(record.get("metrics") or {}),
            reason=record.get("reason"),
            message=record.get("message"),
            curve=_curve(record.get("curve")),
            error=record.get("error"),
            values=_values(record.get("values")),
        )
        return _with_trial(state, trial)
    if op == "experiment_finished":
        return replace(
            state, derived=Derived(state.derived), status=record.get("status"), reason=record.get("reason"),
            message=record.get("message"),
        )
    return state  # a record of a later minor version: nothing this version acts on


def _with_trial(state: ExperimentState, trial: TrialState) -> ExperimentState:
    """``state`` with ``trial`` put in (new or replacing its earlier self)."""
    return replace(
        state,
        trials={**state.trials, trial.index: trial},
        derived=Derived(state.derived, state.trials.get(trial.index), trial),
    )


def _curve(value: Any) -> tuple[tuple[int, float], ...] | None:
    if not isinstance(value, list):
        return None
    return tuple((int(step), float(v)) for step, v in value)


def _values(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    return tuple(float(v) for v in value)


def _trial(state: ExperimentState, record: Mapping[str, Any]) -> TrialState:
    index = record.get("trial")
    if not isinstance(index, int) or index not in state.trials:
        raise JournalError(f"journal record {record.get('op')!r} names trial {index!r}, which was never created")
    return state.trials[index]


def replay(records: Iterable[Mapping[str, Any]]) -> ExperimentState:
    """Rebuild the experiment's state from journal records: ``apply`` from the empty state."""
    state = ExperimentState()
    for record in records:
        state = apply(state, record)
    return state


def load_state(directory: str | os.PathLike[str]) -> ExperimentState:
    """The state of the experiment whose directory is ``directory`` (empty if new)."""
    return Journal(Path(directory) / JOURNAL_FILE).state()
