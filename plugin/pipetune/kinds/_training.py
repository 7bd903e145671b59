"""The operators' rules for a valid training job, checked before anything is created.

``check_training_job`` applies the rules the training operator v1 (release-1.9) validates
for PyTorchJob and TFJob, and Kubeflow Trainer's for TrainJob, to a manifest given as a dict:
replica types are the operator's, a Master or Chief has exactly one replica, each replica's
pod has the container the operator looks for (``pytorch`` / ``tensorflow``) and every
container has an image. It returns the problems found, each naming the field; an empty list
means the job is valid as far as these rules go (the cluster's own admission may say more).

``replica_roles`` reads a valid job's roles for the local engine: each role's replica count,
its primary container's argv and plain env.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.components import format_value
from pipetune.kinds._table import TRAIN_JOB, TRAINING_KINDS, TrainingKind


@dataclass(frozen=True)
class Role:
    """One role of a training job as the manifest states it."""

    role: str
    replicas: int
    image: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    container: Mapping[str, Any] = field(default_factory=dict)


def is_training_job(resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` is a kind this module checks (PyTorchJob, TFJob, TrainJob)."""
    api_version, kind = str(resource.get("apiVersion", "")), str(resource.get("kind", ""))
    if kind in TRAINING_KINDS:
        return api_version.startswith("kubeflow.org/")
    return kind == TRAIN_JOB.kind and api_version.startswith(TRAIN_JOB.group + "/")


def check_training_job(resource: Mapping[str, Any]) -> list[str]:
    """Problems with a PyTorchJob, TFJob or TrainJob manifest, each naming its field."""
    kind = str(resource.get("kind", ""))
    spec = resource.get("spec")
    if not isinstance(spec, dict):
        return ["spec: expected a map"]
    if kind == TRAIN_JOB.kind:
        return _check_train_job(spec)
    return _check_replicas(TRAINING_KINDS[kind], spec)


def _check_replicas(kind: TrainingKind, spec: Mapping[str, Any]) -> list[str]:
    where = f"spec.{kind.replica_key}"
    replica_specs = spec.get(kind.replica_key)
    if not isinstance(replica_specs, dict) or not replica_specs:
        return [f"{where}: expected a map of replica types ({', '.join(kind.roles)})"]
    problems: list[str] = []
    for name, replica in replica_specs.items():
        at = f"{where}.{name}"
        if name not in kind.roles:
            problems.append(f"{at}: unknown replica type; expected one of {', '.join(kind.roles)}")
            continue
        if not isinstance(replica, dict):
            problems.append(f"{at}: expected a map")
            continue
        count = replica.get("replicas", None if name in kind.single_roles else 1)
        if count is None and kind.kind == "PyTorchJob":
            problems.append(f"{at}.replicas: required, and a PyTorchJob has exactly one {name}")
        elif count is None:
            pass
        elif not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(f"{at}.replicas: expected a whole number >= 0, got {count!r}")
        elif name in kind.single_roles and count != 1:
            problems.append(f"{at}.replicas: a {kind.kind} has exactly one {name}; got {count}")
        containers = _containers(replica.get("template"))
        if containers is None:
            problems.append(f"{at}.template.spec.containers: expected a list of containers")
            continue
        if not any(c.get("name") == kind.primary_container for c in containers):
            problems.append(
                f"{at}.template.spec.containers: the {kind.kind} operator runs the container "
                f"named {kind.primary_container!r}; found "
                f"{', '.join(repr(c.get('name')) for c in containers) or 'none'}"
            )
        for index, container in enumerate(containers):
            if not container.get("image"):
                problems.append(
                    f"{at}.template.spec.containers[{index}] ({container.get('name')}): image is required"
                )
    if kind.kind == "TFJob" and "Chief" in replica_specs and "Master" in replica_specs:
        problems.append(f"{where}: a TFJob has a Chief or a Master, not both")
    if kind.kind == "PyTorchJob" and "Master" not in replica_specs and "elasticPolicy" not in spec:
        problems.append(f"{where}: a PyTorchJob needs a Master (or an elasticPolicy)")
    return problems


def _check_train_job(spec: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    runtime = spec.get("runtimeRef")
    if not isinstance(runtime, dict) or not runtime.get("name"):
        problems.append("spec.runtimeRef.name: required (e.g. torch-distributed)")
    trainer = spec.get("trainer", {})
    if not isinstance(trainer, dict):
        return [*problems, "spec.trainer: expected a map"]
    nodes = trainer.get("numNodes", 1)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        problems.append(f"spec.trainer.numNodes: expected a whole number >= 1, got {nodes!r}")
    for key in ("command", "args"):
        if key in trainer and not isinstance(trainer[key], list):
            problems.append(f"spec.trainer.{key}: expected a list of strings")
    return problems


def replica_roles(resource: Mapping[str, Any]) -> list[Role]:
    """The roles of a job that ``check_training_job`` found valid, Master/Chief first."""
    kind = str(resource.get("kind", ""))
    spec = resource["spec"]
    if kind == TRAIN_JOB.kind:
        trainer = spec.get("trainer") or {}
        return [
            Role(
                role="node",
                replicas=int(trainer.get("numNodes", 1)),
                image=str(trainer.get("image") or ""),
                command=tuple(format_value(x) for x in [*(trainer.get("command") or []), *(trainer.get("args") or [])]),
                env=_plain_env(trainer.get("env")),
                container=trainer,
            )
        ]
    training = TRAINING_KINDS[kind]
    roles: list[Role] = []
    for name, replica in spec[training.replica_key].items():
        containers = _containers(replica.get("template")) or []
        container = next(c for c in containers if c.get("name") == training.primary_container)
        roles.append(
            Role(
                role=name,
                replicas=int(replica.get("replicas", 1)),
                image=str(container.get("image") or ""),
                command=tuple(format_value(x) for x in [*(container.get("command") or []), *(container.get("args") or [])]),
                env=_plain_env(container.get("env")),
                container=container,
            )
        )
    order = {role: i for i, role in enumerate(training.primary_roles)}
    return sorted(roles, key=lambda r: order.get(r.role, len(order)))


def nproc_per_node(resource: Mapping[str, Any]) -> str | None:
    """``spec.nprocPerNode`` (PyTorchJob) or ``spec.trainer.numProcPerNode`` (TrainJob)."""
    spec = resource.get("spec") or {}
    value = spec.get("nprocPerNode")
    if value is None and isinstance(spec.get("trainer"), dict):
        value = spec["trainer"].get("numProcPerNode")
    return None if value is None else str(value)


def _containers(template: Any) -> list[dict[str, Any]] | None:
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        return None
    return containers


def _plain_env(items: Any) -> dict[str, str]:
    """``env`` entries with a value; ``valueFrom`` ones need a cluster and are left out."""
    env: dict[str, str] = {}
    for item in items or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "valueFrom" not in item:
            env[item["name"]] = format_value(item.get("value", ""))
    return env
