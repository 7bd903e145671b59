"""The results contract, version 1: parameters in as arguments, one results.yaml out."""

from pipetune.contract._args import parse_args, usage_error
from pipetune.contract._artifacts import artifact_dir, artifact_ref
from pipetune.contract._collect import Follower, ResultsWatch, collect_results, follow_collector, read_log
from pipetune.contract._log import (
    KATIB_DEFAULT_FILTER,
    LogMetrics,
    LogReader,
    LogStream,
    results_from_json_lines,
    results_from_log,
)
from pipetune.contract._report import REPORT_PREFIX, report, save_results
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
from pipetune.contract._tfevent import TFEventReader, read_tfevents

__all__ = [
    "API_VERSION",
    "CHANNEL_LIMIT_BYTES",
    "Checkpoint",
    "Follower",
    "KATIB_DEFAULT_FILTER",
    "LogMetrics",
    "LogReader",
    "LogStream",
    "OUTPUTS_ENV",
    "REPORT_PREFIX",
    "RESULTS_FILE",
    "Results",
    "ResultsWatch",
    "TFEventReader",
    "artifact_dir",
    "artifact_ref",
    "collect_results",
    "follow_collector",
    "outputs_dir",
    "oversize_message",
    "parse_args",
    "parse_results",
    "read_log",
    "read_results",
    "read_tfevents",
    "report",
    "results_from_json_lines",
    "results_from_log",
    "results_path",
    "save_results",
    "usage_error",
    "write_results",
]
