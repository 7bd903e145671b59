"""Manifests of the three bridge kinds, built from a step's parameters.

Pure functions: ``JobParameters`` in, a manifest (a dict) out, checked by
``check_training_job`` before it is returned. Every replica's pod template gets the
run's labels, and its training container (``pytorch``, ``tensorflow``; TrainJob's ``node``
comes from the runtime) gets ``terminationMessagePath: /outputs/results.yaml`` with
``terminationMessagePolicy: FallbackToLogsOnError``, so the kubelet copies the training's
results.yaml into the pod's status, or the log's tail when the container fails without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipetune.errors import SpecError
from pipetune.kinds import PYTORCH_JOB, RESULTS_PATH, TF_JOB, TRAIN_JOB, TrainingKind, check_training_job

CLEAN_POD_POLICIES = ("None", "Running", "All")


@dataclass(frozen=True)
class JobParameters:
    """What a bridge step is given: the job's name, its container, its size and its policies."""

    name: str
    image: str
    namespace: str = "default"
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: Replicas per role, in the kind's spelling (``Worker``, ``PS``, ...).
    replicas: Mapping[str, int] = field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0
    #: Pod volumes and the training container's mounts, as Kubernetes writes them.
    volumes: Sequence[Mapping[str, Any]] = ()
    volume_mounts: Sequence[Mapping[str, Any]] = ()
    clean_pod_policy: str | None = None
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    backoff_limit: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: PyTorchJob ``nprocPerNode``; TrainJob ``numProcPerNode``.
    nproc_per_node: str | None = None
    #: TrainJob only: the ClusterTrainingRuntime to run on.
    runtime: str = "torch-distributed"
    #: Where the training keeps checkpoints (a URI every replica reaches, e.g. s3:// or a
    #: mounted volume); a restarted replica resumes from the newest. None: no checkpoints.
    checkpoints: str | None = None


def build_job(kind: str, parameters: JobParameters) -> dict[str, Any]:
    """The manifest of a ``PyTorchJob``, ``TFJob`` or ``TrainJob``; ``SpecError`` naming the
    parameter when the operator would refuse it."""
    builders = {"PyTorchJob": _pytorch_job, "TFJob": _tf_job, "TrainJob": _train_job}
    if kind not in builders:
        raise SpecError(f"kind: expected one of {', '.join(builders)}, got {kind!r}")
    _check_parameters(parameters)
    manifest = builders[kind](parameters)
    problems = check_training_job(manifest)
    if problems:
        raise SpecError(f"{kind} {parameters.name}: " + "; ".join(problems))
    return manifest


def _check_parameters(p: JobParameters) -> None:
    if not p.image:
        raise SpecError("image: required (the training container's image, with a tag)")
    if p.clean_pod_policy is not None and p.clean_pod_policy not in CLEAN_POD_POLICIES:
        raise SpecError(
            f"clean_pod_policy: expected one of {', '.join(CLEAN_POD_POLICIES)}, got {p.clean_pod_policy!r}"
        )
    for name in ("ttl_seconds_after_finished", "active_deadline_seconds", "backoff_limit"):
        value = getattr(p, name)
        if value is not None and value < 0:
            raise SpecError(f"{name}: expected a whole number >= 0, got {value}")
    if p.gpus < 0:
        raise SpecError(f"gpus: expected a whole number >= 0, got {p.gpus}")
    for role, count in p.replicas.items():
        if count < 0:
            raise SpecError(f"replicas of {role}: expected a whole number >= 0, got {count}")


def _metadata(p: JobParameters) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": p.name, "namespace": p.namespace}
    if p.labels:
        metadata["labels"] = dict(p.labels)
    return metadata


def _resources(p: JobParameters) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if p.cpu:
        limits["cpu"] = p.cpu
    if p.memory:
        limits["memory"] = p.memory
    if p.gpus:
        limits["nvidia.com/gpu"] = p.gpus
    # Requests equal limits: the scheduler then places the pod where it really fits.
    return {"limits": limits, "requests": dict(limits)} if limits else {}


def _env(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in env.items()]


def _program(p: JobParameters) -> dict[str, Any]:
    """The image and what runs in it: a container's fields, and a TrainJob trainer's."""
    fields: dict[str, Any] = {"image": p.image}
    if p.command:
        fields["command"] = [str(x) for x in p.command]
    if p.args:
        fields["args"] = [str(x) for x in p.args]
    env = dict(p.env)
    if p.checkpoints:
        # One store per job; every (re)started replica resumes from its newest checkpoint.
        env["PIPETUNE_CHECKPOINTS"] = f"{p.checkpoints.rstrip('/')}/{p.name}"
        env["PIPETUNE_RESUME"] = "latest"
    if env:
        fields["env"] = _env(env)
    return fields


