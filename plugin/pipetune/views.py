"""The views of an experiment, as plain data: what the dashboard draws and ``pipetune plot``
draws to PNG or HTML. Pure functions of the trials, so both front ends show the same thing.

- ``history``: every scored trial's objective by trial index, the running best, and the trials
  without a value (failed, metrics unavailable, killed, running) kept apart by status;
- ``importance``: how much of the objective's variance each parameter explains (the
  correlation ratio, eta squared, over up to ten rank bins per parameter), normalised to sum 1;
- ``slice``: each parameter against the objective; ``parallel``: every trial across all
  parameters and the objective; ``contour``: the objective over the two most important numeric
  parameters, interpolated on a grid (inverse-distance weighting);
- ``intermediate``: each trial's reported values of the objective metric by step, early-stopped
  trials flagged.

``figures`` turns them into Plotly figure documents (``{"data": [...], "layout": {...}}``):
the dashboard hands them to plotly.js as they are, and ``--html`` embeds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# matplotlib's own dependency: the contour's interpolation is a few array operations.
import numpy

from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import TrialState

_SCORED = (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)
#: Colours shared by both front ends, one per kind of point.
COLOURS = {
    "Succeeded": "#1f77b4",
    "EarlyStopped": "#ff7f0e",
    "Failed": "#d62728",
    "MetricsUnavailable": "#9467bd",
    "Killed": "#7f7f7f",
    "Running": "#2ca02c",
    "Pending": "#bcbd22",
    "best": "#2ca02c",
}
#: Above this many points a panel of the slice view is drawn with WebGL: SVG is slow there.
WEBGL_POINTS = 1000
#: Above this many trials the intermediate values are drawn as two traces, not one per trial.
MANY_CURVES = 100
#: Grid points per side of the contour view.
GRID = 30
#: Points the contour interpolates from at most (the best ones): keeps it quick at 2,000 trials.
CONTOUR_POINTS = 500


@dataclass(frozen=True)
class Point:
    """One trial in a view: its index, the objective, and its status."""

    trial: int
    value: float
    status: str


@dataclass(frozen=True)
class History:
    scored: list[Point]
    best: list[tuple[int, float]]
    #: Trials without a value, by status (Failed, MetricsUnavailable, Killed, Running, Pending).
    unscored: dict[str, list[int]]
    best_trial: int | None


def _value(trial: TrialState) -> float | None:
    if trial.status in _SCORED and trial.objective is not None and math.isfinite(trial.objective):
        return trial.objective
    return None


def history(trials: Sequence[TrialState], minimize: bool) -> History:
    """Scored points in trial order, the running best as (trial, best so far), the rest by status."""
    scored: list[Point] = []
    best: list[tuple[int, float]] = []
    unscored: dict[str, list[int]] = {}
    current: float | None = None
    best_trial: int | None = None
    for trial in sorted(trials, key=lambda t: t.index):
        value = _value(trial)
        if value is None:
            unscored.setdefault(trial.status.value, []).append(trial.index)
            continue
        scored.append(Point(trial.index, value, trial.status.value))
        if current is None or (value < current if minimize else value > current):
            current, best_trial = value, trial.index
        best.append((trial.index, current))
    return History(scored, best, unscored, best_trial)


def parameter_names(trials: Sequence[TrialState], declared: Sequence[str] = ()) -> list[str]:
    """The parameters to show: those declared, else every one a trial has, in first-seen order."""
    if declared:
        return list(declared)
    names: list[str] = []
    for trial in trials:
        for name in trial.assignment:
            if name not in names:
                names.append(name)
    return names


def numeric(values: Sequence[Any]) -> bool:
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


@dataclass(frozen=True)
class Axis:
    """One parameter's values over the scored trials; ``categories`` for a non-numeric one
    (``values`` are then indexes into it); ``log`` when positive and spanning > 2 decades."""

    name: str
    values: list[float]
    categories: list[str] | None = None
    log: bool = False


def axes(trials: Sequence[TrialState], names: Sequence[str]) -> tuple[list[TrialState], list[Axis]]:
    """The scored trials that have every parameter, and each parameter as an ``Axis``."""
    chosen = [t for t in trials if _value(t) is not None and all(_plain(t.assignment.get(n)) for n in names)]
    found: list[Axis] = []
    for name in names:
        raw = [t.assignment[name] for t in chosen]
        if numeric(raw):
            floats = [float(v) for v in raw]
            log = bool(floats) and min(floats) > 0 and max(floats) / min(floats) > 100
            found.append(Axis(name, floats, None, log))
        else:
            categories = sorted({str(v) for v in raw})
            found.append(Axis(name, [float(categories.index(str(v))) for v in raw], categories))
    return chosen, found


def _plain(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not (isinstance(value, float) and not math.isfinite(value))


def importance(trials: Sequence[TrialState], names: Sequence[str]) -> dict[str, float]:
    """Each parameter's share of the objective's variance explained, largest first (sums to 1,
    or all 0 when nothing varies). Eta squared over rank bins: cheap, deterministic, and
    honest about what it is, a one-parameter-at-a-time measure."""
    chosen, found = axes(trials, names)
    values = [_value(t) or 0.0 for t in chosen]
    if len(values) < 2:
        return {name: 0.0 for name in names}
    mean = sum(values) / len(values)
    total = sum((v - mean) ** 2 for v in values)
    raw: dict[str, float] = {}
    for axis in found:
        groups: dict[float, list[float]] = {}
        if axis.categories is None:
            order = sorted(range(len(values)), key=lambda i: axis.values[i])
            bins = min(10, len(set(axis.values)))
            for rank, i in enumerate(order):
                groups.setdefault(float(rank * bins // len(values)), []).append(values[i])
        else:
            for i, code in enumerate(axis.values):
                groups.setdefault(code, []).append(values[i])
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
        raw[axis.name] = between / total if total > 0 else 0.0
    whole = sum(raw.values())
    shares = {name: (score / whole if whole > 0 else 0.0) for name, score in raw.items()}
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


@dataclass(frozen=True)
class Contour:
    x: Axis
    y: Axis
    grid_x: list[float]
    grid_y: list[float]
    z: list[list[float]]
    points: list[tuple[float, float, float, int]] = field(default_factory=list)


def contour(trials: Sequence[TrialState], names: Sequence[str], minimize: bool,
            pair: tuple[str, str] | None = None) -> Contour | None:
    """The objective over two numeric parameters (``pair``, else the two most important), on a
    ``GRID`` x ``GRID`` grid; None with fewer than two numeric parameters or three points."""
    chosen, found = axes(trials, names)
    numeric_axes = {a.name: a for a in found if a.categories is None}
    if pair is None:
        ranked = [n for n in importance(trials, names) if n in numeric_axes]
        if len(ranked) < 2:
            return None
        pair = (ranked[0], ranked[1])
    if pair[0] not in numeric_axes or pair[1] not in numeric_axes or len(chosen) < 3:
        return None
    ax, ay = numeric_axes[pair[0]], numeric_axes[pair[1]]
    points = [(ax.values[i], ay.values[i], _value(t) or 0.0, t.index) for i, t in enumerate(chosen)]
    # The best points matter most to a reader, and bound the cost at 2,000 trials.
    points.sort(key=lambda p: p[2] if minimize else -p[2])
    used = points[:CONTOUR_POINTS]
    grid_x = _grid(ax)
    grid_y = _grid(ay)
    z = _idw(used, grid_x, grid_y, ax.log, ay.log)
    return Contour(ax, ay, grid_x, grid_y, z, points)


def _grid(axis: Axis) -> list[float]:
    low, high = min(axis.values), max(axis.values)
    if high == low:
        high = low + 1.0
    if axis.log:
        a, b = math.log10(low), math.log10(high)
        return [10 ** (a + (b - a) * i / (GRID - 1)) for i in range(GRID)]
    return [low + (high - low) * i / (GRID - 1) for i in range(GRID)]


def _idw(points: Sequence[tuple[float, float, float, int]], gx: Sequence[float], gy: Sequence[float],
         log_x: bool, log_y: bool) -> list[list[float]]:
    def scaled(values: Sequence[float], log: bool) -> Any:
        array = numpy.asarray(values, dtype=float)
        array = numpy.log10(array) if log else array
        span = float(array.max() - array.min()) or 1.0
        return (array - array.min()) / span, float(array.min()), span

    px, x0, sx = scaled([p[0] for p in points], log_x)
    py, y0, sy = scaled([p[1] for p in points], log_y)
    pz = numpy.asarray([p[2] for p in points], dtype=float)
    qx = ((numpy.log10(numpy.asarray(gx)) if log_x else numpy.asarray(gx)) - x0) / sx
    qy = ((numpy.log10(numpy.asarray(gy)) if log_y else numpy.asarray(gy)) - y0) / sy
    dx = qx[None, :, None] - px[None, None, :]
    dy = qy[:, None, None] - py[None, None, :]
    weights = 1.0 / (dx * dx + dy * dy + 1e-9)
    z = (weights * pz).sum(axis=2) / weights.sum(axis=2)
    return [[float(v) for v in row] for row in z]


@dataclass(frozen=True)
class Curve:
    trial: int
    status: str
    steps: list[float]
    values: list[float]


def curves_of(trials: Sequence[TrialState], curves: Mapping[int, Sequence[tuple[float, float]]]) -> list[Curve]:
    """Each trial's intermediate values (``curves``: trial index to (step, value) pairs, from its
    journaled curve or its results' history), in trial order; trials without any left out."""
    found = []
    for trial in sorted(trials, key=lambda t: t.index):
        pairs = list(curves.get(trial.index) or trial.curve or ())
        if pairs:
            found.append(Curve(trial.index, trial.status.value, [float(s) for s, _ in pairs],
                               [float(v) for _, v in pairs]))
    return found


