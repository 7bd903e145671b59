"""Katib's algorithms beyond hyperopt's (multivariate-tpe, cmaes, sobol, bayesianoptimization,
hyperband) as a user sees them: their settings, their suggestions, and finite spaces."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import pipetune
from pipetune.errors import SpecError
from pipetune.tuner.algorithms import Exhausted, get_algorithm, trial_seed
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    SearchSpace,
)

NEW = ["multivariate-tpe", "cmaes", "sobol", "bayesianoptimization", "hyperband"]
FAST = {"bayesianoptimization": {"base_estimator": "ET", "n_initial_points": "3"},
        "hyperband": {"resource_name": "epochs", "r_l": "9"}}


def run(name: str, space: SearchSpace, trials: int, loss, settings: dict[str, str] | None = None,
        seed: int = 0) -> list[TrialRecord]:
    algorithm = get_algorithm(name, settings if settings is not None else FAST.get(name))
    history: list[TrialRecord] = []
    for k in range(trials):
        s = algorithm.suggest(space, history, trial_seed(seed, k))
        space.validate(s.assignment)
        history.append(TrialRecord(k, s.assignment, TrialStatus.SUCCEEDED, loss(s.assignment), s.internal))
    return history


MIXED = SearchSpace((
    DoubleParameter("x", -2.0, 2.0),
    DoubleParameter("grid", 0.05, 1.0, 0.1),
    DoubleParameter("lr", 1e-5, 1e-1, distribution="logUniform"),
    IntParameter("epochs", 1, 9),
    IntParameter("width", 16, 128, 16),
    DiscreteParameter("batch", (16, 32, 64)),
    CategoricalParameter("opt", ("sgd", "adam")),
))


@pytest.mark.parametrize("name", NEW)
def test_suggestions_are_typed_and_on_each_parameters_grid(name: str) -> None:
    history = run(name, MIXED, 14, lambda a: a["x"] ** 2)
    for record in history:
        a = record.assignment
        assert type(a["x"]) is float and type(a["epochs"]) is int and type(a["width"]) is int
        assert type(a["batch"]) is int and a["opt"] in ("sgd", "adam")
        assert (a["width"] - 16) % 16 == 0
        k = round((a["grid"] - 0.05) / 0.1)
        assert a["grid"] == min(0.05 + k * 0.1, 1.0)


@pytest.mark.parametrize("name", NEW)
def test_an_expression_space_is_refused_with_what_to_use(name: str) -> None:
    hp = pytest.importorskip("hyperopt").hp
    with pytest.raises(SpecError, match=rf"algorithm {name}: needs a search space of Katib parameters"):
        get_algorithm(name, FAST.get(name)).suggest(ExpressionSpace({"x": hp.uniform("x", 0, 1)}), [], 0)


@pytest.mark.parametrize(("name", "settings", "message"), [
    ("multivariate-tpe", {"n_startup_trials": "-1"}, r"n_startup_trials: expected an integer of at least 0"),
    ("multivariate-tpe", {"gamma": "0.1"}, r"'gamma' is not a setting of algorithm 'multivariate-tpe'"),
    ("cmaes", {"restart_strategy": "sometimes"}, r"restart_strategy: expected none, ipop or bipop"),
    ("cmaes", {"sigma": "0"}, r"sigma: expected a number above 0"),
    ("bayesianoptimization", {"base_estimator": "SVM"}, r"base_estimator: expected one of GP, RF, ET, GBRT"),
    ("bayesianoptimization", {"acq_func": "UCB"}, r"acq_func: expected one of gp_hedge, LCB, EI, PI"),
    ("hyperband", {"resource_name": "epochs"}, r"algorithmSettings.r_l: required by algorithm hyperband"),
    ("hyperband", {"r_l": "9"}, r"algorithmSettings.resource_name: required"),
    ("hyperband", {"resource_name": "epochs", "r_l": "9", "eta": "1"}, r"eta: expected a number above 1"),
    ("random", {"deterministic": "maybe"}, r"deterministic: expected true or false, got 'maybe'"),
])
def test_bad_settings_are_refused_naming_the_setting(name: str, settings: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        get_algorithm(name, settings)


# -- hyperband ---------------------------------------------------------------------------------

HB_SPACE = SearchSpace((DoubleParameter("lr", 1e-4, 1.0, distribution="logUniform"), IntParameter("epochs", 1, 9)))


def hb_loss(a: dict[str, Any]) -> float:
    # Better with more epochs and with lr near 0.01.
    return abs(math.log10(a["lr"]) + 2) + 1 / a["epochs"]


def test_hyperband_runs_katibs_brackets_and_promotes_the_best_of_each_rung() -> None:
    history = run("hyperband", HB_SPACE, 23 + 9, hb_loss)
    # r_l 9, eta 3: s_max 2. Bracket 2: 9 at 1 epoch, the best 3 at 3, the best at 9;
    # bracket 1: 5 at 3, the best 2 at 9; bracket 0: 3 at 9. Then a new pass begins.
    epochs = [r.assignment["epochs"] for r in history]
    assert epochs == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] * 2 + [9] * 3 + [1] * 9
    rung0, rung1 = history[:9], history[9:12]
    best3 = sorted(rung0, key=lambda r: r.loss)[:3]
    assert [r.assignment["lr"] for r in rung1] == [r.assignment["lr"] for r in best3]
    assert [r.internal["hyperband"]["parent"] for r in rung1] == [r.index for r in best3]
    assert history[12].assignment["lr"] == min(rung1, key=lambda r: r.loss).assignment["lr"]
    assert history[23].assignment["lr"] not in {r.assignment["lr"] for r in history[:23]}


def test_hyperband_names_a_resource_that_is_not_a_number_parameter() -> None:
    algorithm = get_algorithm("hyperband", {"resource_name": "steps", "r_l": "9"})
    with pytest.raises(SpecError, match=r"resource_name: 'steps' is not a parameter; expected one of lr, epochs"):
        algorithm.suggest(HB_SPACE, [], 0)
    space = SearchSpace((DoubleParameter("lr", 0.1, 1.0), CategoricalParameter("steps", ("a", "b"))))
    with pytest.raises(SpecError, match=r"'steps' must be an int or double parameter"):
        algorithm.suggest(space, [], 0)


# -- sobol, cmaes ------------------------------------------------------------------------------


def test_sobol_covers_the_space_evenly() -> None:
    space = SearchSpace((DoubleParameter("x", 0.0, 1.0), DoubleParameter("y", 0.0, 1.0)))
    history = run("sobol", space, 16, lambda a: 0.0)
    # The first 16 points of a scrambled Sobol sequence: one in each sixteenth of each axis.
    for axis in ("x", "y"):
        assert sorted(int(r.assignment[axis] * 16) for r in history) == list(range(16))


def test_cmaes_descends_a_quadratic() -> None:
    space = SearchSpace((DoubleParameter("x", -5.0, 5.0), DoubleParameter("y", -5.0, 5.0)))
    history = run("cmaes", space, 150, lambda a: (a["x"] - 1) ** 2 + (a["y"] + 2) ** 2)
    assert min(r.loss for r in history) < 1e-4
    assert min(r.loss for r in history[:10]) > 1e-2  # it learned: the first generation was far


# -- finite spaces -----------------------------------------------------------------------------

SMALL = SearchSpace((CategoricalParameter("c", ("a", "b")), IntParameter("n", 0, 1)))


@pytest.mark.parametrize("name", ["auto", "random", "tpe", "anneal", "multivariate-tpe", "cmaes", "sobol",
                                  "bayesianoptimization"])
def test_a_deterministic_objective_tries_each_point_of_a_finite_space_once_then_ends(name: str) -> None:
    settings = {**FAST.get(name, {}), "deterministic": "true"}
    history = run(name, SMALL, 4, lambda a: a["n"], settings)
    assert len({tuple(r.assignment.values()) for r in history}) == 4
    with pytest.raises(Exhausted, match="all 4 points"):
        get_algorithm(name, settings).suggest(SMALL, history, 0)


@pytest.mark.parametrize("name", ["auto", "random", "tpe", "anneal", "multivariate-tpe", "cmaes", "sobol",
                                  "bayesianoptimization"])
def test_a_noisy_objective_goes_on_sampling_a_finite_space_while_the_budget_lasts(name: str) -> None:
    history = run(name, SMALL, 10, lambda a: a["n"])
    assert len(history) == 10


def test_tune_runs_the_whole_budget_on_two_arms_unless_declared_deterministic(tmp_path: Path) -> None:
    space = [{"name": "arm", "parameterType": "discrete", "feasibleSpace": {"list": ["0", "1"]}}]
    pulls: list[int] = []

    def objective(p: dict[str, Any]) -> float:
        pulls.append(p["arm"])
        return [-1.0, 0.0][p["arm"]] + 0.5 * math.sin(len(pulls) * 2.3)

    noisy = pipetune.tune(objective, space, minimize=True, max_trials=12, directory=tmp_path / "noisy",
                          state_dir=tmp_path / "state")
    assert (noisy.state.reason, len(noisy.trials)) == ("ExperimentMaxTrialsReached", 12)
    fixed = pipetune.tune(objective, space, minimize=True, max_trials=12, directory=tmp_path / "fixed",
                          state_dir=tmp_path / "state", algorithm_settings={"deterministic": "true"})
    assert (fixed.state.reason, len(fixed.trials)) == ("ExperimentSearchSpaceExhausted", 2)
