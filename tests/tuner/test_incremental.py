"""The tuner's derived values (ordered trials, counts, best trial, the algorithm's history) are
kept up to date record by record; these check they always equal what a computation from every
trial gives, including the cases that force a whole recomputation."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from pipetune.tuner import policy
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import ExperimentState, apply, replay
from pipetune.tuner.objective import Objective

STATUSES = [TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE, TrialStatus.EARLY_STOPPED,
            TrialStatus.KILLED]


def random_records(seed: int, trials: int = 60) -> list[dict[str, Any]]:
    """A journal where trials run, fail, are retried, finish twice (the best getting worse),
    and tie on their objective."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = [{"op": "experiment_started", "name": "e", "seed": seed}]
    for index in range(trials):
        records.append({"op": "trial_created", "trial": index, "assignment": {"x": rng.random()}, "internal": None})
        for attempt in range(rng.choice([1, 1, 2])):
            records.append({"op": "trial_started", "trial": index, "attempt": attempt, "run_id": f"r{index}-{attempt}"})
            status = rng.choice(STATUSES)
            objective = rng.choice([0.5, round(rng.random(), 2)]) if status in (
                TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED) else None
            records.append({"op": "trial_finished", "trial": index, "attempt": attempt, "status": status.value,
                            "objective": objective, "metrics": {}})
        if index and rng.random() < 0.2:
            # An earlier trial finishes again, worse or better than before.
            again = rng.randrange(index)
            records.append({"op": "trial_finished", "trial": again, "attempt": 0, "status": "Succeeded",
                            "objective": rng.choice([-10.0, 10.0, 0.5]), "metrics": {}})
        if rng.random() < 0.05:
            records.append({"op": "experiment_finished", "status": "Succeeded"})
    return records


def test_counts_best_and_order_follow_every_record() -> None:
    for seed in range(8):
        state = ExperimentState()
        for number, record in enumerate(random_records(seed)):
            state = apply(state, record)
            if number % 3:  # some states are never asked: their successors step past them
                continue
            whole = [state.trials[i] for i in sorted(state.trials)]
            assert state.ordered() == whole
            assert policy.state_counts(state) == policy.summary_counts(whole)
            for objective in (Objective("m", type="minimize"), Objective("m", type="maximize")):
                expected = policy.best_trial(whole, objective)
                got = policy.state_best(state, objective)
                assert (got.index if got else None) == (expected.index if expected else None), (seed, number)
                assert got == expected


def test_a_state_asked_after_a_long_silence_is_still_right() -> None:
    records = random_records(3, trials=200)
    state = replay(records)
    whole = [state.trials[i] for i in sorted(state.trials)]
    objective = Objective("m", type="minimize")
    assert policy.state_best(state, objective) == policy.best_trial(whole, objective)
    assert policy.state_counts(state) == policy.summary_counts(whole)


def test_verdict_and_failures_of_a_state_match_the_trials() -> None:
    objective = Objective("m", type="minimize", goal=-5.0)
    for retries in (0, 1, 3):
        budget = policy.Budget(200, 2, max_failed=10_000, max_retries=retries, give_up_after=3)
        state = ExperimentState()
        for record in random_records(5):
            state = apply(state, record)
            whole = [state.trials[i] for i in sorted(state.trials)]
            assert policy.failed_count(state, budget) == policy.failed_count(whole, budget)
            assert policy.goal_reached(state, objective) == policy.goal_reached(whole, objective)


def test_history_kept_between_suggestions_equals_one_built_whole() -> None:
    objective = Objective("m", type="minimize")
    for parallel in (1, 3):
        budget = policy.Budget(1000, parallel)
        state = ExperimentState()
        rng = random.Random(parallel)
        records: list[dict[str, Any]] = []
        for index in range(80):
            for record in (
                {"op": "trial_created", "trial": index, "assignment": {"x": rng.random()}},
                {"op": "trial_started", "trial": index, "attempt": 0, "run_id": f"r{index}"},
            ):
                records.append(record)
                state = apply(state, record)
            # Trials finish out of order: the oldest running one, or a random one.
            running = [t.index for t in state.ordered() if not t.status.final]
            while len(running) >= parallel:
                done = running.pop(rng.randrange(len(running)))
                record = {"op": "trial_finished", "trial": done, "attempt": 0, "status": "Succeeded",
                          "objective": rng.random(), "metrics": {}}
                records.append(record)
                state = apply(state, record)
            if policy.can_ask(state, budget):
                kept = policy.history_for(state, budget, objective)
                fresh = policy.history_for(replay(records), budget, objective)  # caches empty
                assert kept == fresh
                assert [r.index for r in kept] == list(range(len(state.trials)))


