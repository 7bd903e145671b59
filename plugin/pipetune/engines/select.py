"""Choosing an engine by name: the one place the CLI, the tune component and the bridges
turn ``--engine local|kubernetes|auto`` into an engine."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pipetune.engines.base import Engine
from pipetune.engines.local import LocalEngine
from pipetune.errors import UsageError

ENGINES = ("local", "kubernetes")
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def current_namespace() -> str:
    """This pod's namespace, or ``default`` outside a pod."""
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def engine_name(name: str) -> str:
    """``local`` or ``kubernetes``; ``auto`` is kubernetes inside a pod, else local."""
    if name == "auto":
        return "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local"
    if name not in ENGINES:
        raise UsageError(f"--engine: expected auto, {' or '.join(ENGINES)}, got {name!r}")
    return name


def open_engine(
    name: str,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    context: str | None = None,
    log: TextIO | None = sys.stderr,
) -> Engine[Any]:
    """A started engine: ``LocalEngine``, or a ``KubernetesEngine`` for the cluster of this
    pod or of the kubeconfig (``context``), its resources in ``namespace`` with ``labels``."""
    if engine_name(name) == "local":
        return LocalEngine()
    # Imported here: the Kubernetes client takes some 0.3 s to import, which a local run,
    # the common case, should not pay.
    from pipetune.engines.kubernetes import KubernetesEngine, api_client

    return KubernetesEngine(api_client(context), namespace, labels=labels, log=log)
