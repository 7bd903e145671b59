"""The results contract, version 1: parameters in as arguments, one results.yaml out."""

from pipetune.contract._args import parse_args, usage_error
from pipetune.contract._artifacts import artifact_dir, artifact_ref
from pipetune.contract._collect import collect_results, read_log
from pipetune.contract._log import (
    KATIB_DEFAULT_FILTER,
    LogMetrics,
    results_from_json_lines,
    results_from_log,
)
from pipetune.contract._report import (
    REPORT_PREFIX,
    TRIAL_INDEX_ENV,
    ReportSink,
    report,
    reporting_to,
    save_results,
)
from pipetune.contract._results import (
    API_VERSION,
    CHANNEL_LIMIT_BYTES,
    OUTPUTS_ENV,
    RESULTS_FILE,
    Checkpoint,
    Results,
    outputs_dir,
    oversize_message,
    parse_results,
    read_results,
    results_path,
    write_results,
)

__all__ = [
    "API_VERSION",
    "CHANNEL_LIMIT_BYTES",
    "Checkpoint",
    "KATIB_DEFAULT_FILTER",
    "LogMetrics",
    "OUTPUTS_ENV",
    "REPORT_PREFIX",
    "RESULTS_FILE",
    "ReportSink",
    "Results",
    "TRIAL_INDEX_ENV",
    "artifact_dir",
    "artifact_ref",
    "collect_results",
    "outputs_dir",
    "oversize_message",
    "parse_args",
    "parse_results",
    "read_log",
    "read_results",
    "report",
    "reporting_to",
    "results_from_json_lines",
    "results_from_log",
    "results_path",
    "save_results",
    "usage_error",
    "write_results",
]
