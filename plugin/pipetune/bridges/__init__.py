"""Bridges: a PyTorchJob, TFJob or TrainJob run as one pipeline step that returns the
training's own results (``components/pytorchjob``, ``tfjob``, ``trainjob``).

``build_job`` makes the manifest from a step's parameters (checked by the operators' rules in
``pipetune.kinds``), and ``python -m pipetune.bridges`` is the step itself.
"""

from pipetune.bridges._build import JobParameters, build_job
from pipetune.bridges._run import main, run_bridge

__all__ = [
    "JobParameters",
    "build_job",
    "main",
    "run_bridge",
]
