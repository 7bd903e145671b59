"""What a finished run produced: its results.yaml, or failing that, metrics from its log."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from pipetune.contract._log import LogMetrics
from pipetune.contract._results import Results, read_results, results_path
from pipetune.contract._tfevent import TFEventReader
from pipetune.errors import ContractError


def collect_results(
    directory: str | os.PathLike[str],
    log_lines: Iterable[str] = (),
    log_metrics: LogMetrics | None = None,
    *,
    from_log: Callable[[], Results | None] | None = None,
) -> Results | None:
    """The run's results: results.yaml when written (validated), else those its log holds,
    read as ``log_metrics`` says (default: every ``name=value`` or report line).

    ``from_log``, when given, gives the log's results instead of ``log_lines`` (say, a
    ``LogFollower``'s ``finish``, or ``log_metrics.read_file``); it is called only when
    results.yaml does not settle the results, so a run that wrote its metrics there costs no
    reading of its log.

    Raises ``ContractError`` for an invalid results.yaml; returns None when there are none.
    """
    read = from_log or (lambda: (log_metrics or LogMetrics()).read(log_lines))
    path = results_path(directory)
    if path.exists():
        results = read_results(path)
        if results.metrics:
            return results
        # A results.yaml with no metrics (say, only the checkpoint a run left) does not hide
        # the metrics its log reports.
        logged = read()
        if logged is None:
            return results
        return replace(results, metrics=dict(logged.metrics), history=results.history or logged.history)
    return read()


def read_log(path: str | os.PathLike[str], tail_bytes: int | None = None) -> list[str]:
    """The lines of a captured log file, or none when it does not exist; with ``tail_bytes``
    only the lines of its last ``tail_bytes`` bytes (the first of them maybe cut), however
    large the file. For metrics read ``LogMetrics.read_file`` or ``follow``, which stream."""
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            if tail_bytes is not None:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - tail_bytes))
            data = handle.read() if tail_bytes is None else handle.read(tail_bytes)
    except FileNotFoundError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


class Follower(Protocol):
    """A run's metrics source read as it grows: a log file, a metrics file, event files."""

    def advance(self, deadline: float | None = None) -> bool:
        """Read on until the end of what is there (or ``deadline``); True at the end."""
        ...

    def finish(self) -> Results | None:
        """Read the rest; the results of the whole source."""
        ...

    def results(self) -> Results | None:
        """The results of what was read so far."""
        ...


def follow_collector(log_metrics: LogMetrics | None, log_path: str | os.PathLike[str]) -> Follower:
    """The source Katib's collector would read for a run whose output is at ``log_path``: its
    TensorFlow event folder, its metrics file, or the log itself, read from the start."""
    spec = log_metrics or LogMetrics()
    if spec.tfevents:
        return TFEventReader(spec.tfevents, spec.names)
    return spec.follow(spec.file or log_path)


class ResultsWatch:
    """A running run's results.yaml ``history``, read again only when the file has changed
    (another inode, size or modification time) since the last read: a poller may ask on every
    turn and pays a ``stat`` while nothing is new. results.yaml is bounded in size by the
    contract (``pipetune.limits.RESULTS_MAX_BYTES``); an invalid one reads as nothing new."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = results_path(directory)
        self.seen: tuple[int, int, int] | None = None
        self.history: Sequence[Mapping[str, float]] = []
        #: Whether the run has written a results.yaml that holds a history.
        self.reports = False

    def read(self) -> Sequence[Mapping[str, float]]:
        """The history as the file stands now."""
        try:
            status = os.stat(self.path)
        except OSError:
            return self.history
        key = (status.st_ino, status.st_size, status.st_mtime_ns)
        if key != self.seen:
            self.seen = key
            try:
                self.history = read_results(self.path).history
            except (ContractError, OSError):
                pass
            self.reports = self.reports or bool(self.history)
        return self.history
