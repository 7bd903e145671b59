"""Katib's own unit-test cases, re-created against pipetune: its collectors
(``file-metricscollector_test.go``), observations (``trial_controller_test.go``,
``TestGetObjectiveMetricValue``), medianstop's settings and rule, trial conditions
(``job_util_test.go``) and the webhook's collector validation (``validator_test.go``).

Where pipetune differs on purpose the case says so and asserts pipetune's answer next to
Katib's (``katib_model``); README.md's Katib section lists each difference.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipetune.contract import LogMetrics, Results
from pipetune.errors import SpecError
from pipetune.experiment import experiment_from_dict
from pipetune.kinds import compile_condition
from pipetune.tuner.early_stopping import MedianStop
from pipetune.tuner.objective import Objective
from pipetune.tuner.policy import objective_value

from . import katib_model as katib

KATIB_FILTER = "{metricName: ([\\w|-]+), metricValue: ((-?\\d+)(\\.\\d+)?)}"


def pairs(results: Results | None) -> list[tuple[str, float]]:
    """The (name, value) pairs a run reported, in order."""
    if results is None:
        return []
    return [(name, value) for entry in results.history for name, value in entry.items() if name != "step"]


def katib_pairs(logs: list[katib.MetricLog]) -> list[tuple[str, float]]:
    return [(log.name, float(log.value)) for log in logs if log.value != katib.UNAVAILABLE]


# -- file-metricscollector_test.go ----------------------------------------------------------------

JSON_GOOD = """\
{"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": 1638422847.28721, "trial": "0"}
{"acc": "0.9349666833877563", "checkpoint_path": "", "global_step": "0", "timestamp": 1638422847.287801, "trial": "0"}
{"checkpoint_path": "", "global_step": "1", "loss": "0.1414974331855774", \
"timestamp": "2021-12-02T14:27:50.000035161Z", "trial": "0"}
{"acc": "0.9586416482925415", "checkpoint_path": "", "global_step": "1", \
"timestamp": "2021-12-02T14:27:50.000037459Z", "trial": "0"}
{"checkpoint_path": "", "global_step": "2", "loss": "0.10683439671993256", "trial": "0"}"""

TEXT_GOOD = """\
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.8078};{metricName: loss, metricValue: 0.5183}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.6752}
2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 100}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 888.333}
2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: -0.4759}
{metricName: loss, metricValue: 0.8671}"""


def test_json_logs_positive_case() -> None:
    lines = JSON_GOOD.splitlines()
    found = LogMetrics(names=("acc", "loss"), json=True).read(lines)
    assert pairs(found) == katib_pairs(katib.collect_json(lines, ["acc", "loss"])) == [
        ("loss", 0.22082142531871796), ("acc", 0.9349666833877563), ("loss", 0.1414974331855774),
        ("acc", 0.9586416482925415), ("loss", 0.10683439671993256)]
    assert found is not None and found.metrics == {"acc": 0.9586416482925415, "loss": 0.10683439671993256}


def test_text_logs_positive_case_with_katibs_filter() -> None:
    lines = TEXT_GOOD.splitlines()
    found = LogMetrics(names=("accuracy", "loss"), filters=(KATIB_FILTER,)).read(lines)
    assert pairs(found) == katib_pairs(katib.collect_text(lines, ["accuracy", "loss"], [KATIB_FILTER])) == [
        ("accuracy", 0.8078), ("loss", 0.5183), ("accuracy", 0.6752), ("loss", 0.3634), ("accuracy", 100.0),
        ("accuracy", 888.333), ("accuracy", -0.4759), ("loss", 0.8671)]


@pytest.mark.parametrize("lines", [
    # Invalid values: no match, so the objective is unavailable.
    ["2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: .333}",
     "2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: -.333}",
     "2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: - 345.333}",
     "2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 888.}"],
    # An unclosed first line: only loss is found, and the objective (accuracy) is unavailable.
    ["2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.6752",
     "2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}"],
])
def test_text_logs_without_the_objective(lines: list[str]) -> None:
    found = LogMetrics(names=("accuracy", "loss"), filters=(KATIB_FILTER,)).read(lines)
    assert katib.collect_text(lines, ["accuracy", "loss"], [KATIB_FILTER]) == [
        katib.MetricLog(katib.ZERO, "accuracy", katib.UNAVAILABLE)]
    assert found is None or "accuracy" not in found.metrics
    assert objective_value(found, Objective("accuracy")) is None  # MetricsUnavailable, as Katib


def test_missing_objective_with_the_default_filter() -> None:
    lines = ["2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.3634}",
             "2024-03-04T17:55:08Z INFO     {metricName: loss, metricValue: 0.8671}"]
    assert LogMetrics(names=("accuracy", "loss")).read(lines) is None
    assert katib.collect_text(lines, ["accuracy", "loss"])[0].value == katib.UNAVAILABLE


def test_json_timestamps_that_do_not_parse_still_count() -> None:
    lines = ['{"checkpoint_path": "", "global_step": "0", "loss": "0.22082142531871796", "timestamp": "invalid", "trial": "0"}',
             '{"acc": "0.9349666833877563", "checkpoint_path": "", "global_step": "0", "timestamp": 1638422847, "trial": "0"}']
    found = LogMetrics(names=("acc", "loss"), json=True).read(lines)
    assert pairs(found) == katib_pairs(katib.collect_json(lines, ["acc", "loss"]))


def test_json_missing_objective() -> None:
    lines = JSON_GOOD.replace('"acc"', '"other"').splitlines()
    found = LogMetrics(names=("acc", "loss"), json=True).read(lines)
    assert found is not None and "acc" not in found.metrics
    assert katib.collect_json(lines, ["acc", "loss"])[0].value == katib.UNAVAILABLE


def test_json_numbers_and_broken_lines_differ_on_purpose() -> None:
    """Katib reads only string values and fails the whole collection on a line that is not
    JSON; pipetune reads numbers too and skips a broken line (README: differences)."""
    lines = ['"checkpoint_path": "", "loss": "0.22"', '{"acc": 0.93, "loss": "0.5"}']
    found = LogMetrics(names=("acc", "loss"), json=True).read(lines)
    assert found is not None and found.metrics == {"acc": 0.93, "loss": 0.5}


def test_a_custom_filters_captures_are_trimmed() -> None:
    """Katib trims a captured name and value (``strings.TrimSpace``): ``'loss '`` is ``loss``."""
    lines = ["epoch 1: loss = 0.25 ; acc = 0.5 "]
    pattern = r"([a-z]+\s*)=(\s*[\d.]+\s*)"
    found = LogMetrics(names=("loss", "acc"), filters=(pattern,)).read(lines)
    assert pairs(found) == katib_pairs(katib.collect_text(lines, ["loss", "acc"], [pattern])) == [
        ("loss", 0.25), ("acc", 0.5)]


def test_filters_are_go_regexps_with_ascii_classes() -> None:
    lines = ["t\u00e9st=1 loss=0.5 \u0663=2"]
    found = LogMetrics().read(lines)
    assert found is not None and found.metrics == {"st": 1.0, "loss": 0.5}


# -- trial_controller_test.go: TestGetObjectiveMetricValue ------------------------------------------

LOGS = [
    ("2020-04-13T14:47:38+08:00", "error", "0.03"), ("2020-04-13T14:47:39+08:00", "error", "0.02"),
    ("2020-04-13T14:47:40+08:00", "error", "0.01"), ("2020-04-13T14:47:41+08:00", "error", "0.05"),
    ("2020-04-13T14:47:41+08:00", "error", "0.06"), ("2020-04-13T14:47:41+08:00", "error", "0.07"),
    ("2020-04-12T14:47:42+08:00", "error", "0.1"),
    ("2020-04-13T14:47:38+08:00", "accuracy", "0.7"), ("2020-04-13T14:47:39+08:00", "accuracy", "0.71"),
    ("2020-04-13T14:47:40+08:00", "accuracy", "0.72"), ("2020-04-13T14:47:41+08:00", "accuracy", "0.68"),
    ("2020-04-13T14:47:41+08:00", "accuracy", "0.69"), ("2020-04-13T14:47:41+08:00", "accuracy", "0.67"),
    ("2020-04-12T14:47:42+08:00", "accuracy", "0.6"),
]


def _results() -> Results:
    lines = [f"{stamp} {name}={value}" for stamp, name, value in LOGS]
    found = LogMetrics(names=("accuracy", "error")).read(lines)
    assert found is not None
    return found


def test_min_and_max_are_katibs() -> None:
    results = _results()
    objective = Objective("accuracy", additional_metrics=("error",), metric_strategies={"error": "min"})
    assert objective_value(results, objective) == 0.72
    assert objective_value(results, Objective("accuracy", metric_strategies={"accuracy": "min"})) == 0.6
    assert objective_value(results, Objective("error", type="minimize")) == 0.01
    assert objective_value(results, Objective("error", metric_strategies={"error": "max"})) == 0.1
    logs = katib.collect_text([f"{s} {n}={v}" for s, n, v in LOGS], ["accuracy", "error"])
    observed = katib.observation(logs, ["accuracy", "error"])
    assert (observed["accuracy"]["max"], observed["accuracy"]["min"]) == ("0.72", "0.6")
    assert (observed["error"]["min"], observed["error"]["max"]) == ("0.01", "0.1")


def test_latest_is_the_last_reported_not_the_latest_timestamp() -> None:
    """Katib's latest is the value with the latest timestamp (0.67 and 0.07 here: the last
    lines are dated a day earlier); pipetune's is the last one reported (README: differences)."""
    logs = katib.collect_text([f"{s} {n}={v}" for s, n, v in LOGS], ["accuracy", "error"])
    observed = katib.observation(logs, ["accuracy", "error"])
    assert (observed["accuracy"]["latest"], observed["error"]["latest"]) == ("0.67", "0.07")
    results = _results()
    assert objective_value(results, Objective("accuracy", metric_strategies={"accuracy": "latest"})) == 0.6
    # In time order, as a run reports, the two agree.
    in_order = [line for line in (f"{s} {n}={v}" for s, n, v in LOGS) if not line.startswith("2020-04-12")]
    found = LogMetrics(names=("accuracy",)).read(in_order)
    observed = katib.observation(katib.collect_text(in_order, ["accuracy"]), ["accuracy"])
    assert objective_value(found, Objective("accuracy", metric_strategies={"accuracy": "latest"})) == float(
        observed["accuracy"]["latest"])


