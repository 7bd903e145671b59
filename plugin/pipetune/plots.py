"""``pipetune plot``: PNG pictures of an experiment, drawn from its journal.

- ``history.png``: the objective of every trial in order, and the running best as a step line;
  failed and metrics-less trials are marked on the axis so the gaps are visible.
- ``parameters.png``: one panel per parameter, its value against the objective; categorical
  parameters get one column per category, numeric ones a log axis when their values span
  more than two decades.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipetune.errors import UsageError
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import JOURNAL_FILE, TrialState, load_state

_SCORED = (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)


def plot_experiment(directory: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the experiment's plots into ``out`` (default: the experiment directory)."""
    folder = Path(directory)
    if not (folder / JOURNAL_FILE).is_file():
        raise UsageError(f"{folder}: no {JOURNAL_FILE}; expected an experiment directory")
    state = load_state(folder)
    trials = state.ordered()
    if not any(t.status in _SCORED and t.objective is not None for t in trials):
        raise UsageError(f"{folder}: no trial has an objective value yet; nothing to plot")
    # matplotlib costs ~0.5 s to import and only `pipetune plot` draws.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = Path(out) if out else folder
    target.mkdir(parents=True, exist_ok=True)
    metric = state.metric or "objective"
    title = f"{state.name or folder.name}: {metric} ({'minimise' if state.minimize else 'maximise'})"
    written = [
        _history(plt, trials, metric, state.minimize, title, target / "history.png"),
        _parameters(plt, trials, metric, state.parameters, title, target / "parameters.png"),
    ]
    return written


def _scored(trials: Sequence[TrialState]) -> list[tuple[TrialState, float]]:
    """The trials that have an objective value to plot, each with that value."""
    return [(t, t.objective) for t in trials if t.status in _SCORED and t.objective is not None]


def _history(plt: Any, trials: list[TrialState], metric: str, minimize: bool, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    scored = _scored(trials)
    done = [(t, value) for t, value in scored if t.status is TrialStatus.SUCCEEDED]
    stopped = [(t, value) for t, value in scored if t.status is TrialStatus.EARLY_STOPPED]
    ax.scatter([t.index for t, _ in done], [value for _, value in done], s=24, color="tab:blue", label="trial",
               zorder=3)
    if stopped:
        ax.scatter([t.index for t, _ in stopped], [value for _, value in stopped], s=24, marker="x",
                   color="tab:orange", label="stopped early (last value)", zorder=3)
    best_x: list[int] = []
    best_y: list[float] = []
    best: float | None = None
    for trial, value in scored:
        if best is None or (value < best if minimize else value > best):
            best = value
        best_x.append(trial.index)
        best_y.append(best)
    ax.step(best_x, best_y, where="post", color="tab:green", linewidth=2, label="best so far", zorder=2)
    failed = [t.index for t in trials if t.status not in _SCORED and t.status.final]
    if failed:
        low = min(value for _, value in scored)
        ax.scatter(failed, [low] * len(failed), marker="v", color="tab:red", s=28,
                   label="failed / no metric", zorder=3, clip_on=False)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _parameters(plt: Any, trials: list[TrialState], metric: str, names: Sequence[str], title: str,
                path: Path) -> Path:
    scored = _scored(trials)
    if not names:
        names = sorted({k for t in trials for k in t.assignment if _plottable(t.assignment[k])})
    columns = min(3, max(1, len(names)))
    rows = math.ceil(len(names) / columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), dpi=120, squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // columns][i % columns]
        points = [(t.assignment.get(name), value) for t, value in scored if _plottable(t.assignment.get(name))]
        values = [p[0] for p in points]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if values and len(numbers) == len(values):
            ax.scatter(numbers, [p[1] for p in points], s=22, alpha=0.8, color="tab:blue")
            positive = [v for v in numbers if v > 0]
            if len(positive) == len(values) and max(positive) / min(positive) > 100:
                ax.set_xscale("log")
        else:
            categories = sorted({str(v) for v in values})
            ax.scatter([categories.index(str(v)) for v in values], [p[1] for p in points], s=22, alpha=0.8,
                       color="tab:blue")
            ax.set_xticks(range(len(categories)))
            ax.set_xticklabels(categories, rotation=30, ha="right")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for j in range(len(names), rows * columns):
        axes[j // columns][j % columns].set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plottable(value: Any) -> bool:
    return isinstance(value, (int, float, str))
