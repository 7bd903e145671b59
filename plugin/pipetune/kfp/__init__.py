"""Kubeflow Pipelines v2, the runtime side of one component: the executor input a container
component receives and the executor output the publisher writes, so KFP shows every pipetune
component's metrics (``_executor``); and what KFP's launcher does around a task's container
(``_launcher``), which ``pipetune.pipeline`` uses to run a compiled pipeline's tasks here."""

from pipetune.kfp._executor import (
    METRICS_SCHEMA,
    RESULTS_OUTPUT,
    ExecutorInput,
    executor_output,
    parameter_files,
    parse_executor_input,
)
from pipetune.kfp._launcher import (
    PARAMETER_TYPES,
    executor_input,
    lightweight_program,
    parameter_text,
    read_outputs,
    substitute,
    typed,
)

__all__ = [
    "METRICS_SCHEMA",
    "PARAMETER_TYPES",
    "RESULTS_OUTPUT",
    "ExecutorInput",
    "executor_input",
    "executor_output",
    "lightweight_program",
    "parameter_files",
    "parameter_text",
    "parse_executor_input",
    "read_outputs",
    "substitute",
    "typed",
]
