"""The algorithms as the tuner uses them: by name, with settings, asked one trial or a batch at a
time, from a history that holds everything they know."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from pipetune.errors import SpaceError, SpecError
from pipetune.tuner.algorithms import (
    Exhausted,
    algorithm_names,
    get_algorithm,
    suggest_batch,
    trial_seed,
)
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.space import (
    CategoricalParameter,
    DiscreteParameter,
    DoubleParameter,
    ExpressionSpace,
    IntParameter,
    SearchSpace,
)

HYPEROPT = ["random", "tpe", "anneal", "auto"]

#: Every parameter type and distribution, with and without a step.
EVERY_KIND = SearchSpace(
    (
        DoubleParameter("uniform", -1.0, 2.0),
        DoubleParameter("uniform_step", 0.05, 1.0, 0.1),
        DoubleParameter("log", 1e-4, 1e-1, distribution="logUniform"),
        DoubleParameter("log_step", 0.001, 0.1, 0.001, "logUniform"),
        DoubleParameter("normal", 0.0, 1.0, distribution="normal"),
        DoubleParameter("normal_step", 0.0, 10.0, 0.5, "normal"),
        DoubleParameter("lognormal", 0.5, 20.0, distribution="logNormal"),
        DoubleParameter("lognormal_step", 1.0, 100.0, 3.0, "logNormal"),
        IntParameter("int", 1, 10),
        IntParameter("int_step", 16, 128, 16),
        IntParameter("int_log", 1, 1024, distribution="logUniform"),
        IntParameter("int_normal", -5, 5, distribution="normal"),
        IntParameter("int_lognormal", 1, 50, 2, "logNormal"),
        DoubleParameter("fixed", 0.5, 0.5),
        DiscreteParameter("discrete", (1, 2.5, 4)),
        CategoricalParameter("categorical", ("adam", "sgd", "rmsprop")),
    )
)


def loss_of(assignment) -> float:
    # Any deterministic function of the assignment will do; this one has a clear optimum.
    return (assignment["uniform"] - 0.5) ** 2 + (assignment["int"] - 3) ** 2 / 10


def run(algorithm, space, trials, seed=0, loss=loss_of):
    history: list[TrialRecord] = []
    for index in range(trials):
        suggestion = algorithm.suggest(space, history, trial_seed(seed, index))
        history.append(
            TrialRecord(index, suggestion.assignment, TrialStatus.SUCCEEDED, loss(suggestion.assignment),
                        suggestion.internal)
        )
    return history


def check_typed(space: SearchSpace, assignment) -> None:
    space.validate(assignment)
    for parameter in space.parameters:
        value = assignment[parameter.name]
        if isinstance(parameter, DoubleParameter):
            assert type(value) is float, (parameter.name, value)
        elif isinstance(parameter, IntParameter):
            assert type(value) is int, (parameter.name, value)
        else:
            assert value in parameter.values and type(value) in {type(v) for v in parameter.values}
        step = getattr(parameter, "step", None)
        if step is not None:
            offset = (value - parameter.min) / step
            assert abs(offset - round(offset)) < 1e-6, (parameter.name, value)


# -- registry and settings -------------------------------------------------------------------


def test_registry_has_the_algorithms():
    assert set(algorithm_names()) >= {"auto", "random", "tpe", "anneal", "grid"}


def test_unknown_algorithm_lists_the_known_ones():
    with pytest.raises(SpecError) as error:
        get_algorithm("bayes")
    message = str(error.value)
    assert "unknown algorithm 'bayes'" in message
    for name in ("anneal", "auto", "grid", "random", "tpe"):
        assert name in message


@pytest.mark.parametrize("name", ["enas", "darts"])
def test_neural_architecture_search_is_refused_with_the_reason(name):
    with pytest.raises(SpecError, match=rf"'{name}' is not supported yet: neural architecture search"):
        get_algorithm(name)


@pytest.mark.parametrize("name", ["cmaes", "bayesianoptimization", "sobol", "multivariate-tpe", "hyperband"])
def test_every_katib_parameter_search_algorithm_is_known(name):
    settings = {"resource_name": "n", "r_l": "9"} if name == "hyperband" else {}
    assert name in algorithm_names()
    assert get_algorithm(name, settings).name == name


PBT_SPACE = SearchSpace((
    DoubleParameter("lr", 0.0001, 0.02, 0.0001),
    IntParameter("width", 8, 64),
    CategoricalParameter("act", ("relu", "tanh")),
))


def pbt_generations(settings, generations, loss):
    algorithm = get_algorithm("pbt", settings)
    history: list[TrialRecord] = []
    suggestions = []
    for index in range(generations * int(settings["n_population"])):
        suggestion = algorithm.suggest(PBT_SPACE, history, trial_seed(3, index))
        suggestions.append(suggestion)
        history.append(TrialRecord(index, suggestion.assignment, TrialStatus.SUCCEEDED,
                                   loss(suggestion.assignment), suggestion.internal))
    return suggestions


def test_pbt_first_generation_samples_then_members_follow_their_lineage_or_exploit():
    settings = {"n_population": "10", "truncation_threshold": "0.2"}
    suggestions = pbt_generations(settings, 3, loss=lambda a: abs(a["lr"] - 0.01))
    first = suggestions[:10]
    assert all(s.internal["pbt"] == {"generation": 0, "member": i, "parent": None} for i, s in enumerate(first))
    assert len({s.assignment["lr"] for s in first}) > 5
    for s in first:
        PBT_SPACE.validate(s.assignment)
    ranked = sorted(range(10), key=lambda i: (abs(first[i].assignment["lr"] - 0.01), i))
    top, bottom = set(ranked[:2]), set(ranked[-2:])
    second = suggestions[10:20]
    for member, s in enumerate(second):
        tag = s.internal["pbt"]
        assert (tag["generation"], tag["member"]) == (1, member)
        PBT_SPACE.validate(s.assignment)
        if member in bottom:
            # Exploit a top member's checkpoint, explore its parameters.
            assert tag["parent"] in top
            donor = first[tag["parent"]].assignment
            assert s.assignment["act"] == donor["act"]
            assert s.assignment["lr"] == pytest.approx(min(max(donor["lr"] * 0.8, 0.0001), 0.02), abs=1e-4) or \
                s.assignment["lr"] == pytest.approx(min(donor["lr"] * 1.2, 0.02), abs=1e-4)
        else:
            assert tag["parent"] == member and s.assignment == first[member].assignment


def test_pbt_resamples_with_its_probability_and_is_deterministic():
    settings = {"n_population": "6", "truncation_threshold": "0.5", "resample_probability": "1"}
    loss = lambda a: a["lr"]  # noqa: E731
    once, again = pbt_generations(settings, 2, loss), pbt_generations(settings, 2, loss)
    assert [s.assignment for s in once] == [s.assignment for s in again]
    exploited = [s for s in once[6:] if s.internal["pbt"]["parent"] != s.internal["pbt"]["member"] + 0]
    assert exploited  # with probability 1 an exploiting member gets fresh values
    donor_values = {tuple(sorted(once[s.internal["pbt"]["parent"]].assignment.items())) for s in exploited}
    assert all(tuple(sorted(s.assignment.items())) not in donor_values for s in exploited)


@pytest.mark.parametrize(("settings", "words"), [
    ({"n_population": "1"}, "n_population: expected an integer of at least 2"),
    ({"truncation_threshold": "0.9"}, "truncation_threshold: expected a number in (0, 0.5]"),
    ({"resample_probability": "2"}, "resample_probability: expected a number in [0, 1]"),
])
def test_pbt_settings_are_checked(settings, words):
    with pytest.raises(SpecError, match=re.escape(words)):
        get_algorithm("pbt", settings)


def test_katib_tpe_settings_are_accepted():
    algorithm = get_algorithm(
        "tpe", {"gamma": "0.3", "prior_weight": "2", "n_EI_candidates": "12",
                "n_startup_jobs": "5", "random_state": "7"}
    )
    history = run(algorithm, EVERY_KIND, 8)
    assert len(history) == 8


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("tpe", {"gamma": "1.5"}, "algorithmSettings.gamma: expected a number in (0, 1), got '1.5'"),
        ("tpe", {"gamma": "abc"}, "algorithmSettings.gamma: expected a number in (0, 1), got 'abc'"),
        ("tpe", {"n_EI_candidates": "0"},
         "algorithmSettings.n_EI_candidates: expected an integer of at least 1, got '0'"),
        ("tpe", {"n_startup_jobs": "2.5"},
         "algorithmSettings.n_startup_jobs: expected an integer of at least 0, got '2.5'"),
        ("tpe", {"prior_weight": "-1"},
         "algorithmSettings.prior_weight: expected a number above 0, got '-1'"),
        ("anneal", {"avg_best_idx": "0.5"},
         "algorithmSettings.avg_best_idx: expected a number at least 1, got '0.5'"),
        ("anneal", {"shrink_coef": "fast"},
         "algorithmSettings.shrink_coef: expected a number at least 0, got 'fast'"),
        ("random", {"random_state": "-3"},
         "algorithmSettings.random_state: expected an integer of at least 0, got '-3'"),
    ],
)
def test_bad_setting_values_are_refused_naming_setting_and_expectation(name, settings, message):
    with pytest.raises(SpecError) as error:
        get_algorithm(name, settings)
    assert str(error.value) == message


@pytest.mark.parametrize("name, setting", [("random", "gamma"), ("tpe", "shrink_coef"),
                                           ("grid", "gamma"), ("auto", "n_startup_jobs")])
def test_unknown_settings_are_refused(name, setting):
    with pytest.raises(SpecError, match=rf"'{setting}' is not a setting of algorithm '{name}'"):
        get_algorithm(name, {setting: "1"})


# -- assignments ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", HYPEROPT)
def test_assignments_are_typed_and_feasible_for_every_parameter_kind(name):
    history = run(get_algorithm(name, {"n_startup_jobs": "5"} if name == "tpe" else None),
                  EVERY_KIND, 35)
    for record in history:
        check_typed(EVERY_KIND, record.assignment)
        assert record.assignment["fixed"] == 0.5
        json.dumps(record.assignment)
    # Not stuck on one value: the search moves.
    assert len({record.assignment["uniform"] for record in history}) > 10


@pytest.mark.parametrize("name", HYPEROPT)
def test_same_history_and_seed_give_the_same_suggestion(name):
    algorithm = get_algorithm(name)
    history = run(algorithm, EVERY_KIND, 32)
    first = algorithm.suggest(EVERY_KIND, history, 1234)
    again = get_algorithm(name).suggest(EVERY_KIND, list(history), 1234)
    assert first == again
    other = algorithm.suggest(EVERY_KIND, history, 4321)
    assert other != first


def test_a_fresh_process_suggests_the_same():
    space = SearchSpace((DoubleParameter("x", -5.0, 10.0), IntParameter("n", 1, 20)))
    history = run(get_algorithm("auto"), space, 40, loss=lambda a: (a["x"] - 1) ** 2 + a["n"])
    here = {name: get_algorithm(name).suggest(space, history, 99).assignment for name in HYPEROPT}
    records = [[r.index, dict(r.assignment), r.loss] for r in history]
    code = textwrap.dedent(
        f"""
        import json
        from pipetune.tuner.algorithms import get_algorithm
        from pipetune.tuner.history import TrialRecord, TrialStatus
        from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace
        space = SearchSpace((DoubleParameter("x", -5.0, 10.0), IntParameter("n", 1, 20)))
        records = json.loads({json.dumps(json.dumps(records))})
        history = [TrialRecord(i, a, TrialStatus.SUCCEEDED, l) for i, a, l in records]
        print(json.dumps({{name: get_algorithm(name).suggest(space, history, 99).assignment
                          for name in {HYPEROPT!r}}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == here


@pytest.mark.parametrize("name", HYPEROPT)
def test_pending_and_failed_trials_are_accepted(name):
    space = SearchSpace((DoubleParameter("x", 0.0, 1.0), CategoricalParameter("c", ("a", "b"))))
    history = run(get_algorithm(name), space, 30, loss=lambda a: a["x"])
    history += [
        TrialRecord(30, {"x": 0.5, "c": "a"}, TrialStatus.FAILED),
        TrialRecord(31, {"x": 0.6, "c": "b"}, TrialStatus.RUNNING),
        TrialRecord(32, {"x": 0.7, "c": "a"}, TrialStatus.PENDING),
        TrialRecord(33, {"x": 7.0, "c": "z"}, TrialStatus.SUCCEEDED, 0.0),  # outside: left out
    ]
    suggestion = get_algorithm(name).suggest(space, history, 5)
    space.validate(suggestion.assignment)


def test_tpe_moves_away_from_pending_trials():
    # A tiny space: with the best point pending, TPE must not suggest it again.
    space = SearchSpace((DiscreteParameter("x", (1, 2, 3)),))
    history = run(get_algorithm("random"), space, 20, loss=lambda a: a["x"])
    pending = TrialRecord(20, {"x": 1}, TrialStatus.PENDING)
    for seed in range(5):
        assert get_algorithm("tpe").suggest(space, [*history, pending], seed).assignment != {"x": 1}


# -- batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HYPEROPT)
def test_a_batch_never_repeats_itself_even_in_a_tiny_space(name):
    space = SearchSpace((CategoricalParameter("c", ("a", "b", "c")), IntParameter("n", 0, 1)))
    history = run(get_algorithm("random"), space, 2, loss=lambda a: a["n"])
    for seed in range(3):
        batch = suggest_batch(get_algorithm(name), space, history, seed=seed, count=4)
        keys = [tuple(sorted(s.assignment.items())) for s in batch]
        assert len(keys) == 4 and len(set(keys)) == 4


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_a_batch_larger_than_the_space_stops_when_every_point_is_pending_if_deterministic(name):
    space = SearchSpace((CategoricalParameter("c", ("a", "b")), IntParameter("n", 0, 1)))
    batch = suggest_batch(get_algorithm(name, {"deterministic": "true"}), space, [], seed=0, count=10)
    assert sorted(tuple(s.assignment.values()) for s in batch) == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)
    ]


@pytest.mark.parametrize("name", ["random", "tpe", "auto"])
def test_a_batch_larger_than_the_space_covers_it_then_repeats_for_a_noisy_objective(name):
    space = SearchSpace((CategoricalParameter("c", ("a", "b")), IntParameter("n", 0, 1)))
    batch = suggest_batch(get_algorithm(name), space, [], seed=0, count=10)
    assert len(batch) == 10
    assert sorted({tuple(s.assignment.values()) for s in batch[:4]}) == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)
    ]


