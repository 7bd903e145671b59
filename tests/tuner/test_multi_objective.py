"""Several objectives and constraints: the spec and its errors, the Pareto front, infeasible
trials never best, the multi-objective algorithms' determinism and resume, and what
results.yaml, trials.json, ``pipetune tune --json`` and its table, and ``pipetune.tune`` say."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipetune
from pipetune.errors import SpecError
from pipetune.experiment import experiment_from_dict
from pipetune.tuner import pareto, policy
from pipetune.tuner.algorithms import get_algorithm, trial_seed
from pipetune.tuner.config import tuner_config
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.journal import TrialState
from pipetune.tuner.loop import trial_rows
from pipetune.tuner.objective import Constraint, Objective
from pipetune.tuner.space import DoubleParameter, SearchSpace

# A trial that prints Katib StdOut lines: f1 = x, f2 = 1 - sqrt(x) + y (ZDT1-like, y >= 0 only
# makes it worse) and cost = y, which a constraint bounds.
TRIAL = ("import sys; x = float(sys.argv[1]); y = float(sys.argv[2]); "
         "print(f'f1={x}'); print(f'f2={1 - x ** 0.5 + y}'); print(f'cost={y}')")
PARAMETERS = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
    {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
]
OBJECTIVES = [{"type": "minimize", "objectiveMetricName": "f1"}, {"type": "minimize", "objectiveMetricName": "f2"}]


def document(**spec: Any) -> dict[str, Any]:
    """An Experiment document with two objectives and a cost constraint; ``spec`` changes it
    (a value of None removes the field)."""
    container = {"name": "training-container", "image": "python:3.11",
                 "command": ["python", "-c", TRIAL, "${trialParameters.x}", "${trialParameters.y}"]}
    body: dict[str, Any] = {
        "objectives": OBJECTIVES,
        "constraints": [{"metricName": "cost", "max": 0.5}],
        "parameters": PARAMETERS,
        "maxTrialCount": 12,
        "parallelTrialCount": 2,
        "seed": 3,
        "trialTemplate": {
            "trialParameters": [{"name": "x", "reference": "x"}, {"name": "y", "reference": "y"}],
            "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [container]}}}},
        },
    }
    for key, value in spec.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment", "metadata": {"name": "mo"}, "spec": body}


# -- the spec --------------------------------------------------------------------------------------


def test_objectives_and_constraints_are_read() -> None:
    experiment = experiment_from_dict(document())
    objective = experiment.objective
    assert objective.multi and [o.metric for o in objective.objectives] == ["f1", "f2"]
    assert objective.constraints == (Constraint("cost", None, 0.5),)
    # Every metric a trial's log is read for.
    assert set(objective.metric_names) == {"f1", "f2", "cost"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"objective": {"type": "minimize", "objectiveMetricName": "f1"}},
     "spec.objectives: expected either spec.objective (one objective) or spec.objectives (a list), not both"),
    ({"objectives": []}, "spec.objectives: expected a list of"),
    ({"objectives": [OBJECTIVES[0], {"type": "lower", "objectiveMetricName": "f2"}]},
     "spec.objectives[1].type: expected minimize or maximize, got 'lower'"),
    ({"objectives": [OBJECTIVES[0], {"type": "minimize"}]}, "spec.objectives[1].objectiveMetricName: expected"),
    ({"objectives": [OBJECTIVES[0], OBJECTIVES[0]]}, "spec.objectives: 'f1' is listed twice"),
    ({"objectives": [{**OBJECTIVES[0], "metricStrategies": []}]}, "spec.objectives[0]: unknown field 'metricStrategies'"),
    ({"constraints": [{"metricName": "cost"}]}, "spec.constraints[0] (cost): expected min, max or both"),
    ({"constraints": [{"metricName": "cost", "min": 2, "max": 1}]}, "spec.constraints[0] (cost).min: 2 is above max 1"),
    ({"constraints": [{"metricName": "cost", "max": "lots"}]}, "spec.constraints[0].max: expected a number, got 'lots'"),
    ({"constraints": [{"max": 1}]}, "spec.constraints[0].metricName: expected a metric name"),
    ({"algorithm": {"algorithmName": "tpe"}},
     "spec.algorithm.algorithmName: 'tpe' optimises a single objective and this experiment has 2 "
     "(spec.objectives); expected one of auto, nsga2"),
    ({"algorithm": {"algorithmName": "nsga2", "algorithmSettings": [{"name": "population_size", "value": "1"}]}},
     "population_size"),
])
def test_a_bad_spec_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        experiment_from_dict(document(**changes), "exp.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("exp.yaml: ")


def test_a_katib_experiment_is_told_objectives_are_an_extension() -> None:
    data = document()
    data["apiVersion"] = "kubeflow.org/v1beta1"
    with pytest.raises(SpecError, match=r"spec.objectives: a pipetune extension; expected apiVersion pipetune.dev/v1alpha1"):
        experiment_from_dict(data)


def test_both_objective_fields_exit_2_from_the_cli(cli, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(document(objective={"type": "minimize", "objectiveMetricName": "f1"})))
    result = cli("tune", str(path), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 2
    assert "spec.objectives: expected either spec.objective" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_single_objective_experiment_keeps_its_identity_and_digest() -> None:
    """Resuming a journal written before objectives existed must still find the same
    experiment: nothing new enters a single-objective identity."""
    single = document(objectives=None, constraints=None, objective=OBJECTIVES[0])
    config = tuner_config(experiment_from_dict(single))
    assert "objectives" not in config.identity() and "constraints" not in config.identity()
    multi = tuner_config(experiment_from_dict(document()))
    assert multi.identity()["objectives"][1]["objectiveMetricName"] == "f2"
    assert multi.identity()["constraints"] == [{"metricName": "cost", "min": None, "max": 0.5}]
    assert multi.digest() != config.digest()


# -- the front -------------------------------------------------------------------------------------

TWO = Objective("loss", type="minimize", others=(Objective("accuracy", type="maximize"),),
                constraints=(Constraint("latency", max=10.0),))


def finished(index: int, loss: float, accuracy: float, latency: float = 1.0,
             status: TrialStatus = TrialStatus.SUCCEEDED) -> TrialState:
    return TrialState(index, {"x": index}, status=status, objective=loss,
                      metrics={"loss": loss, "accuracy": accuracy, "latency": latency}, values=(loss, accuracy))


def test_the_front_is_the_feasible_trials_nothing_dominates() -> None:
    trials = [
        finished(0, 1.0, 0.5),
        finished(1, 0.5, 0.5),     # dominates 0
        finished(2, 0.2, 0.3),     # trades accuracy for loss: on the front
        finished(3, 0.1, 0.9, latency=50.0),  # would dominate all, but infeasible
        finished(4, 0.5, 0.5),     # equal to 1: both on the front
        finished(5, 0.6, 0.8),
        TrialState(6, {"x": 6}, status=TrialStatus.FAILED),
    ]
    assert [t.index for t in pareto.front(trials, TWO)] == [1, 2, 4, 5]
    # The best is the front's best on the first objective; the infeasible trial never is.
    best = policy.best_trial(trials, TWO)
    assert best is not None and best.index == 2


def test_constraints_keep_an_infeasible_trial_from_being_best_with_one_objective() -> None:
    objective = Objective("loss", type="minimize", constraints=(Constraint("latency", max=10.0),))
    trials = [finished(0, 0.1, 0, latency=11.0), finished(1, 0.3, 0), finished(2, 0.2, 0, latency=10.0)]
    best = policy.best_trial(trials, objective)
    assert best is not None and best.index == 2
    assert policy.best_trial(trials[:1], objective) is None


def test_an_infeasible_trial_is_a_failure_to_a_single_objective_algorithm() -> None:
    objective = Objective("loss", type="minimize", constraints=(Constraint("latency", min=0.0, max=10.0),))
    good, bad = finished(0, 0.3, 0), finished(1, 0.1, 0, latency=-1.0)
    assert policy.scored_record(good.record(True), good, objective).loss == 0.3
    record = policy.scored_record(bad.record(True), bad, objective)
    assert record.loss is None and record.violations == (1.0,) and record.losses == (0.1,)


def test_hypervolume_of_a_staircase() -> None:
    points = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0), (2.5, 2.5), (5.0, 0.5)]
    # Reference (4, 4): the three steps; (2.5, 2.5) is dominated, (5, 0.5) outside.
    assert pareto.hypervolume_2d(points, (4.0, 4.0)) == pytest.approx(3 * 1 + 2 * 1 + 1 * 1)
    assert pareto.hypervolume_2d([], (1.0, 1.0)) == 0.0


def test_a_goal_on_every_objective_ends_the_experiment() -> None:
    objective = Objective("loss", type="minimize", goal=0.3,
                          others=(Objective("accuracy", type="maximize", goal=0.8),))
    trials = [finished(0, 0.2, 0.7), finished(1, 0.4, 0.9)]
    assert not policy.goal_reached(trials, objective)
    trial = policy.goal_trial([*trials, finished(2, 0.25, 0.85)], objective)
    assert trial is not None and trial.index == 2


def test_a_trial_missing_an_objective_is_metrics_unavailable() -> None:
    from pipetune.contract import Results

    outcome = policy.judge_run(True, Results(metrics={"loss": 0.1}), TWO, None, None)
    assert outcome.status is TrialStatus.METRICS_UNAVAILABLE
    assert "'accuracy'" in (outcome.message or "")
    outcome = policy.judge_run(True, Results(metrics={"loss": 0.1, "accuracy": 0.5},
                                             history=[{"step": 1, "latency": 3.0}]), TWO, None, None)
    assert outcome.values == (0.1, 0.5) and outcome.metrics["latency"] == 3.0


# -- the algorithms ---------------------------------------------------------------------------------

SPACE = SearchSpace((DoubleParameter("x", 0.0, 1.0), DoubleParameter("y", 0.0, 1.0)))
MULTI = {"auto": {"n_startup_trials": "4"}, "nsga2": {"population_size": "4"}}


def zdt(a: Mapping[str, Any]) -> tuple[tuple[float, float], tuple[float, ...]]:
    """Losses and the violation of y <= 0.6."""
    x, y = a["x"], a["y"]
    g = 1 + 9 * y
    return (x, g * (1 - math.sqrt(x / g))), (y - 0.6,)


def drive(name: str, seed: int, trials: int, parallel: int = 1,
          history: list[TrialRecord] | None = None) -> list[TrialRecord]:
    """As the tuner asks (``policy.history_for``); a given ``history`` is first sent through
    JSON, as a journal replay in a new process gives it."""
    algorithm = get_algorithm(name, MULTI[name], objectives=2)
    done = [TrialRecord(r.index, json.loads(json.dumps(dict(r.assignment))), r.status, r.loss,
                        json.loads(json.dumps(r.internal)) if r.internal is not None else None,
                        r.losses, r.violations) for r in history or []]
    while len(done) < trials:
        k = len(done)
        settled = max(0, k - parallel + 1)
        view = done[:settled] + [TrialRecord.pending(r.index, r.assignment, r.internal) for r in done[settled:]]
        suggestion = algorithm.suggest(SPACE, view, trial_seed(seed, k))
        SPACE.validate(suggestion.assignment)
        losses, violations = zdt(suggestion.assignment)
        feasible = all(v <= 0 for v in violations)
        done.append(TrialRecord(k, suggestion.assignment, TrialStatus.SUCCEEDED, losses[0] if feasible else None,
                                suggestion.internal, losses, violations))
    return done


def points(history: list[TrialRecord]) -> list[dict[str, Any]]:
    return [dict(r.assignment) for r in history]


@pytest.mark.parametrize("name", sorted(MULTI))
def test_the_same_seed_gives_the_same_trials_and_another_seed_others(name: str) -> None:
    assert points(drive(name, 1, 14)) == points(drive(name, 1, 14))
    assert points(drive(name, 1, 14)) != points(drive(name, 2, 14))


@pytest.mark.parametrize("parallel", [1, 3])
@pytest.mark.parametrize("name", sorted(MULTI))
def test_a_killed_and_resumed_run_suggests_what_the_whole_run_did(name: str, parallel: int) -> None:
    whole = drive(name, 5, 16, parallel)
    for kill_at in (1, 7, 13):
        assert points(drive(name, 5, 16, parallel, history=whole[:kill_at])) == points(whole), kill_at


def test_nsga2_journals_each_trials_generation() -> None:
    """NSGA-II's generations are what it keeps on a trial: without them a rebuilt study would
    stay in its random first generation for ever."""
    history = drive("nsga2", 0, 14)
    generations = [r.internal["optuna"]["NSGAIISampler:generation"] for r in history if r.internal]
    assert len(generations) == 14 and generations[0] == 0 and max(generations) >= 2


def test_the_samplers_avoid_the_infeasible_region() -> None:
    """Constraint values reach Optuna: after the random start most trials are feasible."""
    late = drive("auto", 3, 40)[10:]
    feasible = sum(1 for r in late if r.violations and r.violations[0] <= 0)
    assert feasible >= 0.8 * len(late)


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "grid"])
def test_a_single_objective_algorithm_refuses_several_objectives(name: str) -> None:
    with pytest.raises(SpecError, match=rf"'{name}' optimises a single objective"):
        get_algorithm(name, objectives=2)


# -- pipetune.tune ----------------------------------------------------------------------------------


def zdt_function(p: Mapping[str, Any]) -> dict[str, float]:
    (f1, f2), (violation,) = zdt(p)
    return {"f1": f1, "f2": f2, "y": p["y"]}


TUNE_OBJECTIVES = [{"metric": "f1", "type": "minimize"}, {"metric": "f2", "type": "minimize"}]


def test_tune_returns_the_pareto_front(tmp_path: Path) -> None:
    result = pipetune.tune(zdt_function, SPACE, objectives=TUNE_OBJECTIVES, constraints={"y": {"max": 0.6}},
                           max_trials=16, seed=2, state_dir=tmp_path / "state", directory=tmp_path / "exp")
    front = result.pareto_front
    assert front and all(t.metrics["y"] <= 0.6 for t in front)
    counted = [t for t in result.trials if t.metrics["y"] <= 0.6]
    for trial in front:  # nothing feasible dominates a front trial
        assert not any(o.values[0] <= trial.values[0] and o.values[1] <= trial.values[1]  # type: ignore[index]
                       and o.values != trial.values for o in counted)
    assert result.best is not None and result.best.metrics["y"] <= 0.6
    results = yaml.safe_load((tmp_path / "exp" / "results.yaml").read_text())
    assert results["outputs"]["pareto_front_trials"] == [t.index for t in front]
    assert results["artifacts"]["pareto_front"] == "pareto_front.json"
    rows = json.loads((tmp_path / "exp" / "pareto_front.json").read_text())
    assert rows == json.loads(json.dumps(pareto.front_rows(result.trials, result.objective)))
    assert results["outputs"]["objective_metrics"] == ["f1", "f2"]
    assert results["metrics"]["pareto_front_size"] == len(front)
    rows = json.loads((tmp_path / "exp" / "trials.json").read_text())
    assert [r["trial"] for r in rows if r["pareto"]] == [t.index for t in front]
    assert all(r["feasible"] == (r["metrics"]["y"] <= 0.6) for r in rows)
    assert rows[0]["values"] == {"f1": rows[0]["metrics"]["f1"], "f2": rows[0]["metrics"]["f2"]}


def test_tune_resumed_suggests_what_one_uninterrupted_run_did(tmp_path: Path) -> None:
    def run(directory: str, trials: int) -> list[dict[str, Any]]:
        result = pipetune.tune(zdt_function, SPACE, objectives=TUNE_OBJECTIVES, constraints={"y": {"max": 0.6}},
                               max_trials=trials, parallel=2, algorithm="nsga2",
                               algorithm_settings={"population_size": "4"}, seed=4,
                               directory=tmp_path / directory, state_dir=tmp_path / "state")
        return [dict(t.assignment) for t in result.trials]

    whole = run("whole", 14)
    run("resumed", 6)
    assert run("resumed", 14) == whole


@pytest.mark.parametrize(("arguments", "message"), [
    ({"objectives": TUNE_OBJECTIVES, "metric": "f1"}, "objectives: expected either metric/minimize/goal"),
    ({"objectives": [{"metric": "f1", "type": "down"}]}, "objectives[0]: expected minimize or maximize"),
    ({"objectives": "f1"}, "objectives: expected a non-empty list"),
    ({"objectives": [{"name": "f1"}]}, "objectives[0]: expected a mapping with 'metric'"),
    ({"constraints": {"y": {"top": 1}}}, "constraints['y']: expected a mapping with 'min', 'max' or both"),
    ({"constraints": {"y": {"max": math.nan}}}, "constraints['y']['max']: expected a finite number"),
    ({"objectives": TUNE_OBJECTIVES, "algorithm": "anneal"}, "'anneal' optimises a single objective"),
])
def test_tune_refuses_bad_objectives_naming_them(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, SpecError)) as caught:
        pipetune.tune(zdt_function, SPACE, max_trials=2, state_dir=tmp_path / "state", **arguments)
    assert message in str(caught.value)


def test_single_objective_rows_are_as_before(tmp_path: Path) -> None:
    result = pipetune.tune(lambda p: p["x"], SPACE, max_trials=3, state_dir=tmp_path / "state")
    assert set(trial_rows(result.state, result.objective)[0]) == {
        "trial", "status", "parameters", "objective", "metrics", "reason", "message", "attempts", "run_id", "error"}
    assert result.pareto_front == [result.best]
    results = yaml.safe_load((result.directory / "results.yaml").read_text())
    assert "pareto_front_trials" not in results["outputs"] and results["artifacts"] == {"trials": "trials.json"}
    assert not (result.directory / "pareto_front.json").exists()


# -- pipetune tune ----------------------------------------------------------------------------------


def test_tune_json_and_table_show_the_front(cli, tmp_path: Path) -> None:
    path = tmp_path / "mo.yaml"
    path.write_text(yaml.safe_dump(document()))
    result = cli("tune", str(path), "--dir", str(tmp_path / "exp"), "--json", "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["objectives"] == [{"metric": "f1", "type": "minimize"}, {"metric": "f2", "type": "minimize"}]
    front = report["pareto_front"]
    rows = report["trials"]
    assert front and [r["trial"] for r in rows if r["pareto"]] == [r["trial"] for r in front]
    for row in front:
        assert row["values"] == {"f1": pytest.approx(row["parameters"]["x"]),
                                 "f2": pytest.approx(1 - row["parameters"]["x"] ** 0.5 + row["parameters"]["y"])}
        assert row["parameters"]["y"] <= 0.5
    infeasible = [r for r in rows if r["metrics"]["cost"] > 0.5]
    assert all(not r["feasible"] and not r["pareto"] for r in infeasible)
    # The table, from the same finished experiment: a column per objective, the front marked.
    table = cli("tune", str(path), "--dir", str(tmp_path / "exp"))
    assert table.returncode == 0, table.stderr
    assert "F1" in table.stdout and "F2" in table.stdout and "FEASIBLE" in table.stdout
    assert f"* the Pareto front: {len(front)} trial" in table.stdout
    for row in front:
        assert f"\n*{row['trial']} " in table.stdout


# -- the Tekton custom task and the KFP component ------------------------------------------------


def test_the_custom_task_publishes_the_front_as_a_json_result() -> None:
    from pipetune.controller import Progress, results_of
    from pipetune.tekton import custom_task_results

    front = ({"trial": 2, "parameters": {"x": 0.1}, "values": {"f1": 0.1, "f2": 0.7}, "run_id": "r2"},)
    results = {r["name"]: r["value"] for r in results_of(Progress(
        total=4, best_objective=0.1, best_parameters={"x": 0.1}, parameter_names=("x",), pareto_front=front))}
    assert json.loads(results["pareto-front"]) == [{"trial": 2, "parameters": {"x": 0.1},
                                                    "values": {"f1": 0.1, "f2": 0.7}}]
    assert custom_task_results(["x"], multi_objective=True)[-1] == "pareto-front"
    # One objective: the results are what they were.
    single = results_of(Progress(total=4, best_objective=0.1, best_parameters={"x": 0.1}, parameter_names=("x",)))
    assert [r["name"] for r in single] == ["best-x", "best-objective", "best-parameters"]


def test_the_tune_component_writes_the_front(cli) -> None:
    text = yaml.safe_dump(document(maxTrialCount=6))
    result = cli("run", "components/tune/component.yaml", "--input", f"experiment={text}", "--json")
    assert result.returncode == 0, result.stderr
    outputs = Path(json.loads(result.stdout)["outputs_dir"])
    front = json.loads((outputs / "pareto_front").read_text())
    results = yaml.safe_load((outputs / "results.yaml").read_text())
    assert front and [r["trial"] for r in front] == results["outputs"]["pareto_front_trials"]
    assert set(front[0]) == {"trial", "parameters", "values"} and set(front[0]["values"]) == {"f1", "f2"}


def test_plot_draws_the_pareto_view(tmp_path: Path) -> None:
    from pipetune.plots import objectives_of, plot_experiment
    from pipetune.tuner.journal import load_state

    result = pipetune.tune(zdt_function, SPACE, objectives=TUNE_OBJECTIVES, constraints={"y": {"max": 0.6}},
                           max_trials=8, state_dir=tmp_path / "state", directory=tmp_path / "exp")
    objective = objectives_of(load_state(tmp_path / "exp"))
    assert objective == result.objective
    written = plot_experiment(tmp_path / "exp", tmp_path / "png")
    assert tmp_path / "png" / "pareto.png" in written
    assert (tmp_path / "png" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_local_tekton_pipeline_passes_the_front_on(cli, state_dir: Path, tmp_path: Path) -> None:
    from pipetune.store import RunStore

    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(document(maxTrialCount=4)))
    pipeline = {
        "apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "front"},
        "spec": {
            "results": [{"name": "front", "value": "$(tasks.tune.results.pareto-front)"}],
            "tasks": [{"name": "tune", "taskRef": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                                   "name": "mo"}}],
        },
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    done = cli("pipeline", "run", str(tmp_path / "pipeline.yaml"), "-f", str(tmp_path / "experiment.yaml"),
               timeout=300)
    assert done.returncode == 0, done.stderr
    (record,) = [r for r in RunStore(state_dir).list() if r.parent_id is None]
    shown = (record.message or "").split("front=", 1)[1]
    front = json.loads(shown)
    assert front and set(front[0]) == {"trial", "parameters", "values"}


def test_no_objective_at_all_names_both_fields() -> None:
    with pytest.raises(SpecError, match=r"spec.objective: required; .*spec.objectives: a list of them"):
        experiment_from_dict(document(objectives=None))


@pytest.mark.parametrize("parallel", [1, 3])
def test_the_kept_study_suggests_what_one_rebuilt_from_the_history_does(parallel: int) -> None:
    """auto's multi-objective TPE keeps its study between calls: asked by one object, trial
    after trial (some failed, some infeasible, the last ones pending), it suggests what a new
    object per trial does."""
    kept = get_algorithm("auto", MULTI["auto"], objectives=2)
    done: list[TrialRecord] = []
    for k in range(24):
        settled = max(0, k - parallel + 1)
        view = done[:settled] + [TrialRecord.pending(r.index, r.assignment, r.internal) for r in done[settled:]]
        seed = trial_seed(6, k)
        a = kept.suggest(SPACE, view, seed)
        b = get_algorithm("auto", MULTI["auto"], objectives=2).suggest(SPACE, view, seed)
        assert a.assignment == b.assignment, k
        losses, violations = zdt(a.assignment)
        if k % 7 == 3:
            done.append(TrialRecord(k, a.assignment, TrialStatus.FAILED, None, a.internal))
        else:
            feasible = violations[0] <= 0
            done.append(TrialRecord(k, a.assignment, TrialStatus.SUCCEEDED, losses[0] if feasible else None,
                                    a.internal, losses, violations))


def test_non_dominated_agrees_with_comparing_every_pair() -> None:
    import random

    rng = random.Random(0)
    for size, dims in ((0, 2), (1, 2), (60, 2), (60, 3), (40, 4)):
        # Coarse values: ties and equal points are common.
        points = [tuple(float(rng.randint(0, 6)) for _ in range(dims)) for _ in range(size)]
        brute = [i for i, p in enumerate(points)
                 if not any(pareto.dominates(q, p) for j, q in enumerate(points) if j != i)]
        assert pareto.non_dominated(points) == brute


def test_progress_says_the_fronts_size(tmp_path: Path) -> None:
    from pipetune.tuner.display import progress_line

    lines: list[str] = []
    pipetune.tune(zdt_function, SPACE, objectives=TUNE_OBJECTIVES, max_trials=4, state_dir=tmp_path / "state",
                  progress=lambda p: lines.append(progress_line(p)))
    assert lines[-1].startswith("4/4 done, 0 running, Pareto front ") and "best" not in lines[-1]


def test_an_experiment_whose_trials_are_all_infeasible_fails_saying_so(tmp_path: Path) -> None:
    result = pipetune.tune(zdt_function, SPACE, objectives=TUNE_OBJECTIVES, constraints={"y": {"min": 2}},
                           max_trials=3, state_dir=tmp_path / "state")
    assert (result.state.status, result.state.reason) == ("Failed", "ExperimentNoTrialSucceeded")
    assert result.state.message == "none of the 3 trials met the constraints (y >= 2)"
    assert result.pareto_front == [] and result.best is None
