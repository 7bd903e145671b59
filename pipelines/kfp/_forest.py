"""What the forest-tuning examples share: their experiment (tune train-sklearn's
``n_estimators`` and ``max_depth`` for accuracy) and the step turning the tuner's best
parameters into the train step's typed inputs."""

import json
from typing import NamedTuple

from _catalog import component  # first: it says which extra a missing kfp needs
from kfp import dsl

tune = component("tune")
train_sklearn = component("train-sklearn")


def forest_experiment(dataset: str, n_estimators: tuple[int, int], max_depth: tuple[int, int], trials: int) -> str:
    """The experiment as one line of JSON (which is YAML): KFP's compiler copies a default into
    the compiled file's header comment, and a default with line breaks would make that file
    invalid YAML."""
    def whole(name: str, bounds: tuple[int, int]) -> dict:
        return {"name": name, "parameterType": "int", "feasibleSpace": {"min": str(bounds[0]), "max": str(bounds[1])}}

    return json.dumps({
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "tune-forest"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "tpe"},
            "parameters": [whole("n_estimators", n_estimators), whole("max_depth", max_depth)],
            "parallelTrialCount": 2,
            "maxTrialCount": trials,
            "seed": 7,
            "trialTemplate": {"trialSpec": {"component": "train-sklearn", "arguments": {
                "dataset": dataset,
                "n_estimators": "${trialParameters.n_estimators}",
                "max_depth": "${trialParameters.max_depth}",
            }}},
        },
    })


@dsl.component(base_image="python:3.11-slim")
def forest_parameters(best_parameters: str) -> NamedTuple("Forest", [("n_estimators", int), ("max_depth", int)]):
    """The tuner's best parameters (JSON) as the train step's typed inputs."""
    import json
    from collections import namedtuple

    best = json.loads(best_parameters)
    return namedtuple("Forest", ["n_estimators", "max_depth"])(int(best["n_estimators"]), int(best["max_depth"]))