# -- Plotly figure documents -------------------------------------------------------------------


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
            "hovermode": "closest", "legend": {"orientation": "h", "y": -0.2}, **extra}


def history_figure(view: History, metric: str) -> dict[str, Any]:
    """Points by status, the running best as a step line, the unscored trials as ticks on a
    strip below the plot (never at a made-up value)."""
    data: list[dict[str, Any]] = []
    for status, name, symbol in (("Succeeded", "trial", "circle"), ("EarlyStopped", "stopped early", "x")):
        points = [p for p in view.scored if p.status == status]
        if points or status == "Succeeded":
            data.append({"type": "scatter", "mode": "markers", "name": name, "uid": f"history-{status}",
                         "x": [p.trial for p in points], "y": [p.value for p in points],
                         "marker": {"color": COLOURS[status], "symbol": symbol, "size": 8},
                         "hovertemplate": "trial %{x}<br>" + metric + " %{y}<extra>" + name + "</extra>"})
    data.append({"type": "scatter", "mode": "lines", "name": "best so far", "uid": "history-best",
                 "x": [t for t, _ in view.best], "y": [v for _, v in view.best],
                 "line": {"shape": "hv", "color": COLOURS["best"], "width": 2}, "hoverinfo": "skip"})
    for status, indexes in view.unscored.items():
        data.append({"type": "scatter", "mode": "markers", "name": _label(status), "uid": f"history-{status}",
                     "x": indexes, "y": [_label(status)] * len(indexes), "yaxis": "y2",
                     "marker": {"color": COLOURS.get(status, "#333"), "symbol": "line-ns-open", "size": 12},
                     "hovertemplate": "trial %{x}: " + status + "<extra></extra>"})
    layout = _layout(f"optimisation history: {metric}",
                     xaxis={"title": {"text": "trial"}, "tickformat": "d", "dtick": _dtick(view), "rangemode": "tozero"},
                     yaxis={"title": {"text": metric}, "domain": [0.22 if view.unscored else 0.0, 1.0]})
    if view.unscored:
        # The trial axis sits under the strip, so the strip's ticks line up with it.
        layout["xaxis"]["anchor"] = "y2"
        layout["yaxis2"] = {"domain": [0.0, 0.14], "type": "category", "showgrid": False}
    return {"data": data, "layout": layout}


