"""Katib's own example Experiments run here, each with a stand-in for its image, give Katib's
answers: each trial's metrics and status, and the experiment's verdict.

The stand-ins (``standins/``) print what Katib's trial images print, where they print it
(stderr logging, a metrics file, hypertune JSON, TensorFlow event files), as pure functions of
their arguments; ``katib_model`` holds Katib's collection, observation and median-stop rules,
re-written from Katib's source. Each example runs through ``pipetune tune`` as a user runs it,
with ``--local-command`` putting the stand-in where the image's script was (the template's
arguments unchanged); only the budget is made small (``maxTrialCount``, and one trial at a
time for early stopping, where Katib's verdict depends on which trials finished first). The
fixtures live in ../shared; without it the module skips.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml

from pipetune.contract import read_results
from pipetune.store import RunStore

from . import katib_model as katib

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = SHARED / "fixtures" / "katib-v1beta1"
STANDINS = Path(__file__).resolve().parent / "standins"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="no ../shared/fixtures/katib-v1beta1 here")


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"standin_{name}", STANDINS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MNIST = _module("pytorch_mnist")
#: A fixed, non-decreasing time for the lines the oracle reads (only their order matters).
STAMP = "2026-01-01T00:00:00Z"


# -- running an example ----------------------------------------------------------------------------


def _primary(trial_spec: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The container whose command runs the image's script (in any pod template; a
    TrainJob's ``spec.trainer``)."""
    stack: list[Any] = [trial_spec]
    found = []
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if "image" in node and "command" in node:
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    for container in found:
        if name is None or container.get("name") in (name, None):
            return container
    raise AssertionError(f"no container {name!r}")


def run_example(cli, tmp_path: Path, name: str, standin: str, max_trials: int, parallel: int | None = None,
                extra: tuple[str, ...] = ()) -> tuple[Any, dict[str, Any], list[dict[str, Any]], Any]:
    """``pipetune tune`` the example with its budget made small and the stand-in in place of
    the image's script: the process, the document run, the trial rows, the tuner's results."""
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    spec = data["spec"]
    spec["maxTrialCount"] = max_trials
    spec["parallelTrialCount"] = min(parallel or spec.get("parallelTrialCount", 3), max_trials)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    template = spec["trialTemplate"]
    container = _primary(template["trialSpec"], template.get("primaryContainerName"))
    argv = [*container.get("command", []), *container.get("args", [])]
    local = shlex.join(["python3", str(STANDINS / f"{standin}.py"), *extra, *argv[2:]])
    directory = tmp_path / "experiment"
    process = cli("tune", str(path), "--dir", str(directory), "--local-command", local, "--seed", "7", "-q",
                  timeout=240)
    assert (directory / "trials.json").exists(), process.stdout + process.stderr
    rows = json.loads((directory / "trials.json").read_text())
    return process, data, rows, read_results(directory)


def trial_args(state_dir: Path, row: dict[str, Any]) -> Any:
    """The arguments the stand-in of a trial was given (it records them in its outputs)."""
    outputs = RunStore(state_dir).run_dir(row["run_id"]) / "outputs"
    return MNIST.argparse.Namespace(**json.loads((outputs / "standin-args.json").read_text()))


def objective_of(data: dict[str, Any]) -> tuple[str, list[str], str, bool, float | None]:
    """The objective metric, all metric names, its strategy (Katib's default filled in),
    whether it is minimised, and the goal."""
    objective = data["spec"]["objective"]
    metric = objective["objectiveMetricName"]
    minimize = objective["type"] == "minimize"
    strategies = {s["name"]: s["value"] for s in objective.get("metricStrategies") or []}
    names = [metric, *objective.get("additionalMetricNames", [])]
    return metric, names, strategies.get(metric, "min" if minimize else "max"), minimize, objective.get("goal")


def verdict(values: list[float | None], minimize: bool, goal: float | None, failed: int,
            max_failed: int | None) -> tuple[str, str]:
    """Katib's verdict once every trial has ended (goal, failures, then the budget)."""
    found = [v for v in values if v is not None]
    if goal is not None and found and ((min(found) <= goal) if minimize else (max(found) >= goal)):
        return "Succeeded", "ExperimentGoalReached"
    if katib.experiment_failed(failed, max_failed):
        return "Failed", "ExperimentMaxFailedTrialsReached"
    return "Succeeded", "ExperimentMaxTrialsReached"