def test_refinement_width_continued_equals_replayed_whole() -> None:
    from pipetune.tuner.algorithms._auto import refinement_width, width_replay
    from pipetune.tuner.history import TrialRecord

    rng = random.Random(0)
    records: list[TrialRecord] = []
    kept = width_replay([])[0]
    for index in range(300):
        status = rng.choice([TrialStatus.SUCCEEDED, TrialStatus.SUCCEEDED, TrialStatus.FAILED])
        records.append(TrialRecord(index, {"x": index}, status, rng.random() if status is TrialStatus.SUCCEEDED
                                   else None))
        # The last one or two still pending, as a batch leaves them.
        pending = [TrialRecord.pending(index + 1 + k, {"x": -k}) for k in range(rng.randrange(3))]
        history = records + pending
        kept, width = width_replay(history, kept)
        assert width == refinement_width(history)
    # A history that does not start with the kept records is replayed whole.
    other = [TrialRecord(i, {"x": i}, TrialStatus.SUCCEEDED, 1.0 - i / 100) for i in range(120)]
    assert width_replay(other, kept)[1] == refinement_width(other)


def test_tried_keys_kept_on_the_plan_equal_every_documents_keys() -> None:
    from pipetune.tuner.algorithms._hyperopt import _doc_key, plan_for, to_hyperopt_docs, tried_keys
    from pipetune.tuner.history import TrialRecord
    from pipetune.tuner.space import SearchSpace

    space = SearchSpace.from_katib([{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "50"}}])
    plan = plan_for(space)
    rng = random.Random(1)
    ours: list[TrialRecord] = []
    theirs: list[TrialRecord] = []
    for index in range(60):
        # Two experiments on one space take turns: the plan's kept keys must follow each.
        for history in (ours, theirs):
            history.append(TrialRecord(index, {"x": rng.randrange(51)}, TrialStatus.SUCCEEDED, rng.random()))
            given = history + [TrialRecord.pending(index + 1, {"x": rng.randrange(51)})]
            docs = to_hyperopt_docs(plan, given)
            settled, tried = tried_keys(plan, docs)
            assert settled == len(history)
            assert tried == {_doc_key(plan, doc) for doc in docs}


def test_the_kept_history_follows_the_branch_of_states_it_is_asked_for() -> None:
    """States that share a past share the kept history; a branch that differs from it (a
    trial finished otherwise) gets its own records, not the other branch's."""
    objective = Objective("m", type="minimize")
    budget = policy.Budget(100, 1)
    base = ExperimentState()
    for index in range(5):
        base = apply(base, {"op": "trial_created", "trial": index, "assignment": {"x": index}})
        base = apply(base, {"op": "trial_finished", "trial": index, "attempt": 0, "status": "Succeeded",
                            "objective": float(index), "metrics": {}})
    created = {"op": "trial_created", "trial": 5, "assignment": {"x": 5}}
    one = apply(apply(base, created), {"op": "trial_finished", "trial": 5, "attempt": 0, "status": "Succeeded",
                                       "objective": 1.0, "metrics": {}})
    other = apply(apply(base, created), {"op": "trial_finished", "trial": 5, "attempt": 0, "status": "Failed",
                                         "objective": None, "metrics": {}})
    first = policy.history_for(one, budget, objective)
    second = policy.history_for(other, budget, objective)
    assert first[5].loss == 1.0 and second[5].status is TrialStatus.FAILED and second[5].loss is None
    assert policy.history_for(one, budget, objective) == first


