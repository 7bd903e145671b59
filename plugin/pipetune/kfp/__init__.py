"""Kubeflow Pipelines v2: the executor input a container component receives and the executor
output the publisher writes, so KFP shows every pipetune component's metrics."""

from pipetune.kfp._executor import (
    METRICS_SCHEMA,
    RESULTS_OUTPUT,
    ExecutorInput,
    executor_output,
    parameter_files,
    parse_executor_input,
)

__all__ = ["METRICS_SCHEMA", "RESULTS_OUTPUT", "ExecutorInput", "executor_output", "parameter_files", "parse_executor_input"]
