"""What a component calls while it runs: ``report`` for progress, ``save_results`` at the end."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipetune.contract._results import (
    Checkpoint,
    Results,
    check_metric,
    read_results,
    results_path,
    write_results,
)

#: Prefix of the log line ``report`` prints, so engines that only see logs see progress.
REPORT_PREFIX = "pipetune.report "


def _existing(directory: str | os.PathLike[str] | None) -> Results:
    path = results_path(directory)
    return read_results(path) if path.exists() else Results()


def report(
    step: int | None = None,
    *,
    outputs_dir: str | os.PathLike[str] | None = None,
    **metrics: float,
) -> Path:
    """Record intermediate metrics: append them to ``history`` and make them the latest.

    Rewrites results.yaml atomically and prints ``pipetune.report {"step": 2, "accuracy": 0.8}``
    on stdout.
    """
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"report(step=...): expected an integer, got {step!r}")
    checked = {name: check_metric(name, value, "report") for name, value in metrics.items()}
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