def _container(name: str, p: JobParameters) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, **_program(p)}
    resources = _resources(p)
    if resources:
        container["resources"] = resources
    if p.volume_mounts:
        container["volumeMounts"] = [dict(m) for m in p.volume_mounts]
    container["terminationMessagePath"] = RESULTS_PATH
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return container


def _run_policy(p: JobParameters) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if p.clean_pod_policy is not None:
        policy["cleanPodPolicy"] = p.clean_pod_policy
    if p.ttl_seconds_after_finished is not None:
        policy["ttlSecondsAfterFinished"] = p.ttl_seconds_after_finished
    if p.active_deadline_seconds is not None:
        policy["activeDeadlineSeconds"] = p.active_deadline_seconds
    if p.backoff_limit is not None:
        policy["backoffLimit"] = p.backoff_limit
    return policy


def _replica_specs(kind: TrainingKind, p: JobParameters, roles: Mapping[str, int]) -> dict[str, Any]:
    assert kind.primary_container is not None
    specs: dict[str, Any] = {}
    for role, count in roles.items():
        if count == 0:
            continue
        pod: dict[str, Any] = {"containers": [_container(kind.primary_container, p)]}
        if p.volumes:
            pod["volumes"] = [dict(v) for v in p.volumes]
        template: dict[str, Any] = {"spec": pod}
        if p.labels:
            template["metadata"] = {"labels": dict(p.labels)}
        specs[role] = {"replicas": count, "restartPolicy": "OnFailure", "template": template}
    return specs


def _roles(kind: TrainingKind, p: JobParameters, defaults: Mapping[str, int]) -> dict[str, int]:
    roles = dict(defaults)
    for given, count in p.replicas.items():
        role = kind.role_of(given)
        if role is None:
            raise SpecError(f"replicas: {given!r} is not a {kind.kind} role; expected one of "
                            f"{', '.join(kind.roles)}")
        roles[role] = count
    return roles


def _pytorch_job(p: JobParameters) -> dict[str, Any]:
    roles = _roles(PYTORCH_JOB, p, {"Master": 1, "Worker": 0})
    spec: dict[str, Any] = {"pytorchReplicaSpecs": _replica_specs(PYTORCH_JOB, p, roles)}
    if p.nproc_per_node:
        spec["nprocPerNode"] = str(p.nproc_per_node)
    policy = _run_policy(p)
    if policy:
        spec["runPolicy"] = policy
    return {"apiVersion": PYTORCH_JOB.api_version, "kind": "PyTorchJob", "metadata": _metadata(p), "spec": spec}


def _tf_job(p: JobParameters) -> dict[str, Any]:
    roles = _roles(TF_JOB, p, {"Chief": 1})
    # A role given 0 replicas is left out: a TFJob without a Chief has Worker 0 as primary.
    roles = {role: count for role, count in roles.items() if count > 0}
    spec: dict[str, Any] = {"tfReplicaSpecs": _replica_specs(TF_JOB, p, roles)}
    policy = _run_policy(p)
    if policy:
        spec["runPolicy"] = policy
    return {"apiVersion": TF_JOB.api_version, "kind": "TFJob", "metadata": _metadata(p), "spec": spec}


def _train_job(p: JobParameters) -> dict[str, Any]:
    if p.volumes or p.volume_mounts:
        raise SpecError("volumes, volume_mounts: a TrainJob's runtime defines its pods; "
                        "expected none (mount volumes in the ClusterTrainingRuntime)")
    nodes = dict(p.replicas).get("node", dict(p.replicas).get("Node", 1))
    trainer: dict[str, Any] = {**_program(p), "numNodes": nodes}
    if p.nproc_per_node:
        trainer["numProcPerNode"] = str(p.nproc_per_node)
    resources = _resources(p)
    if resources:
        trainer["resourcesPerNode"] = resources
    manifest: dict[str, Any] = {
        "apiVersion": TRAIN_JOB.api_version,
        "kind": "TrainJob",
        "metadata": _metadata(p),
        "spec": {"runtimeRef": {"name": p.runtime}, "trainer": trainer},
    }
    if p.labels:
        # Trainer copies spec.labels onto the JobSet and its pods (v2.0 and v2.1).
        manifest["spec"]["labels"] = dict(p.labels)
    return manifest
