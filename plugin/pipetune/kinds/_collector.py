"""The metrics collector sidecar in a trial's manifest, as Katib's webhook injects its own.

A File or TensorFlowEvent collector reads files inside the trial's pod, which the Kubernetes
engine can't reach; so, as Katib does, the primary pod gets one more container,
``pipetune-metrics-collector``, running ``pipetune collect`` (``pipetune.contract.run_collector``)
in pipetune's image. :func:`add_metrics_collector` amends a rendered trial:

* the pod templates amended are the primary pod's: a ``batch/v1 Job``'s ``spec.template``;
  a PyTorchJob's Master, a TFJob's Chief, Master or else Worker replica template (the roles
  whose first pod is the primary, ``TrainingKind.primary_roles``: every pod of that role gets
  a collector, the primary's is read), or the replica ``primaryPodLabels`` names by its
  replica type. Any other kind is refused with the reason: a TrainJob's
  pods come from its runtime, and its ``podTemplateOverrides`` can add volumes and mounts but
  no container and no ``shareProcessNamespace``; for other kinds pipetune does not know which
  template makes the primary pod;
* the primary container is ``primaryContainerName``, else the kind's (``pytorch``,
  ``tensorflow``), else a template's only container; a template with several containers and
  none named is refused;
* the metrics file's folder (File) or the event folder itself (TensorFlowEvent) is shared: when
  the primary container mounts a volume there or above, the collector mounts the same volume
  the same way; otherwise an ``emptyDir`` named ``pipetune-metrics`` is mounted there in both
  (Katib's own choice of folder). A file directly under ``/`` is refused (no folder to share);
* ``shareProcessNamespace: true``, so the collector sees when the primary's processes end;
  a template with native sidecars (init containers with ``restartPolicy: Always``) is refused:
  they would outlive the primary and the collector would wait for them for ever;
* resource requests and limits, Katib's defaults for its collector sidecar (katib-config's
  ``runtime.metricsCollectors[].resources``: CPU 50m/500m, memory 10Mi/100Mi, ephemeral
  storage 500Mi/5Gi), so a namespace whose quota or LimitRange requires them admits the pod;
  :func:`collector_resources` merges the experiment's own over them, Katib's way.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from pipetune.kinds._table import JOB, TRAIN_JOB, TRAINING_KINDS
from pipetune.version import __version__

#: The collector container's name in a trial's pod.
COLLECTOR_CONTAINER = "pipetune-metrics-collector"
#: The ``emptyDir`` the collector and the primary container share, when none is mounted there.
COLLECTOR_VOLUME = "pipetune-metrics"
#: pipetune's one image (the Dockerfile), whose entrypoint has ``pipetune collect``.
COLLECTOR_IMAGE = f"pipetune/pipetune:{__version__}"


#: Katib's defaults for its metrics collector sidecar (``pkg/apis/config/v1beta1`` defaults),
#: each kept unless the experiment's ``collector.resources`` gives that entry.
COLLECTOR_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "50m", "memory": "10Mi", "ephemeral-storage": "500Mi"},
    "limits": {"cpu": "500m", "memory": "100Mi", "ephemeral-storage": "5Gi"},
}


class CollectorError(ValueError):
    """A trial whose metrics the collector sidecar can't read; the message says why."""


#: The label the training operator gives each pod with its replica type (lower case).
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"


