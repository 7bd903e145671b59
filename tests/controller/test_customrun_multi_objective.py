"""A multi-objective experiment as a Tekton custom task: the controller publishes the Pareto
front as the CustomRun's ``pareto-front`` result."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

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
from kube.operator import Outcome


def size(taskrun: Mapping[str, Any]) -> int:
    params = params_of(taskrun)
    return int(params["n_estimators"]) * int(params["max_depth"])


def two_metrics(taskrun: Mapping[str, Any]) -> Outcome:
    """train-sklearn reporting its accuracy and its model's size (trees x depth)."""
    params = params_of(taskrun)
    score = accuracy(int(params["n_estimators"]), int(params["max_depth"]))
    text = yaml.safe_dump({"apiVersion": "pipetune.dev/v1", "metrics": {"accuracy": score, "size": size(taskrun)}})
    return Outcome(results={"results": text, "accuracy": str(score)})


def test_the_customrun_publishes_the_pareto_front(cluster, namespace, start_controller):
    cluster.operator.outcome = two_metrics
    spec = experiment_spec(objectives=[{"type": "maximize", "objectiveMetricName": "accuracy"},
                                       {"type": "minimize", "objectiveMetricName": "size"}],
                           constraints=[{"metricName": "size", "max": 2000}])
    del spec["objective"]
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("tune-mo", namespace, spec=spec))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "tune-mo", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    results = {r["name"]: r["value"] for r in done["status"]["results"]}
    front = json.loads(results["pareto-front"])
    taskruns = cluster.objects(TASKRUNS, namespace)
    points = [(accuracy(int(params_of(t)["n_estimators"]), int(params_of(t)["max_depth"])), size(t))
              for t in taskruns if size(t) <= 2000]
    expected = {p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)}
    assert expected and {(row["values"]["accuracy"], row["values"]["size"]) for row in front} == expected
    best = json.loads(results["best-parameters"])
    assert best["n_estimators"] * best["max_depth"] <= 2000
