"""A PyTorchJob as one pipeline step (components/pytorchjob, a bridge): the step creates the
job, waits for it, and returns the Master's own results; its metrics show in the KFP UI.

The training reads its data from a bucket with credentials from a Secret, mounted into the
bridge step through kfp-kubernetes and passed on to the job's replicas.

    python pipelines/kfp/pytorchjob.py    # writes pipelines/kfp/pytorchjob.yaml
"""

from _catalog import compile_next_to, component  # first: it says which extra a missing kfp needs
from kfp import dsl, kubernetes

pytorchjob = component("pytorchjob")


@dsl.pipeline(name="pytorchjob", description="Train with torch.distributed as a PyTorchJob, as one step.")
def pytorch_training(image: str = "pipetune/pipetune:0.1.0", workers: int = 1):
    job = pytorchjob(
        image=image,
        command=["python", "-m", "pipetune.catalog.train_torch"],
        args=["--epochs", "5", "--checkpoint_every", "1"],
        workers=workers,
        cpu="2",
        memory="4Gi",
        timeout=3600.0,
    )
    job.set_display_name("PyTorchJob")
    kubernetes.use_secret_as_env(job, secret_name="training-bucket",
                                 secret_key_to_env={"access_key": "AWS_ACCESS_KEY_ID",
                                                    "secret_key": "AWS_SECRET_ACCESS_KEY"})
    kubernetes.set_timeout(job, seconds=4000)


#: What tests/test_kfp_pipelines.py recompiles and compares with the checked-in YAML.
PIPELINE, NAME = pytorch_training, "pytorchjob"

if __name__ == "__main__":
    print(compile_next_to(PIPELINE, __file__, NAME))
