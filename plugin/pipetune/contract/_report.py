"""What a component calls while it runs: ``report`` for progress, ``save_results`` at the end.

Inside a Python objective's trial (``pipetune.tune(function)``) ``report`` goes to that trial:
the engine running the function sets a report sink in a context variable for the trial's own
thread (or process), so a trial's steps land in its own history and nothing is written to
``/outputs`` on the host. Outside any run, ``report`` writes ``$PIPETUNE_OUTPUTS`` as always.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

from pipetune.contract._results import (
    Checkpoint,
    Results,
    check_metric,
    read_results,
    results_path,
    write_results,
)

#: The environment variable a tuner's trial on this machine gets its index in (0, 1, ...).
TRIAL_INDEX_ENV = "PIPETUNE_TRIAL_INDEX"

#: Prefix of the log line ``report`` prints, so engines that only see logs see progress.
REPORT_PREFIX = "pipetune.report "


def _existing(directory: str | os.PathLike[str] | None) -> Results:
    path = results_path(directory)
    return read_results(path) if path.exists() else Results()


class ReportSink(Protocol):
    """Where ``report`` sends a trial's intermediate metrics instead of results.yaml."""

    def report(self, step: int | None, metrics: Mapping[str, float]) -> Path:
        """Record one entry (metrics already checked); the trial's results file."""
        ...


_sink: ContextVar[ReportSink | None] = ContextVar("pipetune_report_sink", default=None)


@contextmanager
def reporting_to(sink: ReportSink) -> Iterator[None]:
    """Within the block, ``report`` (without ``outputs_dir``) goes to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report(
    step: int | None = None,
    *,
    outputs_dir: str | os.PathLike[str] | None = None,
    **metrics: float,
) -> Path:
    """Record intermediate metrics: append them to ``history`` and make them the latest.

    Rewrites results.yaml atomically and prints ``pipetune.report {"step": 2, "accuracy": 0.8}``
    on stdout. Inside a Python objective's trial it goes to that trial (see the module
    docstring).
    """
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"report(step=...): expected an integer, got {step!r}")
    checked = {name: check_metric(name, value, "report") for name, value in metrics.items()}
    sink = _sink.get()
    if sink is not None and outputs_dir is None:
        return sink.report(step, checked)
    current = _existing(outputs_dir)
    entry: dict[str, float] = {"step": step} if step is not None else {}
    entry.update(checked)
    updated = Results(
        metrics={**current.metrics, **checked},
        outputs=current.outputs,
        artifacts=current.artifacts,
        history=[*current.history, entry],
        checkpoint=current.checkpoint,
    )
    path = write_results(updated, outputs_dir)
    print(REPORT_PREFIX + json.dumps(entry), flush=True)
    return path


def save_results(
    metrics: Mapping[str, float] | None = None,
    outputs: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, str] | None = None,
    checkpoint: Checkpoint | Mapping[str, Any] | None = None,
    *,
    outputs_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the run's final results, keeping the history that ``report`` recorded.

    Values given here replace earlier ones of the same name; sections not given are kept.
    """
    current = _existing(outputs_dir)
    data = current.to_dict()
    for key, value in (("metrics", metrics), ("outputs", outputs), ("artifacts", artifacts)):
        if value:
            data[key] = {**data.get(key, {}), **value}
    if checkpoint is not None:
        data["checkpoint"] = (
            checkpoint.to_dict() if isinstance(checkpoint, Checkpoint) else dict(checkpoint)
        )
    return write_results(Results.from_dict(data, str(results_path(outputs_dir))), outputs_dir)
