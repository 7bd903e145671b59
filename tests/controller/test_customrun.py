"""The tuner as a Tekton custom task: CustomRuns reconciled by pipetune's controller."""

from __future__ import annotations

import json

from controller.conftest import (
    CUSTOMRUNS,
    TASKRUNS,
    accuracy,
    customrun,
    experiment_spec,
    finished,
    params_of,
    succeeded,
    wait_status,
)


def test_embedded_experiment_runs_and_publishes_the_best_parameters(cluster, namespace, start_controller):
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("tune-a", namespace))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "tune-a", finished)
    condition = succeeded(done)
    assert condition["status"] == "True", condition
    results = {r["name"]: r["value"] for r in done["status"]["results"]}
    taskruns = cluster.objects(TASKRUNS, namespace)
    assert len(taskruns) == 6
    scores = {tr["metadata"]["name"]: accuracy(int(params_of(tr)["n_estimators"]), int(params_of(tr)["max_depth"]))
              for tr in taskruns}
    best = max(taskruns, key=lambda tr: scores[tr["metadata"]["name"]])
    assert results["best-n_estimators"] == params_of(best)["n_estimators"]
    assert results["best-max_depth"] == params_of(best)["max_depth"]
    assert float(results["best-objective"]) == max(scores.values())
    assert json.loads(results["best-parameters"]) == {
        "n_estimators": int(params_of(best)["n_estimators"]), "max_depth": int(params_of(best)["max_depth"])}
