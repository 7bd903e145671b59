"""A distributed-training resource as local processes: one per replica, each with the
environment its operator would inject, on local ports.

Pure functions over plain data; the local engine starts the processes. The rules:

* **PyTorchJob** (training operator v1, ``pytorch/envvar.go``): replicas in the order Master,
  then Workers. Every replica gets ``PYTHONUNBUFFERED=1``, ``PET_NNODES`` (the replica count)
  and ``PET_NPROC_PER_NODE`` (``nprocPerNode``, default ``auto``). When there is a Master,
  also ``MASTER_ADDR`` and ``PET_MASTER_ADDR`` (``127.0.0.1`` here, where the operator names
  the Master's service ``<job>-master-0``), ``MASTER_PORT`` and ``PET_MASTER_PORT`` (one free
  local port, where the operator uses 23456), ``WORLD_SIZE`` (replicas times ``nprocPerNode``
  when that is a number, else times 1), and ``RANK`` and ``PET_NODE_RANK`` (Master 0, Worker
  ``i`` is ``i + 1``). The primary is the Master.
* **TFJob** (``tensorflow/tensorflow.go``): with more than one replica in all, every replica
  gets ``TF_CONFIG``, the operator's JSON: ``cluster`` maps each role, lower case (``chief``,
  ``ps``, ``worker``, ``evaluator``, ``master``), to its replicas' addresses
  (``127.0.0.1:<port>``, one free port per replica, where the operator uses
  ``<job>-<role>-<i>.<ns>.svc:2222``), ``task`` is the replica's role and index, and
  ``environment`` is ``cloud``. The primary is the Chief (or Master, or else Worker 0).
* **TrainJob** (Kubeflow Trainer, ``torch-distributed`` runtime): ``trainer.numNodes``
  processes, each with ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``,
  ``PET_MASTER_ADDR`` and ``PET_MASTER_PORT`` (no ``WORLD_SIZE`` or ``RANK``: the runtime
  leaves those to torchrun); node 0 is the primary.

A replica's environment is its container's ``env`` with the injected variables over it, as
the operator's come after the user's in the pod. Each replica runs its container's command
the way a Job's primary container does (see ``pipetune.experiment.local_command``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class ReplicaTemplate:
    """One role of a distributed resource, as the manifest states it."""

    role: str
    replicas: int
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalReplica:
    """One process to start: which replica it is, its argv and its full extra environment."""

    role: str
    index: int
    command: tuple[str, ...]
    env: Mapping[str, str]
    primary: bool = False

    @property
    def name(self) -> str:
        """``master-0``, ``worker-1``: the operator's pod-name suffix, lower case."""
        return f"{self.role.lower()}-{self.index}"


def pytorch_replicas(
    templates: Sequence[ReplicaTemplate], nproc_per_node: str | int | None, free_port: Callable[[], int]
) -> list[LocalReplica]:
    """The processes of a PyTorchJob (module docstring)."""
    ordered = sorted(templates, key=lambda t: 0 if t.role == "Master" else 1)
    nodes = sum(t.replicas for t in ordered)
    nproc = "auto" if nproc_per_node in (None, "") else str(nproc_per_node)
    world = nodes * int(nproc) if nproc.isdigit() else nodes
    has_master = any(t.role == "Master" for t in ordered)
    port = str(free_port())
    out: list[LocalReplica] = []
    rank = 0
    for template in ordered:
        for index in range(template.replicas):
            injected = {
                "PYTHONUNBUFFERED": "1",
                "PET_NNODES": str(nodes),
                "PET_NPROC_PER_NODE": nproc,
            }
            if has_master:
                injected.update({
                    "MASTER_ADDR": LOCALHOST,
                    "PET_MASTER_ADDR": LOCALHOST,
                    "MASTER_PORT": port,
                    "PET_MASTER_PORT": port,
                    "WORLD_SIZE": str(world),
                    "RANK": str(rank),
                    "PET_NODE_RANK": str(rank),
                })
            out.append(
                LocalReplica(
                    template.role,
                    index,
                    template.command,
                    {**template.env, **injected},
                    primary=rank == 0,
                )
            )
            rank += 1
    return out


def tf_replicas(templates: Sequence[ReplicaTemplate], free_port: Callable[[], int]) -> list[LocalReplica]:
    """The processes of a TFJob (module docstring)."""
    addresses: dict[str, list[str]] = {}
    for template in templates:
        addresses[template.role] = [f"{LOCALHOST}:{free_port()}" for _ in range(template.replicas)]
    cluster = {role.lower(): hosts for role, hosts in addresses.items()}
    single = sum(t.replicas for t in templates) == 1
    primary_role = next(
        (role for role in ("Chief", "Master", "Worker") if addresses.get(role)), None
    )
    out: list[LocalReplica] = []
    for template in templates:
        for index in range(template.replicas):
            config = {
                "cluster": cluster,
                "task": {"type": template.role.lower(), "index": index},
                "environment": "cloud",
            }
            injected = {} if single else {"TF_CONFIG": json.dumps(config, separators=(",", ":"))}
            out.append(
                LocalReplica(
                    template.role,
                    index,
                    template.command,
                    {**template.env, **injected},
                    primary=template.role == primary_role and index == 0,
                )
            )
    out.sort(key=lambda r: (not r.primary,))
    return out


def trainer_replicas(
    template: ReplicaTemplate, nproc_per_node: str | int | None, free_port: Callable[[], int]
) -> list[LocalReplica]:
    """The processes of a TrainJob on the torch runtime (module docstring)."""
    port = str(free_port())
    nproc = "auto" if nproc_per_node in (None, "") else str(nproc_per_node)
    out = []
    for rank in range(template.replicas):
        injected = {
            "PET_NNODES": str(template.replicas),
            "PET_NPROC_PER_NODE": nproc,
            "PET_NODE_RANK": str(rank),
            "PET_MASTER_ADDR": LOCALHOST,
            "PET_MASTER_PORT": port,
        }
        out.append(
            LocalReplica("node", rank, template.command, {**template.env, **injected}, primary=rank == 0)
        )
    return out
