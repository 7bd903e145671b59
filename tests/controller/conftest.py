"""The controller under test: pipetune's kopf operator in this process, against the emulated
cluster of tests/kube, with the FakeOperator playing Tekton (TaskRuns end with a ``results``
result computed from their params)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from kube.conftest import api_client, cluster, namespace  # noqa: F401 - fixtures
from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.controller import Controller, run_operator

CUSTOMRUNS = "tekton.dev/v1beta1/customruns"
EXPERIMENTS = "pipetune.dev/v1alpha1/experiments"
TASKRUNS = "tekton.dev/v1/taskruns"


def accuracy(n_estimators: int, max_depth: int) -> float:
    """The stand-in training's score: best at n_estimators 120, max_depth 8."""
    return round(1.0 - ((n_estimators - 120) / 200) ** 2 - ((max_depth - 8) / 16) ** 2, 6)


def params_of(taskrun: Mapping[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in (taskrun.get("spec") or {}).get("params") or []}


def train_outcome(taskrun: Mapping[str, Any]) -> Outcome:
    """Tekton running the train-sklearn Task: its ``results`` result, as the Task's step
    publishes it (the results.yaml text)."""
    params = params_of(taskrun)
    score = accuracy(int(params["n_estimators"]), int(params["max_depth"]))
    text = yaml.safe_dump({"apiVersion": "pipetune.dev/v1", "metrics": {"accuracy": score}})
    return Outcome(results={"results": text, "accuracy": str(score)})


def experiment_spec(**changes: Any) -> dict[str, Any]:
    """The spec of pipelines/tekton/experiment.yaml, small: 6 trials, 3 in parallel."""
    spec: dict[str, Any] = {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
        "parameters": [
            {"name": "n_estimators", "parameterType": "int", "feasibleSpace": {"min": "10", "max": "200"}},
            {"name": "max_depth", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "16"}},
        ],
        "parallelTrialCount": 3,
        "maxTrialCount": 6,
        "seed": 7,
        "trialTemplate": {"trialSpec": {"component": "train-sklearn", "arguments": {
            "dataset": "digits",
            "n_estimators": "${trialParameters.n_estimators}",
            "max_depth": "${trialParameters.max_depth}",
        }}},
    }
    spec.update(changes)
    return spec


def customrun(name: str, namespace: str, *, ref: str | None = None, spec: Mapping[str, Any] | None = None,
              **fields: Any) -> dict[str, Any]:
    """A CustomRun as Tekton's PipelineRun controller creates one for the tuning task."""
    body: dict[str, Any] = {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun",
                            "metadata": {"name": name, "namespace": namespace,
                                         "labels": {"tekton.dev/pipelineTask": "tune"}},
                            "spec": {"serviceAccountName": "default", **fields}}
    if ref is not None:
        body["spec"]["customRef"] = {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment", "name": ref}
    else:
        body["spec"]["customSpec"] = {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                      "spec": dict(spec or experiment_spec())}
    return body


class RunningController:
    """pipetune's controller (kopf + Controller) running in a thread; ``stop()`` ends it the
    way a killed pod ends: nothing is handed to the next one but the cluster's state."""

    def __init__(self, cluster: EmulatedCluster, namespace: str, workdir: Path, **settings: Any) -> None:
        self.controller = Controller(cluster.api_client(), workdir=workdir, **settings)
        self._stop = threading.Event()
        ready = threading.Event()
        url = cluster.url

        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        self.errors: list[BaseException] = []

        def main() -> None:
            try:
                run_operator(self.controller, [namespace], login=login, stop_flag=self._stop, ready_flag=ready)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.errors.append(exc)

        self._thread = threading.Thread(target=main, name="pipetune-controller", daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise TimeoutError("the controller did not start")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._thread.is_alive():
            raise TimeoutError("the controller did not stop")


@pytest.fixture
def start_controller(cluster: EmulatedCluster, namespace: str, tmp_path: Path) -> Iterator[Callable[..., RunningController]]:  # noqa: F811
    """Start pipetune's controller (again, after ``stop()``: a restart with an empty workdir)."""
    cluster.operator.outcome = train_outcome
    started: list[RunningController] = []

    def start(**settings: Any) -> RunningController:
        running = RunningController(cluster, namespace, tmp_path / f"controller-{len(started)}", **settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
    errors = [e for running in started for e in running.errors]
    assert not errors, errors


def wait_status(cluster: EmulatedCluster, resource: str, namespace: str, name: str,
                check: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
    """The object once ``check(obj)`` holds; fails with its last status after ``timeout``."""
    deadline = time.monotonic() + timeout
    obj: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        obj = cluster.get(resource, namespace, name)
        if obj is not None and check(obj):
            return obj
        time.sleep(0.05)
    raise AssertionError(f"{resource} {name}: condition not met in {timeout}s; last: {(obj or {}).get('status')}")


def succeeded(obj: Mapping[str, Any]) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Succeeded":
            return condition
    return {}


def finished(obj: Mapping[str, Any]) -> bool:
    return succeeded(obj).get("status") in ("True", "False")
