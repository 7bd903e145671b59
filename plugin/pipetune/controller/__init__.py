"""``pipetune controller``: the tuner as a Tekton custom task and standalone Experiments.

A kopf operator (``_operator``, ``run_operator``) watches ``tekton.dev/v1beta1`` CustomRuns
whose ``customRef`` or ``customSpec`` is ``pipetune.dev/v1alpha1`` Experiment, and
``pipetune.dev/v1alpha1`` Experiments, and hands each to ``Controller`` (``_reconcile``),
which runs the one tuner on the Kubernetes engine, level-triggered: each reconcile lets the
tuner take a turn and applies one plan (``_plan``: the status written once, then the children
created). The decisions are plain functions: the parents (``_parent``), the journal as a
parent keeps it (``_journal``: recent records in the status, older ones in ConfigMaps it
owns) and the Tekton custom-task contract (``_customtask``), which ``pipetune pipeline run`` shares for a
PipelineRun's tuning task.
"""

from typing import TYPE_CHECKING

from pipetune.controller._customtask import (
    CANCELLED,
    TIMED_OUT,
    Decision,
    decide,
    parse_duration,
    results_of,
)
from pipetune.controller._journal import Layout, archive_names, journal_records
from pipetune.controller._parent import (
    BUDGET_PARAMS,
    STATE_FIELD,
    TEMPLATE_LABEL,
    ParentError,
    Progress,
    child_base,
    condition_of,
    experiment_document,
    experiment_source,
    experiment_status,
    is_ours,
    is_template,
    parse_experiment,
    status_patch,
)
from pipetune.controller._plan import Plan, Turn, plan_customrun, plan_experiment

if TYPE_CHECKING:  # what __getattr__ below returns, for type checkers; imported on first use
    from pipetune.controller._engine import HeldEngine
    from pipetune.controller._operator import run_operator
    from pipetune.controller._queue import WorkQueue
    from pipetune.controller._reconcile import CUSTOMRUN, EXPERIMENT, Controller, read_archive, retry_delay

_RECONCILE = ("CUSTOMRUN", "EXPERIMENT", "Controller", "read_archive", "retry_delay")


def __getattr__(name: str) -> object:
    # The controller's I/O (the Kubernetes client, kopf) is imported on first use: ``pipetune
    # pipeline run`` uses the custom-task decisions above on a laptop and must not pay for it.
    if name in _RECONCILE:
        from pipetune.controller import _reconcile

        return getattr(_reconcile, name)
    if name == "HeldEngine":
        from pipetune.controller._engine import HeldEngine

        return HeldEngine
    if name == "run_operator":
        from pipetune.controller._operator import run_operator

        return run_operator
    if name == "WorkQueue":
        from pipetune.controller._queue import WorkQueue

        return WorkQueue
    raise AttributeError(f"module 'pipetune.controller' has no attribute {name!r}")


__all__ = [
    "BUDGET_PARAMS",
    "CANCELLED",
    "CUSTOMRUN",
    "EXPERIMENT",
    "STATE_FIELD",
    "TEMPLATE_LABEL",
    "TIMED_OUT",
    "Controller",
    "Decision",
    "Layout",
    "HeldEngine",
    "ParentError",
    "Plan",
    "Progress",
    "Turn",
    "WorkQueue",
    "archive_names",
    "child_base",
    "condition_of",
    "decide",
    "experiment_document",
    "experiment_source",
    "experiment_status",
    "is_ours",
    "is_template",
    "journal_records",
    "read_archive",
    "parse_duration",
    "parse_experiment",
    "plan_customrun",
    "plan_experiment",
    "results_of",
    "retry_delay",
    "run_operator",
    "status_patch",
]
