"""Train one catalog component: a random forest (components/train-sklearn), its metrics shown
in the KFP UI through the Metrics artifact pipetune's publisher fills.

    python pipelines/kfp/train.py        # writes pipelines/kfp/train.yaml
"""

from _catalog import compile_next_to, component  # first: it says which extra a missing kfp needs
from kfp import dsl, kubernetes

train_sklearn = component("train-sklearn")


@dsl.pipeline(name="train", description="Train a random forest with pipetune's catalog component.")
def train(dataset: str = "digits", n_estimators: int = 100, max_depth: int = 12):
    task = train_sklearn(dataset=dataset, n_estimators=n_estimators, max_depth=max_depth)
    task.set_display_name("train random forest")
    task.set_cpu_limit("2").set_memory_limit("2Gi")
    # Placement and limits through kfp-kubernetes, not hand-edited YAML.
    kubernetes.add_node_selector(task, label_key="kubernetes.io/os", label_value="linux")
    kubernetes.set_timeout(task, seconds=1800)


#: What tests/test_kfp_pipelines.py recompiles and compares with the checked-in YAML.
PIPELINE, NAME = train, "train"

if __name__ == "__main__":
    print(compile_next_to(PIPELINE, __file__, NAME))
