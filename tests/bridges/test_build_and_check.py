"""Bridge manifests: built from a step's parameters, checked against the operators' rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipetune.bridges import JobParameters, build_job
from pipetune.errors import SpecError
from pipetune.kinds import RESULTS_PATH, check_training_job


def params(**overrides: Any) -> JobParameters:
    base: dict[str, Any] = dict(
        name="train-1",
        namespace="ml",
        image="ghcr.io/me/train:1.0",
        command=["python", "train.py"],
        args=["--lr", "0.1"],
        env={"SEED": "3"},
        cpu="2",
        memory="4Gi",
        gpus=1,
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
        clean_pod_policy="All",
        ttl_seconds_after_finished=600,
        active_deadline_seconds=3600,
        backoff_limit=2,
    )
    base.update(overrides)
    return JobParameters(**base)


def test_pytorchjob_has_one_master_the_workers_and_every_setting() -> None:
    job = build_job("PyTorchJob", params(replicas={"Worker": 3}, nproc_per_node="2"))
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    assert job["metadata"] == {"name": "train-1", "namespace": "ml"}
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert {role: s["replicas"] for role, s in specs.items()} == {"Master": 1, "Worker": 3}
    container = specs["Worker"]["template"]["spec"]["containers"][0]
    assert container["name"] == "pytorch"
    assert container["command"] == ["python", "train.py"] and container["args"] == ["--lr", "0.1"]
    assert container["env"] == [{"name": "SEED", "value": "3"}]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}
    assert container["terminationMessagePath"] == RESULTS_PATH
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert specs["Master"]["template"]["spec"]["volumes"][0]["name"] == "data"
    assert job["spec"]["runPolicy"] == {
        "cleanPodPolicy": "All",
        "ttlSecondsAfterFinished": 600,
        "activeDeadlineSeconds": 3600,
        "backoffLimit": 2,
    }
    assert job["spec"]["nprocPerNode"] == "2"


def test_tfjob_roles_are_spelled_as_the_operator_spells_them() -> None:
    job = build_job("TFJob", params(replicas={"worker": 2, "ps": 1}))
    specs = job["spec"]["tfReplicaSpecs"]
    assert {role: s["replicas"] for role, s in specs.items()} == {"Chief": 1, "Worker": 2, "PS": 1}
    assert all(s["template"]["spec"]["containers"][0]["name"] == "tensorflow" for s in specs.values())


def test_trainjob_names_its_runtime_and_sizes_its_nodes() -> None:
    job = build_job("TrainJob", params(replicas={"node": 4}, nproc_per_node="2", volumes=(), volume_mounts=()))
    assert job["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
    assert job["spec"]["runtimeRef"] == {"name": "torch-distributed"}
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 4 and trainer["numProcPerNode"] == "2"
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == 1


def test_built_jobs_round_trip_through_the_kubeflow_training_sdk_models() -> None:
    models = pytest.importorskip("kubeflow.training.models")
    from kubeflow.training.api_client import ApiClient

    api = ApiClient()
    for kind, model in (("PyTorchJob", "KubeflowOrgV1PyTorchJob"), ("TFJob", "KubeflowOrgV1TFJob")):
        job = build_job(kind, params(replicas={"Worker": 2}))
        job["spec"].setdefault("runPolicy", {})
        typed = api._ApiClient__deserialize(copy.deepcopy(job), model)  # type: ignore[attr-defined]
        assert isinstance(typed, getattr(models, model))
        back = api.sanitize_for_serialization(typed)
        # The SDK drops fields its models lack: nothing of ours may be among them.
        assert back["spec"] == job["spec"] or _numbers_as_text(job["spec"]) == back["spec"]


def _numbers_as_text(tree: Any) -> Any:
    """The SDK writes resource quantities as strings."""
    if isinstance(tree, dict):
        return {k: (str(v) if k == "nvidia.com/gpu" else _numbers_as_text(v)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_numbers_as_text(x) for x in tree]
    return tree


@pytest.mark.parametrize(
    ("kind", "overrides", "words"),
    [
        ("PyTorchJob", {"image": ""}, "image: required"),
        ("PyTorchJob", {"clean_pod_policy": "Sometimes"}, "clean_pod_policy: expected one of None, Running, All"),
        ("PyTorchJob", {"replicas": {"Chief": 1}}, "'Chief' is not a PyTorchJob role"),
        ("PyTorchJob", {"replicas": {"Master": 2}}, "exactly one Master; got 2"),
        ("TFJob", {"replicas": {"Chief": 2}}, "exactly one Chief; got 2"),
        ("PyTorchJob", {"backoff_limit": -3}, "backoff_limit: expected a whole number >= 0"),
        ("MPIJob", {}, "kind: expected one of PyTorchJob, TFJob, TrainJob"),
        ("TrainJob", {}, "volumes, volume_mounts: a TrainJob's runtime defines its pods"),
    ],
)
def test_an_invalid_job_is_refused_naming_the_parameter(kind: str, overrides: dict, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        build_job(kind, params(**overrides))
    assert words in str(caught.value)


def pytorch_manifest() -> dict[str, Any]:
    return build_job("PyTorchJob", params(replicas={"Worker": 1}))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0].update(name="main"),
         "runs the container named 'pytorch'; found 'main'"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].pop("image"),
         "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0] (pytorch): image is required"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"]["Master"].pop("replicas"),
         "spec.pytorchReplicaSpecs.Master.replicas: required"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"].pop("Master"), "needs a Master"),
        (lambda m: m["spec"]["pytorchReplicaSpecs"].update(Launcher={}), "Launcher: unknown replica type"),
        (lambda m: m["spec"].pop("pytorchReplicaSpecs"), "spec.pytorchReplicaSpecs: expected a map"),
    ],
)
def test_check_names_the_field_the_operator_would_refuse(edit: Any, words: str) -> None:
    manifest = pytorch_manifest()
    assert check_training_job(manifest) == []
    edit(manifest)
    problems = check_training_job(manifest)
    assert any(words in problem for problem in problems), problems


def test_a_tfjob_with_a_chief_and_a_master_is_refused() -> None:
    manifest = build_job("TFJob", params(replicas={"Worker": 1}))
    manifest["spec"]["tfReplicaSpecs"]["Master"] = copy.deepcopy(manifest["spec"]["tfReplicaSpecs"]["Chief"])
    assert "spec.tfReplicaSpecs: a TFJob has a Chief or a Master, not both" in check_training_job(manifest)


def test_a_checkpoint_uri_gives_each_job_its_store_and_resume_latest() -> None:
    job = build_job("PyTorchJob", params(replicas={"Worker": 1}, checkpoints="s3://bucket/ckpts/"))
    for spec in job["spec"]["pytorchReplicaSpecs"].values():
        env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
        assert env["PIPETUNE_CHECKPOINTS"] == "s3://bucket/ckpts/train-1"
        assert env["PIPETUNE_RESUME"] == "latest" and env["SEED"] == "3"


def test_a_tfjob_without_a_chief_has_only_the_roles_given() -> None:
    """chief=0 once still produced a Chief: zero counts were dropped before the default applied."""
    from pipetune.bridges._run import parameters_from_args

    args = {"image": "tf:2", "chief": 0, "workers": 2, "ps": 1, "evaluators": 0, "name": "tf-1"}
    job = build_job("TFJob", parameters_from_args("TFJob", args))
    assert {role: s["replicas"] for role, s in job["spec"]["tfReplicaSpecs"].items()} == {"Worker": 2, "PS": 1}
