"""What a person reads while tuning: a progress line, then a table of trials. Pure strings,
and ``ProgressLines``, which prints a progress line only when it says something new."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pipetune.tuner import pareto, policy
from pipetune.tuner.journal import TrialState
from pipetune.tuner.loop import Progress
from pipetune.tuner.objective import Objective


def done_count(progress: Progress) -> int:
    """Trials that have ended, however they ended."""
    return sum(progress.counts[s] for s in ("Succeeded", "EarlyStopped", "MetricsUnavailable", "Failed", "Killed"))


def progress_line(progress: Progress) -> str:
    """``12/30 done, 2 running, 1 failed, best accuracy 0.9611 (trial 7)``."""
    counts = progress.counts
    done = done_count(progress)
    parts = [f"{done}/{progress.total} done", f"{counts['Running']} running"]
    failed = counts["Failed"] + counts["MetricsUnavailable"]
    if failed:
        parts.append(f"{failed} failed")
    if counts["EarlyStopped"]:
        parts.append(f"{counts['EarlyStopped']} stopped early")
    best = progress.best
    if progress.front is not None:
        parts.append(f"Pareto front {progress.front} trial{'s' if progress.front != 1 else ''}")
    elif best is not None and best.objective is not None:
        parts.append(f"best {progress.objective.metric} {best.objective:.6g} (trial {best.index})")
    return ", ".join(parts)


def progress_status(progress: Progress) -> str:
    """The progress line without its count: what a progress bar shows beside its own."""
    return progress_line(progress).partition(", ")[2]


def resume_notice(progress: Progress, directory: str) -> str:
    """What a resumed experiment says first: how far it had got, and from where."""
    done = done_count(progress)
    left = max(0, progress.total - done)
    best = progress.best
    text = f"resuming from {directory}: {done} of {progress.total} trials already done, {left} to go"
    if best is not None and best.objective is not None:
        text += f"; best so far {progress.objective.metric} {best.objective:.6g} (trial {best.index})"
    return text


class ProgressLines:
    """A progress callback for output that is not a terminal (a log, a notebook, ``progress=True``):
    one line per change, never the same line twice, a resume notice when it resumes."""

    def __init__(self, write: Callable[[str], None], directory: str = "") -> None:
        self.write = write
        self.directory = directory
        self.last = ""

    def __call__(self, progress: Progress) -> None:
        if progress.event == "resumed":
            self.write(resume_notice(progress, self.directory or "its journal"))
        line = progress_line(progress)
        # "trial N started" changes nothing a reader needs: the line after it says it.
        if line != self.last and not progress.event.endswith("started"):
            self.write(line)
            self.last = line


def trials_table(trials: Sequence[TrialState], objective: Objective, best: TrialState | None) -> str:
    """One row per trial: index, status, each parameter, the objective; the best marked. With
    several objectives a column each, and every trial of the Pareto front marked; with
    constraints a FEASIBLE column."""
    if objective.multi or objective.constraints:
        return _multi_table(trials, objective)
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


def _multi_table(trials: Sequence[TrialState], objective: Objective) -> str:
    names: list[str] = []
    for trial in trials:
        names.extend(name for name in trial.assignment if name not in names)
    marked = {t.index for t in (pareto.front(trials, objective) if objective.multi else
                                 [b for b in [policy.best_trial(trials, objective)] if b is not None])}
    header = ["TRIAL", "STATUS", *names, *(o.metric.upper() for o in objective.objectives)]
    rows = [header + (["FEASIBLE"] if objective.constraints else [])]
    for trial in trials:
        values = pareto.values_of(trial, objective)
        cells = ["-"] * len(objective.objectives) if values is None else [f"{v:.6g}" for v in values]
        row = [f"{'*' if trial.index in marked else ' '}{trial.index}", trial.status.value,
               *[_cell(trial.assignment.get(name, "")) for name in names], *cells]
        if objective.constraints:
            row.append("-" if values is None else ("yes" if objective.feasible(trial.metrics) else "no"))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
    if objective.multi:
        table += f"\n* the Pareto front: {len(marked)} trial{'s' if len(marked) != 1 else ''}"
    return table


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