# -- medianstop ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "words"), [
    ({"min_trials_required": "0"}, "min_trials_required"),
    ({"min_trials_required": "-1"}, "min_trials_required"),
    ({"start_step": "0"}, "start_step"),
    ({"start_step": "x"}, "start_step"),
    ({"unknown": "1"}, "'unknown' is not a medianstop setting"),
])
def test_medianstop_settings_katib_refuses(settings: dict[str, str], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        MedianStop.from_settings(settings)


def test_medianstop_defaults_are_katibs() -> None:
    rule = MedianStop.from_settings({})
    assert (rule.min_trials_required, rule.start_step) == (3, 4)


def _curve(values: list[float]) -> list[tuple[int, float]]:
    return list(enumerate(values, start=1))


def test_medianstop_stops_a_trial_worse_at_every_step_as_katib_does() -> None:
    completed = [[0.9, 0.8, 0.7], [0.85, 0.75, 0.65], [0.95, 0.85, 0.75]]
    running = [3.0, 2.9, 2.8]
    rule = MedianStop(min_trials_required=3, start_step=2)
    stop, _ = rule.decide([_curve(c) for c in completed], {3: _curve(running)}, minimize=True)
    assert stop == [3]
    assert katib.median_stop([*completed, running], minimize=True, min_trials_required=3, start_step=2) == {3}


def test_medianstop_waits_for_start_step_and_enough_trials() -> None:
    rule = MedianStop(min_trials_required=2, start_step=3)
    completed = [_curve([0.9, 0.8, 0.7]), _curve([0.9, 0.8, 0.7])]
    assert rule.decide(completed, {2: _curve([3.0, 3.0])}, minimize=True)[0] == []
    assert rule.decide(completed[:1], {2: _curve([3.0, 3.0, 3.0])}, minimize=True)[0] == []
    assert katib.median_stop([[0.9, 0.8, 0.7], [3.0, 3.0]], True, min_trials_required=1, start_step=3) == set()


def test_medianstop_true_median_differs_on_purpose() -> None:
    """Katib's "median" is the mean of the succeeded trials' means of their first values, and
    tested once, at start_step, on the best value so far; pipetune takes the true median of the
    finished trials' values at the same step, on the latest value (README: differences). One
    outlier among the finished trials moves Katib's rule and not pipetune's."""
    completed = [[0.5, 0.5], [0.5, 0.5], [10.0, 10.0]]
    running = [1.0, 1.0]
    assert katib.median_stop([*completed, running], minimize=True, min_trials_required=3, start_step=2) == set()
    stop, _ = MedianStop(3, 2).decide([_curve(c) for c in completed], {3: _curve(running)}, minimize=True)
    assert stop == [3]


# -- job_util_test.go: conditions ------------------------------------------------------------------

SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'


def _job(failed: str = "False", complete: str = "True") -> dict[str, Any]:
    return {"metadata": {"name": "test-job"}, "status": {"succeeded": 1, "conditions": [
        {"type": "Failed", "status": failed, "reason": "test-reason", "message": "test-message"},
        {"type": "Complete", "status": complete, "reason": "test-reason", "message": "test-message"}]}}


@pytest.mark.parametrize(("job", "success", "expected"), [
    (_job("False", "False"), SUCCESS, "Running"),
    (_job(), SUCCESS, "Succeeded"),
    (_job("True", "False"), SUCCESS, "Failed"),
    (_job(), "status.[@this].#(succeeded==1)", "Succeeded"),
])
def test_job_status_from_conditions(job: dict[str, Any], success: str, expected: str) -> None:
    failed = compile_condition(FAILURE).holds(job)
    succeeded = compile_condition(success).holds(job)
    assert ("Failed" if failed else "Succeeded" if succeeded else "Running") == expected


def test_first_match_gjson_is_katibs() -> None:
    job = _job()
    assert compile_condition('status.conditions.#(type=="Complete")').holds(job)
    assert not compile_condition('status.conditions.#(type=="Suspended")').holds(job)
    assert compile_condition('status.conditions.#(type=="Complete")#|#(status=="True")').holds(job)
    assert not compile_condition("status.[@this].#(succeeded==2)").holds(job)


# -- validator_test.go: the metrics collector ------------------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "mc"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
        "algorithm": {"algorithmName": "random"},
        "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}}],
        "trialTemplate": {
            "trialParameters": [{"name": "lr", "reference": "lr"}],
            "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [
                {"name": "training-container", "image": "x", "command": ["python3", "t.py", "--lr=${trialParameters.lr}"]}
            ]}}}},
        },
    },
}


