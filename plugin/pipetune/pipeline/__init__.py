"""Whole pipelines on this machine (``pipetune pipeline run``): a compiled KFP pipeline or a
Tekton PipelineRun as a plan of tasks, run in DAG order on the local engine."""

from pipetune.pipeline._kfp import (
    SCHEMA_VERSIONS,
    PipelinePlan,
    Source,
    TaskPlan,
    bind_parameters,
    kfp_plan,
    typed,
    waves,
)
from pipetune.pipeline._run import PipelineResult, TaskOutcome, check_programs, run_plan

__all__ = [
    "SCHEMA_VERSIONS",
    "PipelinePlan",
    "PipelineResult",
    "Source",
    "TaskOutcome",
    "TaskPlan",
    "bind_parameters",
    "check_programs",
    "kfp_plan",
    "run_plan",
    "typed",
    "waves",
]