def test_tpe_batch_differs_where_katib_repeats_it():
    # Katib #1329: a batch asked with one history and one seed came back as copies.
    space = SearchSpace((DoubleParameter("x", 0.0, 1.0), DoubleParameter("y", 0.0, 1.0)))
    history = run(get_algorithm("random"), space, 25, loss=lambda a: a["x"] + a["y"])
    batch = suggest_batch(get_algorithm("tpe"), space, history, seed=0, count=4)
    assert len({tuple(s.assignment.values()) for s in batch}) == 4


def test_auto_tries_every_point_first_then_ends_when_the_objective_is_deterministic():
    space = SearchSpace((CategoricalParameter("c", ("a", "b", "c")), IntParameter("n", 1, 3)))
    history = run(get_algorithm("auto"), space, 9, loss=lambda a: a["n"])
    assert len({tuple(r.assignment.values()) for r in history}) == 9
    with pytest.raises(Exhausted):
        get_algorithm("auto", {"deterministic": "true"}).suggest(space, history, 0)


def test_auto_resamples_a_finite_space_of_a_noisy_objective_and_favours_the_best_point():
    # hyperopt's n_arms: two arms, the first pays better on average; 2 points never end the run.
    space = SearchSpace((CategoricalParameter("arm", ("good", "bad")),))

    def noisy(a, index):
        return (0.0 if a["arm"] == "good" else 1.0) + (index * 7919 % 13) / 13 - 0.5

    algorithm = get_algorithm("auto")
    history: list[TrialRecord] = []
    for index in range(40):
        s = algorithm.suggest(space, history, trial_seed(0, index))
        history.append(TrialRecord(index, s.assignment, TrialStatus.SUCCEEDED, noisy(s.assignment, index)))
    arms = [r.assignment["arm"] for r in history]
    assert len(history) == 40 and arms[20:].count("good") > arms[20:].count("bad")


