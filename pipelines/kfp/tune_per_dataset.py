"""Tune a random forest on each of several datasets at once (`dsl.ParallelFor` with
components/tune inside), train the final model only where the best objective clears a
threshold (`dsl.If`), and report how the run ended whatever happened (`dsl.ExitHandler`).

Runs as it is on a cluster, and here: `pipetune pipeline run pipelines/kfp/tune-per-dataset.yaml`.

    python pipelines/kfp/tune_per_dataset.py    # writes pipelines/kfp/tune-per-dataset.yaml
"""

from _catalog import compile_next_to  # first: it says which extra a missing kfp needs
from _forest import forest_experiment, forest_parameters, train_sklearn, tune
from kfp import dsl, kubernetes

# The trial's dataset is set per loop iteration.
EXPERIMENT = forest_experiment("iris", n_estimators=(5, 50), max_depth=(2, 8), trials=4)


@dsl.component(base_image="python:3.11-slim")
def experiment_for(experiment: str, dataset: str) -> str:
    """The experiment with its trials training on ``dataset``."""
    import json

    spec = json.loads(experiment)
    spec["metadata"]["name"] = f"tune-forest-{dataset}"
    spec["spec"]["trialTemplate"]["trialSpec"]["arguments"]["dataset"] = dataset
    return json.dumps(spec)


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
