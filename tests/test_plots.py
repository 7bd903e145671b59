"""The views (`pipetune.views`) and `pipetune plot`: the same data for the dashboard and the
files, whole trial numbers on the axis, failed and early-stopped trials kept apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import TrialState
from pipetune.views import contour, curves_of, figures, history, importance
from ui.stores import finished_and_running


def trial(index: int, status: str, objective: float | None, **assignment: object) -> TrialState:
    return TrialState(index, dict(assignment), status=TrialStatus(status), objective=objective)


TRIALS = [
    trial(0, "Succeeded", 3.0, x=1.0, c="a"),
    trial(1, "Failed", None, x=2.0, c="b"),
    trial(2, "Succeeded", 1.0, x=3.0, c="a"),
    trial(3, "EarlyStopped", 5.0, x=4.0, c="b"),
    trial(4, "Succeeded", 2.0, x=5.0, c="a"),
    trial(5, "Running", None, x=6.0, c="a"),
]


def test_history_keeps_failed_and_stopped_trials_apart() -> None:
    view = history(TRIALS, minimize=True)
    assert [(p.trial, p.status) for p in view.scored] == [(0, "Succeeded"), (2, "Succeeded"), (3, "EarlyStopped"),
                                                         (4, "Succeeded")]
    assert view.unscored == {"Failed": [1], "Running": [5]}
    assert view.best == [(0, 3.0), (2, 1.0), (3, 1.0), (4, 1.0)] and view.best_trial == 2
    assert history(TRIALS, minimize=False).best_trial == 3


def test_importance_favours_the_parameter_that_explains_the_objective() -> None:
    trials = [trial(i, "Succeeded", float(i % 2) * 10 + i * 0.01, x=float(i), flag="on" if i % 2 else "off")
              for i in range(20)]
    shares = importance(trials, ["x", "flag"])
    assert list(shares) == ["flag", "x"] and sum(shares.values()) == pytest.approx(1.0)
    assert shares["flag"] > 0.5


def test_contour_needs_two_numeric_parameters() -> None:
    assert contour(TRIALS, ["x", "c"], minimize=True) is None
    trials = [trial(i, "Succeeded", float(i), x=float(i), y=float(i * i % 7)) for i in range(10)]
    shape = contour(trials, ["x", "y"], minimize=True)
    assert shape is not None and len(shape.z) == len(shape.grid_y) and len(shape.z[0]) == len(shape.grid_x)
    low, high = min(min(r) for r in shape.z), max(max(r) for r in shape.z)
    assert 0.0 <= low <= high <= 9.0  # interpolated between the values seen


def test_intermediate_values_flag_early_stopped_trials() -> None:
    curves = curves_of(TRIALS, {0: [(1, 5.0), (2, 3.0)], 3: [(1, 6.0)]})
    assert [(c.trial, c.status, c.values) for c in curves] == [(0, "Succeeded", [5.0, 3.0]), (3, "EarlyStopped", [6.0])]
    figure = figures(TRIALS, ["x", "c"], "loss", True, {3: [(1, 6.0)]})["intermediate"]
    assert figure["data"][0]["name"] == "trial 3 (stopped early)" and figure["data"][0]["line"]["dash"] == "dot"


def test_the_png_history_has_whole_trial_ticks_and_failed_trials_on_their_own_strip() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from pipetune.plots import draw_history

    trials = [trial(i, "Failed" if i in (3, 7) else "Succeeded", None if i in (3, 7) else 10.0 - i, x=float(i))
              for i in range(11)]
    fig = draw_history(plt, MaxNLocator, history(trials, minimize=True), "loss", "t")
    fig.canvas.draw()
    main, strip = fig.axes
    ticks = [t.get_text() for t in strip.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"[−-]?\d+", t) for t in ticks), ticks
    # No point of the main plot sits at a failed trial's index: they are on the strip.
    plotted = {round(x) for collection in main.collections for x, _ in collection.get_offsets()}
    assert plotted.isdisjoint({3, 7})
    assert {round(x) for collection in strip.collections for x, _ in collection.get_offsets()} == {3, 7}
    plt.close(fig)


def test_plot_by_name_writes_every_view_as_png_and_html(cli, state_dir: Path, tmp_path: Path) -> None:
    finished_and_running(state_dir)
    result = cli("plot", "done", "--out", str(tmp_path / "png"))
    assert result.returncode == 0, result.stderr
    names = {Path(line).name for line in result.stdout.splitlines()}
    assert names == {"history.png", "parameters.png", "importance.png", "parallel.png", "contour.png",
                     "intermediate.png"}
    for name in names:
        assert (tmp_path / "png" / name).read_bytes().startswith(b"\x89PNG")
    html = cli("plot", str(state_dir / "experiments" / "done"), "--html", "--out", str(tmp_path / "html"))
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "html" / "views.html").read_text()
    assert "https://" not in page.split("<script>", 1)[0]  # nothing fetched: plotly.js is inline
    data = json.loads(page.split("const figures = ", 1)[1].split(";\n", 1)[0])
    assert set(data) == {"history", "importance", "slice", "parallel", "contour", "intermediate"}
    assert len(data["intermediate"]["data"]) == 8  # from each trial's results.yaml history
    missing = cli("plot", "nothing-called-this")
    assert missing.returncode == 2 and "expected an experiment directory, or the name" in missing.stderr


def test_many_intermediate_curves_are_two_traces() -> None:
    trials = [trial(i, "EarlyStopped" if i % 5 == 0 else "Succeeded", 1.0, x=float(i)) for i in range(300)]
    figure = figures(trials, ["x"], "loss", True, {i: [(1, 2.0), (2, 1.0)] for i in range(300)})["intermediate"]
    assert [t["name"] for t in figure["data"]] == ["trials", "stopped early"]
    assert figure["data"][1]["x"].count(None) == 60 and figure["data"][0]["x"].count(None) == 240