# -- grid -------------------------------------------------------------------------------------


GRID_SPACE = SearchSpace(
    (
        DoubleParameter("lr", 0.1, 0.3, 0.1),
        IntParameter("n", 1, 5, 2),
        CategoricalParameter("opt", ("sgd", "adam")),
    )
)


def test_grid_visits_every_point_once_in_order_then_is_exhausted():
    algorithm = get_algorithm("grid")
    history = run(algorithm, GRID_SPACE, 18, loss=lambda a: 0.0)
    points = [tuple(r.assignment.values()) for r in history]
    assert len(set(points)) == 18
    assert points[:3] == [(0.1, 1, "sgd"), (0.1, 1, "adam"), (0.1, 3, "sgd")]
    for record in history:
        check_typed(GRID_SPACE, record.assignment)
    with pytest.raises(Exhausted, match="all 18 points"):
        algorithm.suggest(GRID_SPACE, history, 0)


def test_grid_skips_pending_points_and_a_batch_covers_the_rest():
    algorithm = get_algorithm("grid")
    pending = TrialRecord(0, {"lr": 0.1, "n": 1, "opt": "sgd"}, TrialStatus.PENDING)
    assert algorithm.suggest(GRID_SPACE, [pending], 0).assignment == {"lr": 0.1, "n": 1, "opt": "adam"}
    batch = suggest_batch(algorithm, GRID_SPACE, [pending], seed=0, count=100)
    assert len(batch) == 17


