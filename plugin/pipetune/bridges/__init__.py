"""Bridges: a PyTorchJob, TFJob or TrainJob run as one pipeline step that returns the
training's own results (``components/pytorchjob``, ``tfjob``, ``trainjob``).

``build_*`` make the manifests from a step's parameters, ``check_training_job`` applies the
operators' rules to any such manifest, and ``python -m pipetune.bridges`` is the step itself.
"""

from pipetune.bridges._build import JobParameters, build_job
from pipetune.bridges._check import (
    Role,
    check_training_job,
    is_training_job,
    nproc_per_node,
    replica_roles,
)
from pipetune.bridges._run import main, run_bridge

__all__ = [
    "JobParameters",
    "Role",
    "build_job",
    "check_training_job",
    "is_training_job",
    "main",
    "nproc_per_node",
    "replica_roles",
    "run_bridge",
]
