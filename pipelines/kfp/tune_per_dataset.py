"""Tune a random forest on each of several datasets at once (`dsl.ParallelFor` with
components/tune inside), train the final model only where the best objective clears a
threshold (`dsl.If`), and report how the run ended whatever happened (`dsl.ExitHandler`).

Runs as it is on a cluster, and here: `pipetune pipeline run pipelines/kfp/tune-per-dataset.yaml`.

    python pipelines/kfp/tune_per_dataset.py    # writes pipelines/kfp/tune-per-dataset.yaml
"""

import json
from typing import NamedTuple

from kfp import dsl, kubernetes

from _catalog import compile_next_to, component

tune = component("tune")
train_sklearn = component("train-sklearn")

# One line of JSON: see tune_then_train.py. The trial's dataset is set per loop iteration.
EXPERIMENT = json.dumps({
    "apiVersion": "pipetune.dev/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "tune-forest"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
        "algorithm": {"algorithmName": "tpe"},
        "parameters": [
            {"name": "n_estimators", "parameterType": "int", "feasibleSpace": {"min": "5", "max": "50"}},
            {"name": "max_depth", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "8"}},
        ],
        "parallelTrialCount": 2,
        "maxTrialCount": 4,
        "seed": 7,
        "trialTemplate": {"trialSpec": {"component": "train-sklearn", "arguments": {
            "dataset": "iris",
            "n_estimators": "${trialParameters.n_estimators}",
            "max_depth": "${trialParameters.max_depth}",
        }}},
    },
})


@dsl.component(base_image="python:3.11-slim")
def experiment_for(experiment: str, dataset: str) -> str:
    """The experiment with its trials training on ``dataset``."""
    import json

    spec = json.loads(experiment)
    spec["metadata"]["name"] = f"tune-forest-{dataset}"
    spec["spec"]["trialTemplate"]["trialSpec"]["arguments"]["dataset"] = dataset
    return json.dumps(spec)


@dsl.component(base_image="python:3.11-slim")
def forest_parameters(best_parameters: str) -> NamedTuple("Forest", [("n_estimators", int), ("max_depth", int)]):
    """The tuner's best parameters (JSON) as the train step's typed inputs."""
    import json
    from collections import namedtuple

    best = json.loads(best_parameters)
    return namedtuple("Forest", ["n_estimators", "max_depth"])(int(best["n_estimators"]), int(best["max_depth"]))


@dsl.component(base_image="python:3.11-slim")
def report(status: dsl.PipelineTaskFinalStatus) -> str:
    """How the tuning ended (the exit handler's task: it runs whatever happened)."""
    line = f"tuning {status.state}" + (f": {status.error_message}" if status.error_message else "")
    print(line)
    return line


@dsl.pipeline(name="tune-per-dataset",
              description="Tune per dataset in parallel, train where the best objective is good enough, report.")
def tune_per_dataset(datasets: list = ["iris", "wine"], experiment: str = EXPERIMENT, threshold: float = 0.8):
    with dsl.ExitHandler(report()):
        with dsl.ParallelFor(datasets, parallelism=2) as dataset:
            tuning = tune(experiment=experiment_for(experiment=experiment, dataset=dataset).output, engine="auto")
            tuning.set_display_name("tune")
            kubernetes.set_timeout(tuning, seconds=3600)  # here: the task's timeout
            with dsl.If(tuning.outputs["best_objective"] >= threshold, name="good-enough"):
                best = forest_parameters(best_parameters=tuning.outputs["best_parameters"])
                train_sklearn(dataset=dataset, n_estimators=best.outputs["n_estimators"],
                              max_depth=best.outputs["max_depth"]).set_display_name("train the final model")


#: What tests/test_kfp_pipelines.py recompiles and compares with the checked-in YAML.
PIPELINE, NAME = tune_per_dataset, "tune-per-dataset"

if __name__ == "__main__":
    print(compile_next_to(PIPELINE, __file__, NAME))
