"""Tune a random forest with pipetune's tuner (components/tune), then train the final model
with the best parameters.

In the cluster the tune step runs its trials as Jobs of the train-sklearn component in the
pipeline's namespace, with the step pod's credentials (`engine: auto`; the Role it needs is
manifests/kfp/tune-rbac.yaml). KFP outputs are declared statically, so the tuner returns
`best_parameters` as JSON; a small Python step turns it into typed values for the train step.

    python pipelines/kfp/tune_then_train.py    # writes pipelines/kfp/tune-then-train.yaml
"""

import json
from typing import NamedTuple

from _catalog import compile_next_to, component  # first: it says which extra a missing kfp needs
from kfp import dsl, kubernetes

tune = component("tune")
train_sklearn = component("train-sklearn")

# One line of JSON (which is YAML): KFP's compiler copies a default into the compiled file's
# header comment, and a default with line breaks would make that file invalid YAML.
EXPERIMENT = json.dumps({
    "apiVersion": "pipetune.dev/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "tune-forest"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
        "algorithm": {"algorithmName": "tpe"},
        "parameters": [
            {"name": "n_estimators", "parameterType": "int", "feasibleSpace": {"min": "10", "max": "200"}},
            {"name": "max_depth", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "16"}},
        ],
        "parallelTrialCount": 2,
        "maxTrialCount": 8,
        "seed": 7,
        "trialTemplate": {"trialSpec": {"component": "train-sklearn", "arguments": {
            "dataset": "digits",
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


@dsl.pipeline(name="tune-then-train", description="Tune a random forest, then train it with the best parameters.")
def tune_then_train(experiment: str = EXPERIMENT, dataset: str = "digits"):
    tuning = tune(experiment=experiment, engine="auto")
    tuning.set_display_name("tune")
    kubernetes.set_timeout(tuning, seconds=3 * 3600)
    best = forest_parameters(best_parameters=tuning.outputs["best_parameters"])
    final = train_sklearn(
        dataset=dataset,
        n_estimators=best.outputs["n_estimators"],
        max_depth=best.outputs["max_depth"],
    )
    final.set_display_name("train with the best parameters")
    kubernetes.add_pod_label(final, label_key="pipetune.dev/role", label_value="final-model")


#: What tests/test_kfp_pipelines.py recompiles and compares with the checked-in YAML.
PIPELINE, NAME = tune_then_train, "tune-then-train"

if __name__ == "__main__":
    print(compile_next_to(PIPELINE, __file__, NAME))