def _dtick(view: History) -> int:
    last = max([p.trial for p in view.scored] + [i for ids in view.unscored.values() for i in ids] + [1])
    return max(1, math.ceil(last / 10))


def _label(status: str) -> str:
    return {"Failed": "failed", "MetricsUnavailable": "no metric", "Killed": "killed", "Running": "running",
            "Pending": "pending", "EarlyStopped": "stopped early"}.get(status, status)


def importance_figure(shares: Mapping[str, float]) -> dict[str, Any]:
    names = list(shares)[::-1]
    return {"data": [{"type": "bar", "orientation": "h", "x": [shares[n] for n in names], "y": names,
                      "uid": "importance", "marker": {"color": COLOURS["Succeeded"]},
                      "hovertemplate": "%{y}: %{x:.3f}<extra></extra>"}],
            "layout": _layout("parameter importance (share of variance explained)",
                              xaxis={"range": [0, 1], "title": {"text": "importance"}})}


def slice_figure(trials: Sequence[TrialState], names: Sequence[str], metric: str) -> dict[str, Any]:
    """One panel per parameter (side by side), points coloured by trial index."""
    chosen, found = axes(trials, names)
    data: list[dict[str, Any]] = []
    layout = _layout(f"slice: {metric} against each parameter")
    count = max(1, len(found))
    gap = 0.04
    width = (1.0 - gap * (count - 1)) / count
    for i, axis in enumerate(found):
        suffix = "" if i == 0 else str(i + 1)
        data.append({"type": "scattergl" if len(chosen) > WEBGL_POINTS else "scatter", "mode": "markers",
                     "name": axis.name, "uid": f"slice-{axis.name}",
                     "x": [axis.categories[int(v)] for v in axis.values] if axis.categories else axis.values,
                     "y": [_value(t) for t in chosen], "xaxis": f"x{suffix}", "yaxis": "y",
                     "text": [f"trial {t.index}" for t in chosen], "showlegend": False,
                     "marker": {"color": [t.index for t in chosen], "colorscale": "Viridis", "size": 7,
                                "showscale": i == count - 1, "colorbar": {"title": {"text": "trial"}}},
                     "hovertemplate": "%{text}<br>" + axis.name + " %{x}<br>" + metric + " %{y}<extra></extra>"})
        layout[f"xaxis{suffix}"] = {"domain": [i * (width + gap), i * (width + gap) + width],
                                    "title": {"text": axis.name}, "type": "log" if axis.log else
                                    ("category" if axis.categories else "linear")}
    layout["yaxis"] = {"title": {"text": metric}}
    return {"data": data, "layout": layout}