def check(process: Any, data: dict[str, Any], rows: list[dict[str, Any]], results: Any,
          expected: list[float | None], latest: list[float | None], statuses: list[str]) -> None:
    """The trials and the verdict are Katib's."""
    metric, _, _, minimize, goal = objective_of(data)
    assert [row["status"] for row in rows] == statuses, rows
    for row, value, last in zip(rows, expected, latest):
        assert row["objective"] == pytest.approx(value), row
        if row["status"] == "Succeeded":
            assert row["metrics"][metric] == pytest.approx(last), row
    failed = sum(status in ("Failed", "MetricsUnavailable") for status in statuses)
    status, reason = verdict(expected, minimize, goal, failed, data["spec"].get("maxFailedTrialCount"))
    assert (results.outputs["status"], results.outputs["reason"]) == (status, reason), process.stdout
    assert process.returncode == (0 if status == "Succeeded" else 1), process.stdout + process.stderr


# -- what Katib reads from the pytorch-mnist image ------------------------------------------------


def logged_lines(args: Any) -> list[str]:
    """The lines the image's logging writes (stderr, or its --log-path file)."""
    lines = []
    for message in MNIST.messages(args):
        lines += f"{STAMP} INFO     {message}".split("\n")
    return lines


def hypertune_lines(args: Any) -> list[str]:
    return [json.dumps({"timestamp": float(i), "trial": "0", tag: str(value), "global_step": str(step)})
            for i, (tag, value, step) in enumerate(MNIST.hypertune_reports(args))]


def katib_reads(data: dict[str, Any], args: Any) -> list[katib.MetricLog]:
    """What Katib's collector of the experiment collects from a pytorch-mnist trial."""
    _, names, _, _, _ = objective_of(data)
    collector = data["spec"].get("metricsCollectorSpec") or {}
    source = collector.get("source") or {}
    filters = (source.get("filter") or {}).get("metricsFormat") or []
    if (source.get("fileSystemPath") or {}).get("format") == "JSON":
        return katib.collect_json(hypertune_lines(args), names)
    return katib.collect_text(logged_lines(args), names, filters)


