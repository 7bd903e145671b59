"""One component, two engines, the same results.yaml.

On the Kubernetes side a stand-in kubelet runs the Job's container command here (its program
mapped as the local engine maps it, ``/outputs`` as a temporary folder) and hands the
results.yaml the container wrote back as the pod's termination message, as the kubelet does
with ``terminationMessagePath: /outputs/results.yaml``. So the two engines run the same code
on the same arguments and must report the same metrics and outputs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.components import load_component
from pipetune.contract import RESULTS_FILE
from pipetune.engines.base import Phase, RunRequest
from pipetune.engines.kubernetes import KubernetesEngine
from pipetune.engines.local import LocalEngine, local_program

COMPONENTS = {
    "train-sklearn": {"n_estimators": "20", "max_depth": "4", "seed": "3"},
    "train-torch": {"epochs": "2", "n_samples": "300", "seed": "1"},
}


def kubelet(resource: dict[str, Any]) -> Outcome:
    """Run the Job's only container here; its results.yaml becomes the termination message."""
    container = resource["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/outputs/results.yaml"
    with tempfile.TemporaryDirectory() as outputs:
        argv = [arg.replace("/outputs", outputs) for arg in container["command"]]
        env = {**os.environ, **{e["name"]: e["value"].replace("/outputs", outputs) for e in container["env"]}}
        done = subprocess.run(local_program(argv), env=env, capture_output=True, text=True, timeout=120)
        message = (Path(outputs) / RESULTS_FILE).read_text() if done.returncode == 0 else done.stderr[-4096:]
    return Outcome(succeed=done.returncode == 0, termination_message=message, logs=done.stdout)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_same_component_same_results_on_both_engines(name: str, cluster: EmulatedCluster, tmp_path: Path) -> None:
    pytest.importorskip("sklearn" if name == "train-sklearn" else "torch")
    component = load_component(ROOT / "components" / name / "component.yaml")
    arguments = component.bind(COMPONENTS[name])
    results = {}

    local = LocalEngine()
    handle = local.submit(RunRequest("local-1", component, arguments, tmp_path / "outputs", echo=False))
    assert local.wait(handle, 120).phase is Phase.SUCCEEDED
    results["local"] = local.results(handle)

    cluster.operator.outcome = kubelet
    remote = KubernetesEngine(cluster.api_client(), "ml")
    try:
        handle = remote.submit(RunRequest("k8s-1", component, arguments, tmp_path / "unused", echo=False,
                                          name=f"{name}-1"))
        status = remote.wait(handle, 120)
        assert status.phase is Phase.SUCCEEDED, status
        results["kubernetes"] = remote.results(handle)
    finally:
        remote.close()

    local_results, cluster_results = results["local"], results["kubernetes"]
    timing = {"train_seconds", "fit_seconds"}
    assert {k: v for k, v in local_results.metrics.items() if k not in timing} == \
        {k: v for k, v in cluster_results.metrics.items() if k not in timing}
    assert local_results.outputs == cluster_results.outputs

    def untimed(history: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in entry.items() if k not in timing} for entry in history]

    assert untimed(local_results.history) == untimed(cluster_results.history)
    assert local_results.metrics.keys() == cluster_results.metrics.keys()