def test_grid_needs_a_step_for_numbers_and_names_the_parameter():
    space = SearchSpace((DoubleParameter("lr", 0.0, 1.0), CategoricalParameter("c", ("a",))))
    with pytest.raises(SpaceError, match=r"parameter 'lr': grid search needs feasibleSpace.step"):
        get_algorithm("grid").suggest(space, [], 0)


def test_grid_refuses_an_expression_space():
    hp = pytest.importorskip("hyperopt").hp
    with pytest.raises(SpaceError, match="grid search needs a SearchSpace"):
        get_algorithm("grid").suggest(ExpressionSpace({"x": hp.uniform("x", 0, 1)}), [], 0)


# -- hyperopt expression spaces -------------------------------------------------------------


def conditional_space() -> ExpressionSpace:
    from hyperopt import hp

    return ExpressionSpace(
        {
            "lr": hp.qloguniform("lr", -7, 0, 0.0005),
            "model": hp.choice(
                "model",
                [
                    {"kind": "svm", "C": hp.lognormal("C", 0, 1)},
                    {"kind": "forest", "depth": hp.quniform("depth", 2, 12, 1),
                     "criterion": hp.choice("criterion", ["gini", "entropy"])},
                ],
            ),
        }
    )


@pytest.mark.parametrize("name", HYPEROPT)
def test_expression_space_round_trips_through_the_history(name):
    space = conditional_space()

    def loss(assignment):
        model = assignment["model"]
        return assignment["lr"] + (model["depth"] / 10 if model["kind"] == "forest" else model["C"])

    history = run(get_algorithm(name), space, 30, loss=loss)
    kinds = set()
    for record in history:
        assignment, internal = record.assignment, record.internal
        assert set(assignment) == {"lr", "model"}
        kinds.add(assignment["model"]["kind"])
        if assignment["model"]["kind"] == "svm":
            assert set(assignment["model"]) == {"kind", "C"} and internal["depth"] == []
        else:
            assert assignment["model"]["criterion"] in ("gini", "entropy")
            assert internal["C"] == []
        # JSON in, JSON out: what the journal would store is enough to rebuild the history.
        assert json.loads(json.dumps(internal)) == internal
        json.dumps(assignment)
    assert kinds == {"svm", "forest"}
    replayed = [
        TrialRecord(r.index, json.loads(json.dumps(r.assignment)), r.status, r.loss,
                    json.loads(json.dumps(r.internal)))
        for r in history
    ]
    assert get_algorithm(name).suggest(space, replayed, 77) == get_algorithm(name).suggest(
        space, history, 77
    )