def expected_trials(cli_state: Path, data: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[list, list]:
    metric, names, strategy, _, _ = objective_of(data)
    values, latest = [], []
    for row in rows:
        logs = katib_reads(data, trial_args(cli_state, row))
        observed = katib.observation(logs, names)
        values.append(katib.objective_value(observed, metric, strategy))
        latest.append(katib.objective_value(observed, metric, "latest"))
    return values, latest


#: Examples whose image is pytorch-mnist, with a collector Katib reads from its output: the
#: merged stdout and stderr (StdOut), the log file (File TEXT) or hypertune's JSON (File JSON).
PYTORCH_MNIST = [
    "hp-tuning__random",
    "hp-tuning__grid",
    "hp-tuning__tpe",
    "hp-tuning__hyperopt-distribution",
    "hp-tuning__optuna-distribution",
    "metrics-collector__metrics-collection-strategy",
    "metrics-collector__file-metrics-collector",
    "metrics-collector__file-metrics-collector-with-json-format",
    "resume-experiment__from-volume-resume",
    "resume-experiment__long-running-resume",
    "trial-template__trial-metadata-substitution",
    "kubeflow-training-operator__pytorchjob-mnist",
    "kubeflow-trainer__trainjob-pytorch",
    "hp-tuning__bayesian-optimization",
    "hp-tuning__cma-es",
    "hp-tuning__multivariate-tpe",
    "hp-tuning__sobol",
    "hp-tuning__hyperband",
]


@pytest.mark.parametrize("name", PYTORCH_MNIST)
def test_a_pytorch_mnist_example_gives_katibs_metrics_and_verdict(cli, state_dir: Path, tmp_path: Path,
                                                                  name: str) -> None:
    process, data, rows, results = run_example(cli, tmp_path, name, "pytorch_mnist", max_trials=2)
    assert len(rows) == 2
    expected, latest = expected_trials(state_dir, data, rows)
    assert all(value is not None for value in expected), "the stand-in reports the objective"
    check(process, data, rows, results, expected, latest, ["Succeeded"] * len(rows))


@pytest.mark.parametrize(("name", "bad_above"), [
    ("early-stopping__median-stop", 0.03),
    ("early-stopping__median-stop-with-json-format", 0.25),
])
def test_median_stop_stops_what_katib_stops(cli, state_dir: Path, tmp_path: Path, name: str,
                                            bad_above: float) -> None:
    """Trials with ``lr`` above ``bad_above`` do worse at every step and then keep running;
    the others report one curve. Run one at a time, Katib stops every bad trial that starts
    after a good one has succeeded, and nothing else."""
    process, data, rows, results = run_example(
        cli, tmp_path, name, "pytorch_mnist", max_trials=5, parallel=1,
        extra=(f"--standin-bad-above={bad_above}", "--standin-linger=60"),
    )
    metric, names, strategy, minimize, _ = objective_of(data)
    settings = {s["name"]: int(s["value"]) for s in data["spec"]["earlyStopping"]["algorithmSettings"]}
    logs = [katib_reads(data, trial_args(state_dir, row)) for row in rows]
    stopped = katib.median_stop([katib.values_in_order(log, metric) for log in logs], minimize, **settings)
    bad = [i for i, row in enumerate(rows) if row["parameters"]["lr"] > bad_above]
    assert stopped, f"the seed gives no bad trial after a good one: {rows}"  # the test would prove nothing
    statuses = ["EarlyStopped" if i in stopped else "Succeeded" for i in range(len(rows))]
    expected = [katib.objective_value(katib.observation(log, names), metric, strategy) for log in logs]
    latest = [katib.objective_value(katib.observation(log, names), metric, "latest") for log in logs]
    assert set(bad) >= stopped
    check(process, data, rows, results, expected, latest, statuses)


def test_tfjob_with_summaries_reads_the_test_event_files(cli, state_dir: Path, tmp_path: Path) -> None:
    """The TensorFlowEvent collector reads ``accuracy`` from the event files under the
    collector's folder (``.../test``), not the ``accuracy=96.55`` (a percentage, of training)
    the image prints on stdout: Katib's goal 0.99 is not reached."""
    tf_standin = _module("tf_mnist_with_summaries")
    name = "kubeflow-training-operator__tfjob-mnist-with-summaries"
    process, data, rows, results = run_example(cli, tmp_path, name, "tf_mnist_with_summaries", max_trials=2)
    expected = []
    for row in rows:
        args = row["parameters"]
        epochs = 1  # the template's --epochs=1
        tests = [float(np.float32(tf_standin.accuracies(args["learning_rate"], args["batch_size"], e)[1]))
                 for e in range(epochs)]
        expected.append(max(tests))
    check(process, data, rows, results, expected, expected, ["Succeeded"] * len(rows))
    assert all(row["objective"] < 0.99 for row in rows)


def test_simple_pbt_reads_validation_accuracy_from_stdout(cli, tmp_path: Path) -> None:
    pbt = _module("simple_pbt")
    process, data, rows, results = run_example(cli, tmp_path, "hp-tuning__simple-pbt", "simple_pbt", max_trials=2)
    expected = [max(float(f"{pbt.accuracy(row['parameters']['lr'], e):0.4f}") for e in range(20)) for row in rows]
    latest = [float(f"{pbt.accuracy(row['parameters']['lr'], 19):0.4f}") for row in rows]
    check(process, data, rows, results, expected, latest, ["Succeeded"] * len(rows))


@pytest.mark.parametrize("name", [
    "argo__argo-workflow", "tekton__pipeline-run", "kubeflow-training-operator__mpijob-horovod",
    "kubeflow-training-operator__xgboostjob-lightgbm",
])
def test_a_kind_with_no_local_equivalent_is_refused_before_any_trial(cli, tmp_path: Path, name: str) -> None:
    process = cli("tune", str(FIXTURES / f"{name}.yaml"), "--dir", str(tmp_path / "e"), "-q")
    assert process.returncode == 2, process.stdout + process.stderr
    assert "--engine kubernetes" in process.stderr and "Traceback" not in process.stderr
    assert not (tmp_path / "e" / "trials.json").exists()


def test_the_image_script_missing_is_refused_before_any_trial(cli, tmp_path: Path) -> None:
    """Run as it is, the example's image script is not here: one refusal naming the image,
    the script and the way to run it (``--local-command``), exit 2, no trial run."""
    process = cli("tune", str(FIXTURES / "hp-tuning__random.yaml"), "--dir", str(tmp_path / "e"), "-q")
    assert process.returncode == 2, process.stdout + process.stderr
    message = process.stderr.strip().splitlines()[-1]
    for words in ("ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest", "/opt/pytorch-mnist/mnist.py", "--local-command"):
        assert words in message, message
    assert not (tmp_path / "e" / "trials.json").exists()


def test_max_failed_trial_count_is_reached_not_passed(cli, tmp_path: Path) -> None:
    """Every trial fails: Katib fails the experiment when the failures reach
    maxFailedTrialCount (3 in the example), so the fourth trial never starts."""
    data = yaml.safe_load((FIXTURES / "hp-tuning__random.yaml").read_text())
    data["spec"]["parallelTrialCount"] = 1
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(data))
    failing = shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"])
    process = cli("tune", str(path), "--dir", str(tmp_path / "e"), "--local-command", failing, "-q")
    rows = json.loads((tmp_path / "e" / "trials.json").read_text())
    assert [row["status"] for row in rows] == ["Failed"] * 3
    assert process.returncode == 1
    assert read_results(tmp_path / "e").outputs["reason"] == "ExperimentMaxFailedTrialsReached"