def test_documents_continued_from_the_last_history_equal_ones_built_whole() -> None:
    from pipetune.tuner.algorithms._hyperopt import plan_for, to_hyperopt_docs
    from pipetune.tuner.history import TrialRecord
    from pipetune.tuner.space import SearchSpace

    space = SearchSpace.from_katib([{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}])
    plan = plan_for(space)
    rng = random.Random(2)
    history: list[TrialRecord] = []
    for index in range(80):
        status = rng.choice([TrialStatus.SUCCEEDED, TrialStatus.FAILED])
        # Now and then a value outside the space: no document for it.
        x = rng.random() if rng.random() > 0.1 else 5.0
        history.append(TrialRecord(index, {"x": x}, status, rng.random() if status is TrialStatus.SUCCEEDED else None))
        given = history + [TrialRecord.pending(index + 1, {"x": rng.random()})]
        kept = to_hyperopt_docs(plan, given)
        plan.docs_cache[0] = ([], [])
        plan.doc_cache.clear()
        assert kept == to_hyperopt_docs(plan, given)


@pytest.mark.parametrize("constrained", [False, True])
def test_the_told_search_space_gives_what_optunas_intersection_gives(constrained: bool) -> None:
    """The model's TPE is told its relative search space (``StudyCache.relative_space``)
    instead of intersecting every trial's distributions per suggestion: over growing
    histories with failed and pending trials, and every kind of parameter, the space told
    equals Optuna's own and the suggestion equals that of Optuna's unchanged sampler. With
    constraints too, where a trial is complete with its constraint values (once told no space
    until a trial without constraints had completed, so multivariate TPE went independent)."""
    import optuna

    from pipetune.tuner.algorithms._optuna import StudyCache, tpe_sampler
    from pipetune.tuner.history import TrialRecord
    from pipetune.tuner.space import SearchSpace

    space = SearchSpace.from_katib([
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "1"}, "scale": "log"},
        {"name": "s", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1", "step": "0.25"}},
        {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
        {"name": "k", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
        {"name": "c", "parameterType": "categorical", "feasibleSpace": {"list": ["only"]}},
    ])
    rng = random.Random(5)
    told, plain = StudyCache(space), StudyCache(space)
    history: list[TrialRecord] = []
    for index in range(40):
        seed = 1000 + index
        sampler = tpe_sampler(seed, multivariate=True, n_startup_trials=3)
        params = told.ask(history, sampler)
        assert told.relative_space() == (
            {} if not told.completed else
            optuna.search_space.intersection_search_space(told.storage.get_all_trials(told.study_id)))
        reference = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=3)
        assert params == plain.ask(history, reference)
        assignment = {"x": params["x"], "lr": params["lr"], "s": params["s"] * 0.25, "n": params["n"],
                      "k": params["k"], "c": "only"}
        fate = rng.random()
        status = TrialStatus.SUCCEEDED if fate < 0.7 else TrialStatus.FAILED if fate < 0.85 else TrialStatus.RUNNING
        loss = rng.random() if status is TrialStatus.SUCCEEDED else None
        if history and not history[-1].status.final:
            history[-1] = replace(history[-1], status=TrialStatus.FAILED, loss=None, losses=None)
        record = TrialRecord(index, assignment, status, loss)
        if constrained:
            violation = rng.uniform(-1, 1) if loss is not None else None
            record = replace(record, loss=loss if violation is None or violation <= 0 else None,
                             losses=None if loss is None else (loss,),
                             violations=None if violation is None else (violation,))
        history.append(record)


def _annealing_histories(space: Any, seed: int) -> Any:
    """Growing histories on ``space`` drawn by random search, with failed, pending and
    outside-space trials, each with the pending trial the next suggestion sees."""
    from hyperopt import rand

    from pipetune.tuner.algorithms._hyperopt import ask, from_hyperopt_vals, plan_for, to_hyperopt_docs
    from pipetune.tuner.history import TrialRecord

    plan = plan_for(space)
    rng = random.Random(seed)
    history: list[TrialRecord] = []
    for index in range(70):
        suggestion = from_hyperopt_vals(plan, ask(rand.suggest, plan, to_hyperopt_docs(plan, history), index, index))
        status = rng.choice([TrialStatus.SUCCEEDED] * 4 + [TrialStatus.FAILED])
        loss = rng.choice([rng.random(), 0.5]) if status is TrialStatus.SUCCEEDED else None
        assignment = dict(suggestion.assignment)
        if suggestion.internal is None and rng.random() < 0.05:
            assignment = {name: "outside" for name in assignment}  # no document for it
        history.append(TrialRecord(index, assignment, status, loss, suggestion.internal))
        pending = [] if rng.random() < 0.3 else [replace(history[-1], index=index + 1, status=TrialStatus.RUNNING,
                                                         loss=None)]
        yield plan, history + pending