def test_tpe_on_an_expression_space_learns_from_internal_values():
    space = conditional_space()

    def loss(assignment):
        return 0.0 if assignment["model"]["kind"] == "forest" else 10.0

    history = run(get_algorithm("tpe", {"n_startup_jobs": "10"}), space, 40, loss=loss)
    late = [r.assignment["model"]["kind"] for r in history[20:]]
    assert late.count("forest") > late.count("svm")
    # Without internal values a record can't be placed, and TPE then knows nothing of it.
    blind = [TrialRecord(r.index, r.assignment, r.status, r.loss) for r in history]
    assert get_algorithm("tpe").suggest(space, blind, 5) != get_algorithm("tpe").suggest(
        space, history, 5
    )


def test_an_expression_that_is_not_a_mapping_is_refused():
    from hyperopt import hp

    with pytest.raises(SpaceError, match="must evaluate to a mapping"):
        get_algorithm("random").suggest(ExpressionSpace(hp.uniform("x", 0, 1)), [], 0)


# -- import hygiene ---------------------------------------------------------------------------


def test_importing_the_tuner_does_not_import_hyperopt():
    code = (
        "import sys, pipetune.tuner.space, pipetune.tuner.algorithms;"
        "from pipetune.tuner.algorithms import get_algorithm; get_algorithm('grid');"
        "print('hyperopt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", HYPEROPT)
