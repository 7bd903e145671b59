"""Tekton: catalog components as generated Tasks (``pipetune catalog generate``), and
pipelines checked against them and the tuner's custom task."""

from pipetune.tekton._pipeline import check_pipeline, custom_task_results
from pipetune.tekton._task import CATEGORIES, RESULTS_RESULT, check_task, task_for

__all__ = ["CATEGORIES", "RESULTS_RESULT", "check_pipeline", "check_task", "custom_task_results", "task_for"]
