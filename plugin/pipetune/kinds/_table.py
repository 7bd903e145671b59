"""What pipetune knows about each Kubernetes kind it runs as a trial or a bridge step.

One table, read by the Kubernetes engine (plural names, default success and failure
conditions, which pod is primary), by the local engine (which roles become which local
processes) and by the bridges (the operators' rules for a valid replica spec). The values
follow the controllers' own sources: the batch Job controller, the Kubeflow training operator
v1 (release-1.9), Kubeflow Trainer v1alpha1, Tekton and Argo; Katib's trial templates use the
same conditions, written in GJSON (see ``engines.kubernetes.conditions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Label every trial (and every bridge job) carries, on the resource and on its pods.
#: pipetune's own Experiment resource (a CRD, a CustomRun's customRef): its API and kind.
EXPERIMENT_API = "pipetune.dev/v1alpha1"
EXPERIMENT_KIND = "Experiment"
EXPERIMENT_LABEL = "pipetune.dev/experiment"
TRIAL_LABEL = "pipetune.dev/trial"
#: Where a pipetune container writes results; also its termination-message path, so the
#: kubelet copies results.yaml (up to 4096 bytes) into the pod's status.
RESULTS_PATH = "/outputs/results.yaml"
#: The name of the string result a Tekton run (a catalog Task, a TaskRun or PipelineRun
#: trial) holds its results.yaml text in; the Kubernetes engine reads it from the run's status.
RESULTS_RESULT = "results"
TRAINING_GROUP = "kubeflow.org"


def _done(kind: str) -> str:
    return f'status.conditions[?(@.type=="{kind}" && @.status=="True")]'


#: A Tekton run that failed: its Succeeded condition is False (there is no Failed type).
_TEKTON_FAILED = 'status.conditions[?(@.type=="Succeeded" && @.status=="False")]'


@dataclass(frozen=True)
class Kind:
    """A resource kind: where its API lives, and how to tell that one has ended."""

    api_version: str
    kind: str
    plural: str
    success_condition: str
    failure_condition: str
    #: Labels (besides the trial label) that select the pod whose results are the trial's.
    primary_pod_labels: Mapping[str, str] = field(default_factory=dict)
    #: The container in that pod that writes results.
    primary_container: str | None = None
    #: How a run of this kind is cancelled in place (a merge patch); None: it is deleted.
    cancel_patch: Mapping[str, Any] | None = None
    #: Whether the kind's controller publishes results in ``status.results`` (Tekton), where
    #: the ``results`` result holds the results.yaml text.
    status_results: bool = False

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.split("/")[-1]


@dataclass(frozen=True)
class TrainingKind(Kind):
    """A training-operator v1 job kind: its replica roles and the rules the operator checks."""

    replica_key: str = ""
    roles: tuple[str, ...] = ()
    #: The role whose replica 0 is the primary (results, logs); the first present one wins.
    primary_roles: tuple[str, ...] = ()
    #: Roles the operator allows only one replica of.
    single_roles: tuple[str, ...] = ()
    default_port: int = 0
    port_name: str = ""

    def role_of(self, name: str) -> str | None:
        """The role spelled as the operator spells it, matched case-insensitively."""
        for role in self.roles:
            if role.lower() == name.lower():
                return role
        return None


PYTORCH_JOB = TrainingKind(
    api_version="kubeflow.org/v1",
    kind="PyTorchJob",
    plural="pytorchjobs",
    success_condition=_done("Succeeded"),
    failure_condition=_done("Failed"),
    primary_pod_labels={"training.kubeflow.org/job-role": "master"},
    primary_container="pytorch",
    replica_key="pytorchReplicaSpecs",
    roles=("Master", "Worker"),
    primary_roles=("Master",),
    single_roles=("Master",),
    default_port=23456,
    port_name="pytorchjob-port",
)
TF_JOB = TrainingKind(
    api_version="kubeflow.org/v1",
    kind="TFJob",
    plural="tfjobs",
    success_condition=_done("Succeeded"),
    failure_condition=_done("Failed"),
    primary_pod_labels={"training.kubeflow.org/job-role": "master"},
    primary_container="tensorflow",
    replica_key="tfReplicaSpecs",
    roles=("Chief", "Master", "PS", "Worker", "Evaluator"),
    primary_roles=("Chief", "Master", "Worker"),
    single_roles=("Chief", "Master", "Evaluator"),
    default_port=2222,
    port_name="tfjob-port",
)
TRAIN_JOB = Kind(
    api_version="trainer.kubeflow.org/v1alpha1",
    kind="TrainJob",
    plural="trainjobs",
    success_condition=_done("Complete"),
    failure_condition=_done("Failed"),
    # JobSet's first node: the replicated job "node", completion index 0.
    primary_pod_labels={
        "jobset.sigs.k8s.io/replicatedjob-name": "node",
        "batch.kubernetes.io/job-completion-index": "0",
    },
    primary_container="node",
)
JOB = Kind(
    api_version="batch/v1",
    kind="Job",
    plural="jobs",
    success_condition=_done("Complete"),
    failure_condition=_done("Failed"),
)
TASK_RUN = Kind(
    api_version="tekton.dev/v1",
    kind="TaskRun",
    plural="taskruns",
    success_condition=_done("Succeeded"),
    failure_condition=_TEKTON_FAILED,
    cancel_patch={"spec": {"status": "TaskRunCancelled"}},
    status_results=True,
)
PIPELINE_RUN = Kind(
    api_version="tekton.dev/v1",
    kind="PipelineRun",
    plural="pipelineruns",
    success_condition=_done("Succeeded"),
    failure_condition=_TEKTON_FAILED,
    cancel_patch={"spec": {"status": "Cancelled"}},
    status_results=True,
)
WORKFLOW = Kind(
    api_version="argoproj.io/v1alpha1",
    kind="Workflow",
    plural="workflows",
    success_condition='$[?(@.status.phase=="Succeeded")]',
    failure_condition='$[?(@.status.phase=="Failed" || @.status.phase=="Error")]',
)




def _other_training(kind: str, container: str) -> Kind:
    """The training operator's other kinds: Katib's defaults (conditions, the ``job-role``
    master label); the local engine does not run them."""
    return Kind(
        api_version="kubeflow.org/v1",
        kind=kind,
        plural=kind.lower() + "s",
        success_condition=_done("Succeeded"),
        failure_condition=_done("Failed"),
        primary_pod_labels={"training.kubeflow.org/job-role": "master"},
        primary_container=container,
    )


OTHER_TRAINING = tuple(
    _other_training(kind, container)
    for kind, container in (("XGBoostJob", "xgboost"), ("MPIJob", "mpi"), ("PaddleJob", "paddle"),
                            ("JAXJob", "jax"), ("MXJob", "mxnet"))
)
TRAINING_KINDS: dict[str, TrainingKind] = {k.kind: k for k in (PYTORCH_JOB, TF_JOB)}
_KNOWN = (JOB, PYTORCH_JOB, TF_JOB, TRAIN_JOB, TASK_RUN, PIPELINE_RUN, WORKFLOW, *OTHER_TRAINING)


def known_kind(api_version: str, kind: str) -> Kind | None:
    """The table's entry for a resource, matching any version of a known group and kind
    (Tekton ``v1beta1`` runs share ``v1``'s conditions); None for other kinds."""
    group = api_version.split("/")[0] if "/" in api_version else ""
    for entry in _KNOWN:
        if entry.kind == kind and entry.group == group:
            if entry.api_version == api_version or isinstance(entry, TrainingKind):
                return entry
            return replace(entry, api_version=api_version)
    return None


def kind_of(resource: Mapping[str, Any]) -> tuple[str, str]:
    """``(apiVersion, kind)`` of a manifest, as text."""
    return str(resource.get("apiVersion") or ""), str(resource.get("kind") or "")


def default_plural(kind: str) -> str:
    """The plural Kubernetes would derive for an unknown kind (lower case plus ``s``), the
    convention CRDs follow; a CRD that differs must be named in the trial template."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"
