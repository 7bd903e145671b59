"""pipetune: components, bridges, a tuner and checkpoints for ML pipelines.

Component authors need three calls: :func:`parse_args` for their inputs, :func:`report` for
progress, :func:`save_results` for the final results.yaml.
"""

from pipetune.contract import (
    Results,
    artifact_dir,
    artifact_ref,
    outputs_dir,
    parse_args,
    read_results,
    report,
    save_results,
    usage_error,
)

__version__ = "0.1.0"

__all__ = [
    "Results",
    "artifact_dir",
    "artifact_ref",
    "outputs_dir",
    "parse_args",
    "read_results",
    "report",
    "save_results",
    "usage_error",
]