def test_cached_documents_suggest_exactly_what_fresh_ones_do(name):
    """The adapter keeps each settled trial's hyperopt document between suggestions; a run
    that reuses them must suggest what a run rebuilding everything every time suggests."""
    from pipetune.tuner.algorithms._hyperopt import plan_for

    def sequence(fresh: bool) -> list:
        algorithm = get_algorithm(name)
        history: list[TrialRecord] = []
        for index in range(40):
            if fresh:
                plan_for(EVERY_KIND).doc_cache.clear()
                plan_for(EVERY_KIND).vals_cache.clear()
            # Two pending trials at the end, as the tuner hands them at parallelism 3.
            pending = [TrialRecord.pending(r.index, r.assignment, r.internal) for r in history[-2:]]
            suggestion = algorithm.suggest(EVERY_KIND, history[:-2] + pending if pending else history,
                                           trial_seed(5, index))
            history.append(TrialRecord(index, suggestion.assignment, TrialStatus.SUCCEEDED,
                                       loss_of(suggestion.assignment), suggestion.internal))
        return [record.assignment for record in history]

    assert sequence(fresh=False) == sequence(fresh=True)


def test_hyperopt_atpe_is_loaded_only_when_used():
    """pipetune never uses ATPE, whose import of scipy.stats was most of a tuner's start-up."""
    code = textwrap.dedent(
        """
        import sys
        from pipetune.tuner.algorithms import get_algorithm
        from pipetune.tuner.history import TrialRecord, TrialStatus
        from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace
        space = SearchSpace((DoubleParameter("x", -5.0, 10.0), IntParameter("n", 1, 20)))
        history = []
        for name in ("random", "tpe", "anneal", "auto"):
            for index in range(25):
                a = get_algorithm(name).suggest(space, history, index).assignment
                history.append(TrialRecord(len(history), a, TrialStatus.SUCCEEDED, (a["x"] - 1) ** 2))
        before = "scipy.stats" in sys.modules
        import hyperopt
        from hyperopt.atpe import ATPEOptimizer  # still there for whoever wants it
        print(before, "scipy.stats" in sys.modules, ATPEOptimizer.__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "ATPEOptimizer"]


def test_the_adapters_copy_of_a_hyperopt_constant_matches():
    import hyperopt

    from pipetune.tuner.algorithms import _hyperopt

    assert _hyperopt._JOB_STATE_DONE == hyperopt.JOB_STATE_DONE