def _with(collector: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["spec"]["metricsCollectorSpec"] = collector
    return doc


@pytest.mark.parametrize(("collector", "field"), [
    ({"collector": {"kind": "invalid-kind"}}, "spec.metricsCollectorSpec.collector.kind"),
    ({"collector": {"kind": "File"}, "source": {"fileSystemPath": {"path": "not/absolute/path", "format": "TEXT"}}},
     "spec.metricsCollectorSpec.source.fileSystemPath"),
    ({"collector": {"kind": "TensorFlowEvent"}, "source": {"fileSystemPath": {"path": "not/absolute/path"}}},
     "spec.metricsCollectorSpec.source.fileSystemPath"),
    ({"collector": {"kind": "TensorFlowEvent"},
      "source": {"fileSystemPath": {"path": "/absolute/path", "format": "JSON", "kind": "Directory"}}},
     "spec.metricsCollectorSpec.source.fileSystemPath.format"),
    ({"collector": {"kind": "PrometheusMetric"}, "source": {"httpGet": {"port": "Port"}}},
     "spec.metricsCollectorSpec.source.httpGet.port"),
    ({"collector": {"kind": "PrometheusMetric"}, "source": {"httpGet": {"port": 8080, "path": "not/valid/path"}}},
     "spec.metricsCollectorSpec.source.httpGet.path"),
    ({"collector": {"kind": "Custom"}}, "spec.metricsCollectorSpec.collector.customCollector"),
    ({"collector": {"kind": "Custom", "customCollector": {"name": "c", "image": "i"}},
      "source": {"fileSystemPath": {"path": "not/absolute/path", "kind": "File"}}},
     "spec.metricsCollectorSpec.source.fileSystemPath"),
    ({"collector": {"kind": "File"}, "source": {"filter": {"metricsFormat": ["["]},
                                                 "fileSystemPath": {"path": "/absolute/path", "kind": "File"}}},
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]"),
    ({"collector": {"kind": "File"}, "source": {"filter": {"metricsFormat": ["{metricName: ([\\w|-]+)}"]},
                                                 "fileSystemPath": {"path": "/absolute/path", "kind": "File"}}},
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]"),
    ({"collector": {"kind": "File"},
      "source": {"fileSystemPath": {"path": "/absolute/path", "kind": "File", "format": "invalid"}}},
     "spec.metricsCollectorSpec.source.fileSystemPath.format"),
    ({"collector": {"kind": "File"}, "source": {"filter": {"metricsFormat": ["{metricName: ([\\w|-]+), (.*)}"]},
                                                 "fileSystemPath": {"path": "/m.json", "kind": "File", "format": "JSON"}}},
     "spec.metricsCollectorSpec.source.filter"),
    ({"collector": {"kind": "File"}, "source": {"filter": {},
                                                 "fileSystemPath": {"path": "/m.json", "kind": "File", "format": "JSON"}}},
     "spec.metricsCollectorSpec.source.filter"),
    ({"source": {"filter": {"metricsFormat": ["(?P<n>\\w+)=(?=\\d)(\\d+)"]}}},
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]"),
])
def test_the_webhooks_collector_refusals(collector: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        experiment_from_dict(_with(collector), "exp.yaml")
    assert str(caught.value).startswith(f"exp.yaml: {field}: "), str(caught.value)


def test_a_correct_file_collector_loads() -> None:
    experiment = experiment_from_dict(_with({
        "collector": {"kind": "File"},
        "source": {"filter": {"metricsFormat": [KATIB_FILTER]},
                   "fileSystemPath": {"path": "/absolute/path", "kind": "File", "format": "TEXT"}}}), "exp.yaml")
    assert experiment.metrics_collector.filters == (KATIB_FILTER,)
    tfevent = experiment_from_dict(_with({"collector": {"kind": "TensorFlowEvent"}}), "exp.yaml")
    assert (tfevent.metrics_collector.path, tfevent.metrics_collector.path_kind) == ("/var/log/katib/tfevent/", "Directory")
