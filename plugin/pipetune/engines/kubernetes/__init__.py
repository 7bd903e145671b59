"""The Kubernetes engine: runs as resources of any kind on a cluster (``--engine kubernetes``)."""

from pipetune.engines.kubernetes._api import Retry, api_client, retry_after
from pipetune.engines.kubernetes._engine import (
    POD_LABELS,
    KubernetesEngine,
    KubernetesRun,
)
from pipetune.engines.kubernetes._manifests import component_job

__all__ = [
    "POD_LABELS",
    "KubernetesEngine",
    "KubernetesRun",
    "Retry",
    "api_client",
    "component_job",
    "retry_after",
]
