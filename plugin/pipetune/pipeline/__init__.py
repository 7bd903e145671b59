"""Whole pipelines on this machine (``pipetune pipeline run``): a compiled KFP pipeline or a
Tekton PipelineRun as a plan of tasks, run in DAG order on the local engine.

``kfp_plan`` and ``bind_parameters`` read a compiled KFP pipeline, ``run_plan`` runs it;
``is_tekton``, ``tekton_plan`` and ``bind_tekton_parameters`` read a Tekton one, which
``run_steps`` runs through its ``TektonSteps``. Both kinds run on the one scheduler in
``_schedule``: a kind decides (``Steps.decide``), the scheduler does the I/O."""

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
from pipetune.pipeline._run import KfpSteps, Sources, bind_artifacts, check_programs, run_plan
from pipetune.pipeline._schedule import (
    SKIPPED,
    DagSteps,
    Decision,
    Launch,
    PipelineResult,
    Step,
    Steps,
    TaskOutcome,
    run_steps,
)
from pipetune.pipeline._tekton import TektonSteps, bind_tekton_parameters, tekton_plan
from pipetune.pipeline._tekton_load import (
    PipelineTask,
    TaskBody,
    TektonPlan,
    any_tekton,
    is_tekton,
    tekton_plans,
)

__all__ = [
    "SCHEMA_VERSIONS",
    "SKIPPED",
    "DagSteps",
    "Decision",
    "KfpSteps",
    "Launch",
    "PipelinePlan",
    "PipelineResult",
    "Source",
    "Sources",
    "Step",
    "Steps",
    "TaskOutcome",
    "TaskPlan",
    "TektonPlan",
    "TektonSteps",
    "PipelineTask",
    "TaskBody",
    "any_tekton",
    "bind_artifacts",
    "bind_parameters",
    "bind_tekton_parameters",
    "check_programs",
    "is_tekton",
    "kfp_plan",
    "run_plan",
    "run_steps",
    "tekton_plan",
    "tekton_plans",
    "typed",
    "waves",
]
