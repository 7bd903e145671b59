"""``pipetune controller``: the tuner as a Tekton custom task and standalone Experiments.

A kopf operator (``_operator``) watches ``tekton.dev/v1beta1`` CustomRuns whose ``customRef``
or ``customSpec`` is ``pipetune.dev/v1alpha1`` Experiment, and ``pipetune.dev/v1alpha1``
Experiments, and hands each to ``Controller`` (``_reconcile``), which runs the one tuner on the
one Kubernetes engine, level-triggered. The decisions are plain functions (``_parent`` and
``pipetune.tekton._customrun``).
"""

from pipetune.controller._parent import (
    BUDGET_PARAMS,
    STATE_FIELD,
    TEMPLATE_LABEL,
    ParentError,
    child_base,
    experiment_source,
    experiment_status,
    is_ours,
    is_template,
    parse_experiment,
    status_patch,
)
from pipetune.controller._queue import WorkQueue
from pipetune.controller._reconcile import CUSTOMRUN, EXPERIMENT, Controller

__all__ = [
    "BUDGET_PARAMS",
    "CUSTOMRUN",
    "EXPERIMENT",
    "STATE_FIELD",
    "TEMPLATE_LABEL",
    "Controller",
    "ParentError",
    "WorkQueue",
    "child_base",
    "experiment_source",
    "experiment_status",
    "is_ours",
    "is_template",
    "parse_experiment",
    "status_patch",
]
