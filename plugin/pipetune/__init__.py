"""pipetune: components, bridges, a tuner and checkpoints for ML pipelines.

Component authors need three calls: :func:`parse_args` for their inputs, :func:`report` for
progress, :func:`save_results` for the final results.yaml; long steps add :func:`checkpoint`
and :func:`resume_from`.
"""

from typing import TYPE_CHECKING

# First, so that a user's `from hyperopt import hp` after `import pipetune` gets hyperopt.atpe's
# stand-in (no scipy.stats, ~1 s); pipetune.tuner's __init__ imports only the standard library.
import pipetune.tuner  # noqa: F401
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
from pipetune.version import __version__ as __version__

if TYPE_CHECKING:  # what __getattr__ below returns, for type checkers; imported on first use
    from pipetune.api import tune
    from pipetune.checkpoints import checkpoint, latest_checkpoint, resume_from, resume_info, save_checkpoint


_CHECKPOINT_CALLS = ("checkpoint", "save_checkpoint", "latest_checkpoint", "resume_from", "resume_info")


def __getattr__(name: str) -> object:
    # The tuner and the checkpoint library (fsspec) are imported on first use: a component
    # process, which imports pipetune for report(), must not pay for what it does not call.
    if name == "tune":
        from pipetune.api import tune

        return tune
    if name in _CHECKPOINT_CALLS:
        import pipetune.checkpoints

        return getattr(pipetune.checkpoints, name)
    raise AttributeError(f"module 'pipetune' has no attribute {name!r}")


__all__ = [
    "Results",
    "checkpoint",
    "latest_checkpoint",
    "resume_from",
    "resume_info",
    "save_checkpoint",
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
