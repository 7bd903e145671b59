"""One Katib-shaped Experiment whose trials are a local ``batch/v1`` Job, for tests: the YAML
several suites wrote out by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml


def job_experiment(command: Sequence[str], parameters: Sequence[Mapping[str, Any]], *, name: str = "test",
                   objective: str = "loss", kind: str = "minimize", algorithm: str = "random",
                   **spec: Any) -> str:
    """The YAML text of an Experiment running ``command`` (with ``${trialParameters.x}``
    references) for each trial; ``spec`` adds or overrides fields of ``spec`` (say,
    ``maxTrialCount=4``, ``trialTimeout=3``)."""
    container = {"name": "training-container", "image": "python:3.11", "command": list(command)}
    document = {
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": kind, "objectiveMetricName": objective},
            "algorithm": {"algorithmName": algorithm},
            "parameters": [dict(p) for p in parameters],
            "maxTrialCount": 2,
            "parallelTrialCount": 1,
            **spec,
            "trialTemplate": {"trialSpec": {
                "apiVersion": "batch/v1", "kind": "Job",
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}},
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


def categorical(name: str, values: Sequence[str]) -> dict[str, Any]:
    """A categorical parameter over ``values``."""
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": list(values)}}


def double(name: str, low: float, high: float) -> dict[str, Any]:
    """A double parameter in [low, high]."""
    return {"name": name, "parameterType": "double", "feasibleSpace": {"min": str(low), "max": str(high)}}