def parallel_figure(trials: Sequence[TrialState], names: Sequence[str], metric: str, minimize: bool) -> dict[str, Any]:
    chosen, found = axes(trials, names)
    values = [_value(t) for t in chosen]
    dimensions: list[dict[str, Any]] = []
    for axis in found:
        dim: dict[str, Any] = {"label": axis.name, "values": [math.log10(v) if axis.log else v for v in axis.values]}
        if axis.categories:
            dim["tickvals"] = list(range(len(axis.categories)))
            dim["ticktext"] = axis.categories
        elif axis.log:
            dim["label"] = f"log10({axis.name})"
        dimensions.append(dim)
    dimensions.append({"label": metric, "values": values})
    return {"data": [{"type": "parcoords", "uid": "parallel", "dimensions": dimensions,
                      "line": {"color": values, "colorscale": "Viridis", "reversescale": minimize,
                               "showscale": True, "colorbar": {"title": {"text": metric}}}}],
            "layout": _layout(f"parallel coordinates ({len(chosen)} trials)", margin={"l": 60, "r": 60, "t": 70, "b": 30})}


def contour_figure(view: Contour | None, metric: str, minimize: bool) -> dict[str, Any]:
    if view is None:
        return {"data": [], "layout": _layout("contour: needs two numeric parameters and three scored trials")}
    return {"data": [
        {"type": "contour", "uid": "contour", "x": view.grid_x, "y": view.grid_y, "z": view.z,
         "colorscale": "Viridis", "reversescale": minimize, "colorbar": {"title": {"text": metric}},
         "contours": {"coloring": "heatmap"}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "markers", "uid": "contour-points", "name": "trial",
         "x": [p[0] for p in view.points], "y": [p[1] for p in view.points],
         "text": [f"trial {p[3]}: {p[2]:.6g}" for p in view.points], "hoverinfo": "text",
         "marker": {"color": "white", "size": 6, "line": {"color": "black", "width": 1}}},
    ], "layout": _layout(f"contour: {metric} over {view.x.name} and {view.y.name}",
                         xaxis={"title": {"text": view.x.name}, "type": "log" if view.x.log else "linear"},
                         yaxis={"title": {"text": view.y.name}, "type": "log" if view.y.log else "linear"})}


