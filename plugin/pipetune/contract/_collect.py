"""What a finished run produced: its results.yaml, or failing that, metrics from its log."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pipetune.contract._log import LogMetrics
from pipetune.contract._results import Results, read_results, results_path


def collect_results(
    directory: str | os.PathLike[str],
    log_lines: Iterable[str] = (),
    log_metrics: LogMetrics | None = None,
) -> Results | None:
    """The run's results: results.yaml when written (validated), else those its log holds,
    read as ``log_metrics`` says (default: every ``name=value`` or report line).

    Raises ``ContractError`` for an invalid results.yaml; returns None when there are none.
    """
    path = results_path(directory)
    from_log = None
    if path.exists():
        results = read_results(path)
        if results.metrics:
            return results
        # A results.yaml with no metrics (say, only the checkpoint a run left) does not hide
        # the metrics its log reports.
        from_log = (log_metrics or LogMetrics()).read(log_lines)
        if from_log is None:
            return results
        return replace(results, metrics=dict(from_log.metrics), history=results.history or from_log.history)
    return (log_metrics or LogMetrics()).read(log_lines)


def read_log(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a captured log file, or none when it does not exist."""
    file = Path(path)
    if not file.exists():
        return []
    return file.read_text(encoding="utf-8", errors="replace").splitlines()
