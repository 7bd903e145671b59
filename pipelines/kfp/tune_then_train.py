"""Tune a random forest with pipetune's tuner (components/tune), then train the final model
with the best parameters.

In the cluster the tune step runs its trials as Jobs of the train-sklearn component in the
pipeline's namespace, with the step pod's credentials (`engine: auto`; the Role it needs is
manifests/kfp/tune-rbac.yaml). KFP outputs are declared statically, so the tuner returns
`best_parameters` as JSON; a small Python step turns it into typed values for the train step.

    python pipelines/kfp/tune_then_train.py    # writes pipelines/kfp/tune-then-train.yaml
"""

from _catalog import compile_next_to  # first: it says which extra a missing kfp needs
from _forest import forest_experiment, forest_parameters, train_sklearn, tune
from kfp import dsl, kubernetes

EXPERIMENT = forest_experiment("digits", n_estimators=(10, 200), max_depth=(2, 16), trials=8)


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