def intermediate_figure(curves: Sequence[Curve], metric: str) -> dict[str, Any]:
    """One line per trial; past ``MANY_CURVES`` trials, one trace for the completed and one for
    the early-stopped, lines broken by gaps (a trace per trial is slow to draw by the thousand)."""
    if len(curves) > MANY_CURVES:
        return _merged_curves(curves, metric)
    data = []
    for curve in curves:
        stopped = curve.status == "EarlyStopped"
        data.append({"type": "scatter", "mode": "lines+markers", "uid": f"curve-{curve.trial}",
                     "name": f"trial {curve.trial}" + (" (stopped early)" if stopped else ""),
                     "x": curve.steps, "y": curve.values, "showlegend": len(curves) <= 20,
                     "line": {"dash": "dot" if stopped else "solid", "width": 1.5,
                              "color": COLOURS["EarlyStopped"] if stopped else None},
                     "marker": {"symbol": "x" if stopped else "circle", "size": 5},
                     "hovertemplate": f"trial {curve.trial}" + (" (stopped early)" if stopped else "")
                     + "<br>step %{x}<br>" + metric + " %{y}<extra></extra>"})
    return {"data": data, "layout": _layout(f"intermediate values: {metric} per step ({len(curves)} trials)",
                                            xaxis={"title": {"text": "step"}}, yaxis={"title": {"text": metric}})}


def _merged_curves(curves: Sequence[Curve], metric: str) -> dict[str, Any]:
    data = []
    for stopped in (False, True):
        chosen = [c for c in curves if (c.status == "EarlyStopped") == stopped]
        if not chosen:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        text: list[str] = []
        for curve in chosen:
            xs += [*curve.steps, None]
            ys += [*curve.values, None]
            text += [f"trial {curve.trial}"] * len(curve.steps) + [""]
        data.append({"type": "scattergl", "mode": "lines", "uid": f"curves-{'stopped' if stopped else 'trials'}",
                     "name": "stopped early" if stopped else "trials", "x": xs, "y": ys, "text": text,
                     "connectgaps": False, "opacity": 0.5,
                     "line": {"width": 1, "color": COLOURS["EarlyStopped"] if stopped else COLOURS["Succeeded"],
                              "dash": "dot" if stopped else "solid"},
                     "hovertemplate": "%{text}<br>step %{x}<br>" + metric + " %{y}<extra></extra>"})
    return {"data": data, "layout": _layout(f"intermediate values: {metric} per step ({len(curves)} trials)",
                                            xaxis={"title": {"text": "step"}}, yaxis={"title": {"text": metric}})}


def figures(trials: Sequence[TrialState], names: Sequence[str], metric: str, minimize: bool,
            curves: Mapping[int, Sequence[tuple[float, float]]], *, intermediate: bool = True) -> dict[str, dict[str, Any]]:
    """Every view as a Plotly figure document, by name (``intermediate=False``: all but that one)."""
    names = parameter_names(trials, names)
    shares = importance(trials, names)
    found = {
        "history": history_figure(history(trials, minimize), metric),
        "importance": importance_figure(shares),
        "slice": slice_figure(trials, names, metric),
        "parallel": parallel_figure(trials, names, metric, minimize),
        "contour": contour_figure(contour(trials, names, minimize), metric, minimize),
    }
    if intermediate:
        found["intermediate"] = intermediate_figure(curves_of(trials, curves), metric)
    return found
