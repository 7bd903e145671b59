"""Manifests the Kubernetes engine writes or amends: pure functions over dicts.

``component_job`` turns a component run into a ``batch/v1 Job``: one container named
``main`` with the component's image, its command resolved with every ``outputPath`` under
``/outputs/`` (an ``emptyDir``), ``PIPETUNE_OUTPUTS=/outputs``, the termination message
taken from ``/outputs/results.yaml``, no restarts (``backoffLimit: 0``: retries are the
tuner's). ``label_pod_templates`` and ``set_termination_message`` amend any resource.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pipetune.components import resolve_command
from pipetune.contract import OUTPUTS_ENV
from pipetune.engines.base import RunRequest
from pipetune.kinds import COLLECTOR_CONTAINER, RESULTS_PATH

CONTAINER_OUTPUTS = "/outputs"


def component_job(request: RunRequest, name: str, namespace: str) -> dict[str, Any]:
    """The ``batch/v1 Job`` that runs ``request``'s component once."""
    component = request.component
    paths = {output.name: f"{CONTAINER_OUTPUTS}/{output.name}" for output in component.outputs}
    argv = resolve_command(component, request.arguments, paths)
    env = {**component.container.env, **request.env, OUTPUTS_ENV: CONTAINER_OUTPUTS}
    container: dict[str, Any] = {
        "name": "main",
        "image": component.container.image,
        "command": list(argv),
        "env": [{"name": k, "value": str(v)} for k, v in env.items()],
        "volumeMounts": [{"name": "outputs", "mountPath": CONTAINER_OUTPUTS}],
        "terminationMessagePath": RESULTS_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [{"name": "outputs", "emptyDir": {}}],
                }
            },
        },
    }
    if request.timeout is not None:
        # The cluster enforces it too, so a tuner that dies can't leave a trial running forever.
        job["spec"]["activeDeadlineSeconds"] = max(1, int(request.timeout + 0.999))
    return job


def pod_templates(manifest: Any) -> Iterator[dict[str, Any]]:
    """Every pod template in a manifest: a map under a ``template`` key whose ``spec`` has
    ``containers`` (Jobs, replica specs, Deployments, ...)."""
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            if key == "template" and isinstance(value, dict) and isinstance(
                (value.get("spec") or {}).get("containers"), list
            ):
                yield value
            yield from pod_templates(value)
    elif isinstance(manifest, list):
        for item in manifest:
            yield from pod_templates(item)


def label_pod_templates(manifest: dict[str, Any], labels: Mapping[str, str]) -> None:
    """Add ``labels`` to every pod template, so the run's pods can be found by them."""
    for template in pod_templates(manifest):
        metadata = template.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}


def primary_containers(manifest: dict[str, Any], container: str | None) -> Iterator[dict[str, Any]]:
    """The container named ``container`` in every pod template (``None``: the only container
    of each template that has just one, pipetune's metrics collector not counted)."""
    for template in pod_templates(manifest):
        containers = [c for c in template["spec"]["containers"]
                      if not (isinstance(c, dict) and c.get("name") == COLLECTOR_CONTAINER)]
        for item in containers:
            if isinstance(item, dict) and (
                (container is None and len(containers) == 1) or item.get("name") == container
            ):
                yield item


def set_termination_message(manifest: dict[str, Any], container: str | None) -> None:
    """Point the primary container's termination message at results.yaml, unless it names
    its own path."""
    for item in primary_containers(manifest, container):
        if "terminationMessagePath" not in item:
            item["terminationMessagePath"] = RESULTS_PATH
            item.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")


def add_env(manifest: dict[str, Any], container: str | None, env: Mapping[str, str]) -> None:
    """Add ``env`` to the primary container of every pod template (the run's own variables,
    such as its checkpoint location), over the container's values of the same names."""
    if not env:
        return
    for item in primary_containers(manifest, container):
        kept = [e for e in item.get("env") or [] if not (isinstance(e, dict) and e.get("name") in env)]
        item["env"] = kept + [{"name": k, "value": str(v)} for k, v in env.items()]
