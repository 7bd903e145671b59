"""Tekton: catalog components as generated Tasks (``pipetune catalog generate``), and
pipelines checked against them and the tuner's custom task. The custom task itself (the
CustomRun contract the controller follows) is ``pipetune.controller``."""

from pipetune.tekton._pipeline import (
    EXPERIMENT_API,
    EXPERIMENT_KIND,
    PARETO_FRONT_RESULT,
    check_pipeline,
    custom_task_results,
    is_multi_objective,
)
from pipetune.tekton._task import CATEGORIES, RESULTS_RESULT, check_task, kfp_only, task_for

__all__ = [
    "CATEGORIES",
    "EXPERIMENT_API",
    "EXPERIMENT_KIND",
    "PARETO_FRONT_RESULT",
    "RESULTS_RESULT",
    "check_pipeline",
    "check_task",
    "custom_task_results",
    "is_multi_objective",
    "kfp_only",
    "task_for",
]
