"""Tekton: catalog components as generated Tasks (``pipetune catalog generate``)."""

from pipetune.tekton._task import CATEGORIES, RESULTS_RESULT, check_task, task_for

__all__ = ["CATEGORIES", "RESULTS_RESULT", "check_task", "task_for"]
