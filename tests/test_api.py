"""pipetune.tune from Python: functions and components as objectives, both space formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import pipetune
from conftest import DATA, ROOT
from pipetune.errors import SpaceError, SpecError

SPACE = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
    {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
]


def quadratic(params: dict) -> float:
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.7) ** 2


def test_a_function_objective(tmp_path: Path) -> None:
    result = pipetune.tune(
        quadratic, SPACE, metric="loss", minimize=True, max_trials=12, parallel=2,
        algorithm="tpe", seed=3, state_dir=tmp_path / "state",
    )
    assert len(result.trials) == 12
    assert all(t.status.value == "Succeeded" for t in result.trials)
    assert result.best_objective == min(t.objective for t in result.trials)
    assert result.best_objective == pytest.approx(quadratic(result.best_parameters))
    assert (result.directory / "results.yaml").is_file()


CALLS: list[dict] = []


def counted(params: dict) -> float:
    CALLS.append(params)
    return quadratic(params)


def test_same_seed_same_trials_and_resume_runs_nothing_new(tmp_path: Path) -> None:
    kwargs = dict(metric="loss", minimize=True, max_trials=6, algorithm="random", seed=5)
    first = pipetune.tune(counted, SPACE, directory=tmp_path / "a", state_dir=tmp_path / "s", **kwargs)
    second = pipetune.tune(counted, SPACE, directory=tmp_path / "b", state_dir=tmp_path / "s", **kwargs)
    assert [t.assignment for t in first.trials] == [t.assignment for t in second.trials]
    CALLS.clear()
    again = pipetune.tune(counted, SPACE, directory=tmp_path / "a", state_dir=tmp_path / "s", **kwargs)
    assert CALLS == [] and again.best_parameters == first.best_parameters


def test_a_hyperopt_expression_space(tmp_path: Path) -> None:
    hp = pytest.importorskip("hyperopt").hp
    space = {
        "model": hp.choice("model", [
            {"kind": "linear", "alpha": hp.loguniform("alpha", math.log(1e-4), math.log(1.0))},
            {"kind": "tree", "depth": hp.quniform("depth", 2, 10, 1)},
        ]),
        "lr": hp.qloguniform("lr", math.log(1e-3), math.log(1.0), 1e-3),
    }
    seen = []

    def score(params: dict) -> float:
        model = params["model"]
        penalty = model["alpha"] if model["kind"] == "linear" else model["depth"] / 100
        return 1.0 - penalty - abs(params["lr"] - 0.1)

    def objective(params: dict) -> dict:
        seen.append(params)
        return {"score": score(params)}

    result = pipetune.tune(objective, space, metric="score", max_trials=10, algorithm="tpe",
                           seed=1, state_dir=tmp_path)
    assert len(seen) == 10
    assert {p["model"]["kind"] for p in seen} == {"linear", "tree"}
    assert result.best_parameters == max(seen, key=score)


def test_a_component_objective(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = pipetune.tune(
        DATA / "components" / "quadratic" / "component.yaml", SPACE, metric="loss", minimize=True,
        max_trials=4, parallel=2, algorithm="random", arguments={"steps": 2}, state_dir=tmp_path,
    )
    assert [t.status.value for t in result.trials] == ["Succeeded"] * 4
    best = result.best_parameters
    assert result.best_objective == pytest.approx(quadratic(best))


def test_a_failing_function_fails_its_trial_only(tmp_path: Path) -> None:
    def flaky(params: dict) -> float:
        if params["x"] > 0.5:
            raise RuntimeError("diverged")
        return params["x"]

    result = pipetune.tune(flaky, SPACE, minimize=True, max_trials=8, algorithm="random", seed=2,
                           state_dir=tmp_path, catch=(RuntimeError,))
    failed = [t for t in result.trials if t.status.value == "Failed"]
    assert failed and all(t.message == "RuntimeError: diverged" for t in failed)
    # Every failed trial keeps its traceback, in its record and in trials.json.
    assert all("Traceback" in t.error and 'raise RuntimeError("diverged")' in t.error for t in failed)
    rows = {row["trial"]: row for row in json.loads((result.directory / "trials.json").read_text())}
    assert all("RuntimeError: diverged" in rows[t.index]["error"] for t in failed)
    assert result.best_objective is not None


def test_nan_from_a_function_is_a_failed_trial(tmp_path: Path) -> None:
    result = pipetune.tune(lambda p: float("nan"), SPACE, max_trials=2, algorithm="random",
                           state_dir=tmp_path)
    assert all(t.status.value == "Failed" and "expected a finite number" in t.message for t in result.trials)


def test_bad_spaces_and_algorithms_are_refused_before_any_trial(tmp_path: Path) -> None:
    bad = [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.01"}}]
    with pytest.raises(SpaceError, match="min 0.1 is above max 0.01"):
        pipetune.tune(quadratic, bad, state_dir=tmp_path)
    with pytest.raises(SpecError, match="unknown algorithm 'bogus'"):
        pipetune.tune(quadratic, SPACE, algorithm="bogus", state_dir=tmp_path)
    assert not (tmp_path / "experiments").exists()
