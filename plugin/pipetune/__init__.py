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


def __getattr__(name: str) -> object:
    # The tuner is imported on first use: a component process, which imports pipetune for
    # report(), must not pay for the tuner, the engines or hyperopt.
    if name == "tune":
        from pipetune.api import tune

        return tune
    raise AttributeError(f"module 'pipetune' has no attribute {name!r}")


__all__ = [
    "Results",
    "artifact_dir",
    "artifact_ref",
    "outputs_dir",
    "parse_args",
    "read_results",
    "report",
    "save_results",
    "tune",
    "usage_error",
]
