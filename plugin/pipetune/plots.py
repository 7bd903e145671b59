"""``pipetune plot``: the dashboard's views of an experiment (``pipetune.views``) as files.

PNG through matplotlib (the Agg backend: no display needed), or with ``html`` one
self-contained HTML file per view: the same Plotly figure documents the dashboard draws, with
plotly.js inlined, so the file opens offline.

- ``history``: the objective per trial (integer trial ticks) and the running best as a step
  line; failed, metrics-less, killed and running trials as ticks on a strip of their own below
  the axis, never at a made-up value; early-stopped trials with their own marker;
- ``parameters`` (the slice view): each parameter against the objective, coloured by trial,
  the best trial ringed;
- ``importance``, ``parallel``, ``contour`` (two numeric parameters needed), ``intermediate``
  (only when trials reported intermediate values);
- ``pareto`` (PNG, an experiment with several objectives): every trial with its values on the
  first two objectives, the Pareto front (``tuner.pareto``) joined as a staircase, infeasible
  trials crossed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pipetune.atomic import atomic_write_text
from pipetune.errors import UsageError
from pipetune.tuner import pareto
from pipetune.tuner.journal import JOURNAL_FILE, ExperimentState, TrialState, load_state
from pipetune.tuner.objective import Constraint, Objective
from pipetune.views import (
    COLOURS,
    History,
    axes,
    contour,
    curves_of,
    figures,
    history,
    importance,
    parameter_names,
)

#: The Pareto front's colour in the pareto view.
FRONT_COLOUR = "#d62728"
#: The files written, by view (``.png`` or ``.html``); "parameters" is the slice view.
FILES = {"history": "history", "slice": "parameters", "importance": "importance", "parallel": "parallel",
         "contour": "contour", "intermediate": "intermediate"}


def plot_experiment(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    html: bool = False,
    curves: Mapping[int, Sequence[tuple[float, float]]] | None = None,
) -> list[Path]:
    """Write the experiment's views into ``out`` (default: the experiment directory); the
    files written. ``curves``: intermediate values by trial, beyond those in the journal."""
    folder = Path(directory)
    if not (folder / JOURNAL_FILE).is_file():
        raise UsageError(f"{folder}: no {JOURNAL_FILE}; expected an experiment directory")
    state = load_state(folder)
    trials = state.ordered()
    if not any(t.objective is not None and t.status.value in ("Succeeded", "EarlyStopped") for t in trials):
        raise UsageError(f"{folder}: no trial has an objective value yet; nothing to plot")
    target = Path(out) if out else folder
    target.mkdir(parents=True, exist_ok=True)
    metric = state.metric or "objective"
    curves = dict(curves or {})
    if html:
        return _html(state, trials, metric, curves, target)
    return _png(state, trials, metric, curves, target, folder.name)


def _html(state: ExperimentState, trials: list[TrialState], metric: str,
          curves: Mapping[int, Sequence[tuple[float, float]]], target: Path) -> list[Path]:
    """One page with every view (one copy of plotly.js, 4.8 MB, inlined: it opens offline)."""
    script = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    shown = {name: figure for name, figure in figures(trials, state.parameters, metric, state.minimize, curves).items()
             if figure["data"]}
    title = f"{state.name or 'experiment'}: {metric} ({'minimise' if state.minimize else 'maximise'})"
    # "</" can't end the script early: json.dumps leaves it in strings, so escape it.
    data = json.dumps(shown).replace("</", "<\\/")
    divs = "\n".join(f'<div id="{name}" class="view"></div>' for name in shown)
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + _escape(title) + "</title>\n"
        "<style>body{font-family:sans-serif;margin:1em} .view{width:100%;height:480px}</style>\n"
        "<script>" + script + "</script></head>\n<body>\n<h1>" + _escape(title) + "</h1>\n" + divs + "\n"
        "<script>\nconst figures = " + data + ";\n"
        "for (const [name, f] of Object.entries(figures)) Plotly.newPlot(name, f.data, f.layout, {responsive: true});\n"
        "</script></body></html>\n"
    )
    path = target / "views.html"
    atomic_write_text(path, page)
    return [path]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _png(state: ExperimentState, trials: list[TrialState], metric: str,
         curves: Mapping[int, Sequence[tuple[float, float]]], target: Path, fallback: str) -> list[Path]:
    # matplotlib costs ~0.5 s to import and only `pipetune plot` draws.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    title = f"{state.name or fallback}: {metric} ({'minimise' if state.minimize else 'maximise'})"
    names = parameter_names(trials, state.parameters)
    view = history(trials, state.minimize)
    written = [
        _save(plt, draw_history(plt, MaxNLocator, view, metric, title), target / "history.png"),
        _slice(plt, trials, names, metric, view.best_trial, title, target / "parameters.png"),
        _importance(plt, importance(trials, names), title, target / "importance.png"),
        _parallel(plt, trials, names, metric, state.minimize, title, target / "parallel.png"),
    ]
    shape = contour(trials, names, state.minimize)
    if shape is not None:
        written.append(_contour(plt, shape, metric, title, target / "contour.png"))
    lines = curves_of(trials, curves)
    if lines:
        written.append(_intermediate(plt, lines, metric, title, target / "intermediate.png"))
    objective = objectives_of(state)
    if objective is not None and objective.multi:
        written.append(_save(plt, draw_pareto(plt, trials, objective, state.name or fallback), target / "pareto.png"))
    return written


def objectives_of(state: ExperimentState) -> Objective | None:
    """The objectives and constraints an experiment's journal recorded (its identity), or None
    when it recorded none (one objective, or a journal kept elsewhere)."""
    identity = state.identity or {}
    listed = identity.get("objectives") or []
    if not listed:
        return None
    found = [Objective(o["objectiveMetricName"], type=o["type"]) for o in listed]
    rules = tuple(Constraint(c["metricName"], c.get("min"), c.get("max")) for c in identity.get("constraints") or [])
    return Objective(found[0].metric, type=found[0].type, others=tuple(found[1:]), constraints=rules)


def draw_pareto(plt: Any, trials: Sequence[TrialState], objective: Objective, name: str) -> Any:
    """The first two objectives of every trial that has them: feasible ones as dots, infeasible
    ones crossed, the Pareto front ringed and joined as the staircase it dominates."""
    first, second = objective.objectives[0], objective.objectives[1]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    scored = [(t, pareto.values_of(t, objective)) for t in trials]
    feasible = [(v[0], v[1]) for t, v in scored if v is not None and objective.feasible(t.metrics)]
    infeasible = [(v[0], v[1]) for t, v in scored if v is not None and not objective.feasible(t.metrics)]
    if feasible:
        ax.scatter(*zip(*feasible), s=18, color=COLOURS["Succeeded"], alpha=0.6, label="trial")
    if infeasible:
        ax.scatter(*zip(*infeasible), s=22, marker="x", color="#999999", label="infeasible")
    front = sorted((v[0], v[1]) for v in (pareto.values_of(t, objective) for t in pareto.front(trials, objective))
                   if v is not None)
    if front:
        ax.scatter(*zip(*front), s=40, facecolors="none", edgecolors=FRONT_COLOUR, linewidths=1.5,
                   label=f"Pareto front ({len(front)})", zorder=3)
        # The front joined as a staircase: the region it dominates lies on its better side.
        ax.step([x for x, _ in front], [y for _, y in front], where="post" if first.minimize else "pre",
                color=FRONT_COLOUR, linewidth=1)
    ax.set_xlabel(f"{first.metric} ({'minimise' if first.minimize else 'maximise'})")
    ax.set_ylabel(f"{second.metric} ({'minimise' if second.minimize else 'maximise'})")
    ax.set_title(f"{name}: Pareto front")
    ax.legend(loc="best", fontsize="small")
    return fig


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_history(plt: Any, locator: Any, view: History, metric: str, title: str) -> Any:
    """The history figure (matplotlib): scored points and the running best on top, the trials
    without a value as ticks on a strip below, sharing the trial axis, ticked at whole numbers."""
    strip = bool(view.unscored)
    fig, axes_ = plt.subplots(2 if strip else 1, 1, figsize=(8, 5 if strip else 4.5), dpi=120, sharex=True,
                              squeeze=False, gridspec_kw={"height_ratios": [5, 1] if strip else [1]})
    ax = axes_[0][0]
    for status, label, marker in (("Succeeded", "trial", "o"), ("EarlyStopped", "stopped early (last value)", "x")):
        points = [p for p in view.scored if p.status == status]
        if points:
            ax.scatter([p.trial for p in points], [p.value for p in points], s=24, marker=marker,
                       color=COLOURS[status], label=label, zorder=3)
    ax.step([t for t, _ in view.best], [v for _, v in view.best], where="post", color=COLOURS["best"], linewidth=2,
            label="best so far", zorder=2)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    bottom = ax
    if strip:
        bottom = axes_[1][0]
        rows = list(view.unscored)
        for row, status in enumerate(rows):
            bottom.scatter(view.unscored[status], [row] * len(view.unscored[status]), marker="|", s=120,
                           color=COLOURS.get(status, "black"))
        bottom.set_yticks(range(len(rows)))
        bottom.set_yticklabels([_label(s) for s in rows], fontsize="small")
        bottom.set_ylim(-0.6, len(rows) - 0.4)
        bottom.grid(alpha=0.3, axis="x")
    bottom.xaxis.set_major_locator(locator(integer=True))
    bottom.set_xlabel("trial")
    return fig


def _label(status: str) -> str:
    return {"Failed": "failed", "MetricsUnavailable": "no metric", "Killed": "killed", "Running": "running",
            "Pending": "pending"}.get(status, status)


def _slice(plt: Any, trials: list[TrialState], names: Sequence[str], metric: str, best: int | None,
           title: str, path: Path) -> Path:
    chosen, found = axes(trials, names)
    columns = min(3, max(1, len(found)))
    rows = math.ceil(len(found) / columns) or 1
    fig, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), dpi=120, squeeze=False)
    values = [t.objective for t in chosen]
    indexes = [t.index for t in chosen]
    scatter = None
    for i, axis in enumerate(found):
        ax = grid[i // columns][i % columns]
        scatter = ax.scatter(axis.values, values, c=indexes, cmap="viridis", s=22, alpha=0.85)
        for j, trial in enumerate(chosen):
            if trial.index == best:
                ax.scatter([axis.values[j]], [values[j]], s=120, facecolors="none", edgecolors="red",
                           linewidths=1.5, label=f"best (trial {best})")
                ax.legend(fontsize="x-small", loc="best")
        if axis.categories:
            ax.set_xticks(range(len(axis.categories)))
            ax.set_xticklabels(axis.categories, rotation=30, ha="right")
        elif axis.log:
            ax.set_xscale("log")
        ax.set_xlabel(axis.name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for j in range(len(found), rows * columns):
        grid[j // columns][j % columns].set_visible(False)
    if scatter is not None:
        fig.colorbar(scatter, ax=grid.ravel().tolist(), label="trial")
    fig.suptitle(title)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _importance(plt: Any, shares: Mapping[str, float], title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(shares) + 1.5), dpi=120)
    names = list(shares)[::-1]
    ax.barh(names, [shares[n] for n in names], color=COLOURS["Succeeded"])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the objective's variance explained")
    ax.set_title(f"parameter importance: {title}", fontsize="medium")
    return _save(plt, fig, path)


def _parallel(plt: Any, trials: list[TrialState], names: Sequence[str], metric: str, minimize: bool,
              title: str, path: Path) -> Path:
    chosen, found = axes(trials, names)
    columns = [[math.log10(v) if a.log else v for v in a.values] for a in found]
    columns.append([float(t.objective or 0.0) for t in chosen])
    labels = [f"log10({a.name})" if a.log else a.name for a in found] + [metric]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(labels)), 4.5), dpi=120)
    scaled = []
    for column in columns:
        low, high = min(column), max(column)
        scaled.append([(v - low) / (high - low) if high > low else 0.5 for v in column])
    objective = columns[-1]
    low, high = min(objective), max(objective)
    cmap = plt.get_cmap("viridis_r" if minimize else "viridis")
    for row in range(len(chosen)):
        shade = (objective[row] - low) / (high - low) if high > low else 0.5
        ax.plot(range(len(labels)), [c[row] for c in scaled], color=cmap(shade), alpha=0.6, linewidth=1)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=20)
    ax.set_yticks([])
    for x, (column, axis) in enumerate(zip(columns, [*found, None])):
        ax.axvline(x, color="black", linewidth=0.8)
        if axis is not None and axis.categories:
            text = [axis.categories[0], axis.categories[-1]]
        else:
            text = [f"{min(column):.3g}", f"{max(column):.3g}"]
        ax.annotate(text[0], (x, 0), textcoords="offset points", xytext=(3, -12), fontsize="x-small")
        ax.annotate(text[1], (x, 1), textcoords="offset points", xytext=(3, 4), fontsize="x-small")
    ax.set_title(f"parallel coordinates ({len(chosen)} trials): {title}", fontsize="medium")
    return _save(plt, fig, path)


def _contour(plt: Any, shape: Any, metric: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=120)
    filled = ax.contourf(shape.grid_x, shape.grid_y, shape.z, levels=15, cmap="viridis")
    ax.scatter([p[0] for p in shape.points], [p[1] for p in shape.points], c="white", edgecolors="black", s=18)
    fig.colorbar(filled, ax=ax, label=metric)
    if shape.x.log:
        ax.set_xscale("log")
    if shape.y.log:
        ax.set_yscale("log")
    ax.set_xlabel(shape.x.name)
    ax.set_ylabel(shape.y.name)
    ax.set_title(f"contour: {title}", fontsize="medium")
    return _save(plt, fig, path)


def _intermediate(plt: Any, lines: Sequence[Any], metric: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    stopped_labelled = False
    for curve in lines:
        stopped = curve.status == "EarlyStopped"
        label = None
        if stopped and not stopped_labelled:
            label, stopped_labelled = "stopped early", True
        ax.plot(curve.steps, curve.values, linestyle=":" if stopped else "-", marker="x" if stopped else ".",
                color=COLOURS["EarlyStopped"] if stopped else None, alpha=0.8, linewidth=1, label=label)
    if stopped_labelled:
        ax.legend(fontsize="small")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.set_title(f"intermediate values ({len(lines)} trials): {title}", fontsize="medium")
    return _save(plt, fig, path)
