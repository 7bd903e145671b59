"""Every algorithm is a pure function of (space, history, seed): the same seed gives the same
trials, another seed other trials, a run killed and resumed from its journal suggests what
the uninterrupted run did (sequentially and with parallel trials), and another process
suggests the same."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

import pytest

from pipetune.tuner.algorithms import algorithm_names, get_algorithm, trial_seed
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.space import CategoricalParameter, DoubleParameter, IntParameter, SearchSpace

SPACE = SearchSpace((
    DoubleParameter("x", -1.0, 2.0),
    DoubleParameter("lr", 1e-4, 1e-1, distribution="logUniform"),
    IntParameter("epochs", 1, 9),
    CategoricalParameter("opt", ("sgd", "adam", "rmsprop")),
))
#: Grid search needs a step for every range.
GRID_SPACE = SearchSpace((
    DoubleParameter("x", -1.0, 2.0, 0.5),
    IntParameter("epochs", 1, 9, 4),
    CategoricalParameter("opt", ("sgd", "adam")),
))

#: Every algorithm with the settings it needs; bayesianoptimization with extra trees, whose fit
#: takes milliseconds where a GP's takes a second (the GP has a test of its own below).
SETTINGS: dict[str, dict[str, str]] = {
    "pbt": {"n_population": "4"},
    "hyperband": {"resource_name": "epochs", "r_l": "9"},
    "bayesianoptimization": {"n_initial_points": "4", "base_estimator": "ET"},
}
ALGORITHMS = algorithm_names()
TRIALS = 16


def trials_for(name: str) -> int:
    # A model fit per suggestion makes bayesianoptimization the slow one: fewer trials.
    return 8 if name == "bayesianoptimization" else TRIALS


def space_for(name: str) -> SearchSpace:
    return GRID_SPACE if name == "grid" else SPACE


def loss(a: Mapping[str, Any]) -> float:
    return (a["x"] - 0.5) ** 2 + (math.log10(a["lr"]) + 2) ** 2 if "lr" in a else (a["x"] - 0.5) ** 2


def drive(name: str, seed: int, trials: int, parallel: int = 1, history: list[TrialRecord] | None = None,
          through_json: bool = False) -> list[TrialRecord]:
    """Run ``trials`` trials as the tuner does (``policy.history_for``): trial k is asked with
    the last ``parallel - 1`` trials pending. ``history`` is where a resumed run starts; with
    ``through_json`` the records pass through JSON first, as a journal replay gives them."""
    algorithm = get_algorithm(name, SETTINGS.get(name))
    space = space_for(name)
    done = list(history or [])
    if through_json:
        done = [TrialRecord(r.index, json.loads(json.dumps(dict(r.assignment))), r.status, r.loss,
                            json.loads(json.dumps(r.internal)) if r.internal is not None else None) for r in done]
    while len(done) < trials:
        k = len(done)
        settled = max(0, k - parallel + 1)
        view = done[:settled] + [TrialRecord.pending(r.index, r.assignment, r.internal) for r in done[settled:]]
        suggestion = algorithm.suggest(space, view, trial_seed(seed, k))
        space.validate(suggestion.assignment)
        done.append(TrialRecord(k, suggestion.assignment, TrialStatus.SUCCEEDED, loss(suggestion.assignment),
                                suggestion.internal))
    return done


def points(history: list[TrialRecord]) -> list[dict[str, Any]]:
    return [dict(r.assignment) for r in history]


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_same_seed_gives_the_same_trials(name: str) -> None:
    n = trials_for(name)
    assert points(drive(name, 3, n)) == points(drive(name, 3, n))


@pytest.mark.parametrize("name", [n for n in ALGORITHMS if n != "grid"])
def test_another_seed_gives_other_trials(name: str) -> None:
    n = trials_for(name)
    assert points(drive(name, 3, n)) != points(drive(name, 4, n))


@pytest.mark.parametrize("parallel", [1, 3])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_run_killed_and_resumed_from_its_journal_suggests_what_the_whole_run_did(name: str, parallel: int) -> None:
    n = trials_for(name)
    whole = drive(name, 5, n, parallel)
    for kill_at in (1, n // 2, n - 3):
        # A new process: a new algorithm object (no cache), the history read back from JSON.
        resumed = drive(name, 5, n, parallel, history=whole[:kill_at], through_json=True)
        assert points(resumed) == points(whole), f"killed after {kill_at} trials"


def test_another_process_suggests_the_same_trials() -> None:
    program = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from test_algorithms_determinism import ALGORITHMS, drive, points
        print(json.dumps({{name: points(drive(name, 11, 8, 2)) for name in ALGORITHMS}}))
    """)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=300)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    ours = {name: points(drive(name, 11, 8, 2)) for name in ALGORITHMS}
    assert theirs == json.loads(json.dumps(ours))


def _cached_vs_fresh(name: str) -> tuple[list[Any], list[Any]]:
    """One algorithm object asked every trial (its caches warm) against a new object per trial."""
    space = space_for(name)
    kept = get_algorithm(name, SETTINGS.get(name))
    history: list[TrialRecord] = []
    warm, cold = [], []
    for k in range(TRIALS):
        seed = trial_seed(9, k)
        a = kept.suggest(space, history, seed).assignment
        b = get_algorithm(name, SETTINGS.get(name)).suggest(space, history, seed).assignment
        warm.append(a)
        cold.append(b)
        history.append(TrialRecord(k, a, TrialStatus.SUCCEEDED if k % 5 else TrialStatus.FAILED,
                                   loss(a) if k % 5 else None))
    return warm, cold


@pytest.mark.parametrize("name", ["auto", "multivariate-tpe", "cmaes"])
def test_a_kept_model_suggests_exactly_what_one_rebuilt_from_the_history_does(name: str) -> None:
    warm, cold = _cached_vs_fresh(name)
    assert warm == cold


def test_bayesian_optimization_with_its_default_gp_resumes_exactly() -> None:
    gp = {"n_initial_points": "2"}
    algorithm = get_algorithm("bayesianoptimization", gp)
    history: list[TrialRecord] = []
    for k in range(4):
        a = algorithm.suggest(SPACE, history, trial_seed(2, k)).assignment
        assert get_algorithm("bayesianoptimization", gp).suggest(SPACE, history, trial_seed(2, k)).assignment == a
        history.append(TrialRecord(k, a, TrialStatus.SUCCEEDED, loss(a)))


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_tuner_resumed_from_its_journal_suggests_what_one_uninterrupted_run_did(name: str, tmp_path) -> None:
    """Through ``pipetune.tune``: the same experiment stopped after a few trials and run again
    (a new tuner replaying the journal, with a raised budget) gives the trials of one run."""
    import pipetune

    n = trials_for(name)

    def tune(directory: str, max_trials: int) -> list[dict[str, Any]]:
        result = pipetune.tune(loss, space_for(name), minimize=True, max_trials=max_trials, parallel=2,
                               algorithm=name, algorithm_settings=SETTINGS.get(name), seed=4,
                               directory=tmp_path / directory, state_dir=tmp_path / "state")
        return [dict(t.assignment) for t in result.trials]

    whole = tune("whole", n)
    tune("resumed", n // 2)
    assert tune("resumed", n) == whole