def collector_templates(
    manifest: Mapping[str, Any], primary_pod_labels: Mapping[str, str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The pod templates of ``manifest`` that make its primary pod, each with its field path;
    ``CollectorError`` for a kind where that is not known. A training job's
    ``primaryPodLabels`` naming a replica type (``training.kubeflow.org/replica-type:
    worker``, as Katib's TFJob example does) choose that replica's template."""
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    spec = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if (api_version, kind) == (JOB.api_version, JOB.kind):
        template = spec.get("template")
        if not isinstance(template, dict):
            raise CollectorError("spec.template: expected the Job's pod template")
        return [("spec.template", template)]
    training = TRAINING_KINDS.get(kind) if api_version.startswith("kubeflow.org/") else None
    if training is not None:
        replicas = spec.get(training.replica_key) or {}
        wanted = (primary_pod_labels or {}).get(REPLICA_TYPE_LABEL)
        roles = (wanted,) if wanted else training.primary_roles
        for role in roles:
            for name, replica in replicas.items():
                if name.lower() == role.lower() and isinstance(replica, dict) and isinstance(replica.get("template"), dict):
                    return [(f"spec.{training.replica_key}.{name}.template", replica["template"])]
        raise CollectorError(
            f"spec.{training.replica_key}: no {' or '.join(roles)} replica with a pod template, so the "
            "primary pod is not known"
            + (f" (trialTemplate.primaryPodLabels {REPLICA_TYPE_LABEL}: {wanted})" if wanted else "")
        )
    if kind == TRAIN_JOB.kind:
        # Kubeflow Trainer's TrainJob (trainer.kubeflow.org/v1alpha1) amends its runtime's pods
        # only through spec.podTemplateOverrides (spec.podSpecOverrides before Trainer v2.1): it
        # adds volumes, and env and volumeMounts to containers the runtime already has; its
        # webhook refuses a container name the runtime's job template lacks, and there is no
        # shareProcessNamespace field. So the collector can't be added from the TrainJob.
        why = ("a TrainJob's pods are made from its training runtime, and its spec.podTemplateOverrides "
               "(spec.podSpecOverrides before Trainer v2.1) can add a volume and mount it in a container "
               "the runtime already has, but not add a container (Trainer refuses a container the runtime "
               "lacks) nor set shareProcessNamespace, which the collector needs")
    else:
        why = f"pipetune does not know which pod template of a {kind} ({api_version}) makes its primary pod"
    raise CollectorError(
        f"kind {kind}: the File and TensorFlowEvent collectors run as a container beside the primary "
        f"one, added to a batch/v1 Job's, a PyTorchJob's or a TFJob's pod template, and {why}; expected "
        "the StdOut collector (or results.yaml, which the termination message carries)"
    )


def collector_resources(given: Mapping[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """The collector container's ``resources``: :data:`COLLECTOR_RESOURCES` with each entry of
    ``given`` (``{requests: {cpu: 100m}, limits: {memory: 1Gi}}``) in its place, and, as Katib
    does, an entry given a negative quantity (``"-1"``) removed: a cluster whose autoscaler
    can't scale pods that set ephemeral storage drops it that way. ``given`` is checked by the
    experiment's parser (``spec.metricsCollectorSpec.collector.resources``)."""
    merged = {part: dict(entries) for part, entries in COLLECTOR_RESOURCES.items()}
    for part, entries in (given or {}).items():
        for name, quantity in (entries or {}).items():
            text = str(quantity).strip()
            if text.startswith("-"):
                merged[part].pop(str(name), None)
            else:
                merged[part][str(name)] = text
    return {part: entries for part, entries in merged.items() if entries}


def collector_folder(path: str, tfevents: bool) -> str:
    """The folder the collector shares: the event folder, or the metrics file's folder."""
    folder = path.rstrip("/") if tfevents else os.path.dirname(path.rstrip("/"))
    if not folder or folder == "/":
        raise CollectorError(
            f"spec.metricsCollectorSpec.source.fileSystemPath.path: {path!r} is directly under /, and "
            "the collector shares the folder the metrics are written in; expected a path in a folder "
            "of its own (Katib's default: /var/log/katib/metrics.log)"
        )
    return folder


def add_metrics_collector(
    manifest: Mapping[str, Any],
    primary_container: str | None,
    folder: str,
    args: Sequence[str],
    image: str = COLLECTOR_IMAGE,
    primary_pod_labels: Mapping[str, str] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of ``manifest`` whose primary pod templates run the collector (``pipetune`` with
    ``args``) beside the primary container, sharing ``folder`` and the process namespace, with
    ``resources`` over Katib's defaults (:func:`collector_resources`); see the module
    docstring. ``CollectorError`` with the reason when it can't."""
    amended: dict[str, Any] = copy.deepcopy(dict(manifest))
    training = TRAINING_KINDS.get(str(amended.get("kind", "")))
    wanted = primary_container or (training.primary_container if training else None)
    for where, template in collector_templates(amended, primary_pod_labels):
        pod = template.get("spec")
        containers = pod.get("containers") if isinstance(pod, dict) else None
        if not isinstance(pod, dict) or not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
            raise CollectorError(f"{where}.spec.containers: expected a list of containers")
        names = [str(c.get("name")) for c in containers]
        if COLLECTOR_CONTAINER in names:
            raise CollectorError(
                f"{where}.spec.containers: {COLLECTOR_CONTAINER!r} is the name of pipetune's metrics "
                "collector; expected another name for your container"
            )
        primary = next((c for c in containers if wanted is not None and c.get("name") == wanted), None)
        if primary is None and wanted is None and len(containers) == 1:
            primary = containers[0]
        if primary is None:
            raise CollectorError(
                f"{where}.spec.containers: the collector shares {folder} with the primary container, and "
                + (f"there is no container {wanted!r}" if wanted else "the pod has several containers")
                + f" (it has {', '.join(names)}); expected trialTemplate.primaryContainerName naming one"
            )
        native = [str(c.get("name")) for c in pod.get("initContainers") or []
                  if isinstance(c, dict) and c.get("restartPolicy") == "Always"]
        if native:
            raise CollectorError(
                f"{where}.spec.initContainers: {', '.join(native)} run beside the containers until they "
                "end (restartPolicy: Always), and the collector waits for every other process of the "
                "pod, so the pod would never end; expected no sidecar init containers with a File or "
                "TensorFlowEvent collector"
            )
        mounts = [dict(m) for m in primary.get("volumeMounts") or [] if isinstance(m, dict)
                  and _covers(str(m.get("mountPath") or ""), folder)]
        if not mounts:
            volumes = pod.setdefault("volumes", [])
            if any(isinstance(v, dict) and v.get("name") == COLLECTOR_VOLUME for v in volumes):
                raise CollectorError(
                    f"{where}.spec.volumes: {COLLECTOR_VOLUME!r} is the name of the volume pipetune's "
                    "collector shares; expected another name for your volume"
                )
            volumes.append({"name": COLLECTOR_VOLUME, "emptyDir": {}})
            mounts = [{"name": COLLECTOR_VOLUME, "mountPath": folder}]
            primary["volumeMounts"] = [*(primary.get("volumeMounts") or []), dict(mounts[0])]
        pod["shareProcessNamespace"] = True
        containers.append({
            "name": COLLECTOR_CONTAINER,
            "image": image,
            "command": ["pipetune"],
            "args": list(args),
            "volumeMounts": mounts,
            "resources": collector_resources(resources),
            "terminationMessagePolicy": "File",
        })
    return amended


def _covers(mount_path: str, folder: str) -> bool:
    """Whether a volume mounted at ``mount_path`` holds ``folder``."""
    mount = mount_path.rstrip("/") or "/"
    return folder == mount or folder.startswith(mount.rstrip("/") + "/")