@pytest.mark.parametrize("kind", ["katib", "expression"])
def test_annealing_on_the_kept_view_suggests_what_hyperopts_anneal_does(kind: str) -> None:
    """Issue 15: the refinement's annealing reads the trials through a view kept on the plan
    and extended (``annealing_view``), not hyperopt's pass over every trial per suggestion;
    each suggestion equals ``hyperopt.anneal.suggest``'s on the same documents, with two
    experiments taking turns on one space."""
    import hyperopt
    from hyperopt import anneal, hp

    from pipetune.tuner.algorithms._hyperopt import ask, to_hyperopt_docs
    from pipetune.tuner.space import ExpressionSpace, SearchSpace

    if kind == "katib":
        space: Any = SearchSpace.from_katib([
            {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-2", "max": "3"}},
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.0001", "max": "1",
                                                                       "distribution": "logUniform"}},
            {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
            {"name": "kind", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b", "c"]}},
        ])
    else:
        space = ExpressionSpace({"model": hp.choice("model", [
            {"name": "svm", "C": hp.loguniform("C", -3, 3)},
            {"name": "tree", "depth": hp.quniform("depth", 1, 10, 1), "gain": hp.normal("gain", 0, 1)},
        ]), "lr": hp.uniform("lr", 0, 1)})
    compared = 0
    for (plan, ours), (_, theirs) in zip(_annealing_histories(space, 1), _annealing_histories(space, 2)):
        for given in (ours, theirs):
            docs = to_hyperopt_docs(plan, given)
            if not any(doc["result"].get("loss") is not None for doc in docs):
                continue
            for options in ({}, {"avg_best_idx": 1.0, "shrink_coef": 0.37}):
                seed = len(given) * 7 + 3
                got = ask(anneal.suggest, plan, docs, len(given), seed, **options)
                (doc,) = anneal.suggest([len(given)], plan.domain, hyperopt.trials_from_docs(docs, validate=False),
                                        seed, **options)
                assert got == {label: [v.item() if hasattr(v, "item") else v for v in values]
                               for label, values in doc["misc"]["vals"].items()}, (kind, len(given), options)
                compared += 1
    assert compared > 200


def test_the_models_kept_sampler_reseeded_suggests_what_a_new_sampler_does() -> None:
    """Issue 15: auto's and multivariate-tpe's model keeps one TPE sampler and reseeds it per
    suggestion (a new sampler cost a quarter of a suggestion); over growing histories with
    failed and pending trials, a batch's suggestions included, every suggestion equals that of
    a sampler made anew with the trial's seed on a study built whole."""
    from pipetune.tuner.algorithms import get_algorithm
    from pipetune.tuner.algorithms._optuna import StudyCache, tpe_sampler
    from pipetune.tuner.history import TrialRecord
    from pipetune.tuner.space import SearchSpace

    space = SearchSpace.from_katib([
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
        {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
        {"name": "k", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b", "c"]}},
    ])
    algorithm = get_algorithm("multivariate-tpe", {"n_startup_trials": "4"})
    rng = random.Random(9)
    history: list[TrialRecord] = []
    for index in range(45):
        seed = 77 + index
        got = algorithm.params(space, history, seed)  # type: ignore[attr-defined]
        expected = StudyCache(space).ask(history, tpe_sampler(seed, multivariate=True, n_startup_trials=4))
        assert got == expected, index
        status = rng.choice([TrialStatus.SUCCEEDED] * 3 + [TrialStatus.FAILED, TrialStatus.RUNNING])
        loss = rng.random() if status is TrialStatus.SUCCEEDED else None
        # Pending trials come last, as the tuner gives them: they settle together, and while
        # one is pending the next is too (a batch).
        pending = [i for i, record in enumerate(history) if not record.status.final]
        if pending and rng.random() < 0.6:
            for i in pending:
                history[i] = replace(history[i], status=TrialStatus.SUCCEEDED, loss=rng.random())
        elif pending:
            status, loss = TrialStatus.RUNNING, None
        history.append(TrialRecord(index, {"x": got["x"], "n": got["n"], "k": got["k"]}, status, loss))
    assert algorithm._sampler is not None  # type: ignore[attr-defined]  # the kept one was used
