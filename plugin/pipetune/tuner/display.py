"""What a person reads while tuning: a progress line, then a table of trials. Pure strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipetune.tuner.journal import TrialState
from pipetune.tuner.loop import Progress
from pipetune.tuner.objective import Objective


def progress_line(progress: Progress) -> str:
    """``12/30 done, 2 running, 1 failed, best accuracy 0.9611 (trial 7)``."""
    counts = progress.counts
    done = sum(counts[s] for s in ("Succeeded", "EarlyStopped", "MetricsUnavailable", "Failed", "Killed"))
    parts = [f"{done}/{progress.total} done", f"{counts['Running']} running"]
    failed = counts["Failed"] + counts["MetricsUnavailable"]
    if failed:
        parts.append(f"{failed} failed")
    if counts["EarlyStopped"]:
        parts.append(f"{counts['EarlyStopped']} stopped early")
    best = progress.best
    if best is not None and best.objective is not None:
        parts.append(f"best {progress.objective.metric} {best.objective:.6g} (trial {best.index})")
    return ", ".join(parts)


def trials_table(trials: Sequence[TrialState], objective: Objective, best: TrialState | None) -> str:
    """One row per trial: index, status, each parameter, the objective; the best marked."""
    names: list[str] = []
    for trial in trials:
        for name in trial.assignment:
            if name not in names:
                names.append(name)
    rows = [["TRIAL", "STATUS", *names, objective.metric.upper()]]
    for trial in trials:
        mark = "*" if best is not None and trial.index == best.index else " "
        rows.append(
            [
                f"{mark}{trial.index}",
                trial.status.value,
                *[_cell(trial.assignment.get(name, "")) for name in names],
                "-" if trial.objective is None else f"{trial.objective:.6g}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def failure_notes(trials: Sequence[TrialState], limit: int = 5) -> list[str]:
    """Why trials failed, one line each (the first ``limit``), for after the table."""
    failed = [t for t in trials if t.status.value in ("Failed", "MetricsUnavailable") and t.message]
    notes = [f"trial {t.index}: {t.reason}: {t.message}" for t in failed[:limit]]
    if len(failed) > limit:
        notes.append(f"... and {len(failed) - limit} more (pipetune runs show RUN_ID)")
    return notes
