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
    OUTPUT_LIMITS,
    PARAMETER_TYPES,
    RUNTIME_PLACEHOLDERS,
    containerized_python,
    executor_input,
    go_float,
    lightweight_program,
    parameter_text,
    pip_packages,
    read_outputs,
    read_task_outputs,
    runtime_text,
    substitute,
    typed,
)

__all__ = [
    "METRICS_SCHEMA",
    "OUTPUT_LIMITS",
    "PARAMETER_TYPES",
    "RUNTIME_PLACEHOLDERS",
    "RESULTS_OUTPUT",
    "ExecutorInput",
    "containerized_python",
    "executor_input",
    "executor_output",
    "go_float",
    "lightweight_program",
    "parameter_files",
    "parameter_text",
    "pip_packages",
    "parse_executor_input",
    "read_outputs",
    "read_task_outputs",
    "runtime_text",
    "substitute",
    "typed",
]
