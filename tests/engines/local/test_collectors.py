"""Katib's collectors on the local engine: where a trial's metrics are read from, while it
runs (``intermediate``, for early stopping) and once it has ended, on every trial kind."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import LogMetrics
from pipetune.engines.base import Phase, RunRequest
from pipetune.engines.local import LocalEngine
from pipetune.experiment import experiment_from_dict
from pipetune.tuner.launchers import ExperimentLauncher


def _request(tmp_path: Path, script: str, log_metrics: LogMetrics, name: str = "r1") -> RunRequest:
    program = tmp_path / f"{name}.py"
    program.write_text(textwrap.dedent(script))
    component = ComponentSpec(name=name, container=ContainerSpec(image="python", command=("python", str(program))))
    return RunRequest(run_id=name, component=component, arguments={}, outputs_dir=tmp_path / name / "outputs",
                      echo=False, log_metrics=log_metrics)


def _until(condition: Any, engine: LocalEngine, run: Any, seconds: float = 30.0) -> Any:
    """Poll until ``condition()`` holds (a generous deadline: the run waits for a gate)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine.poll(run)
        found = condition()
        if found:
            return found
        engine.wait_any(0.02)
    pytest.fail("the condition never held")


GATED = """
    import os, sys, time
    {body}
    deadline = time.monotonic() + 60
    while not os.path.exists({gate!r}) and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.mark.parametrize("echo", [False, True])
def test_a_katib_stdout_trial_reads_stdout_and_stderr_merged_in_order(tmp_path: Path, echo: bool) -> None:
    """Katib's StdOut collector reads the container's output as ``1>file 2>&1``: metrics
    logged to stderr count, in the order written."""
    script = """
        import sys
        for i in range(1, 6):
            stream = sys.stderr if i % 2 else sys.stdout
            print(f"loss={1 / i}", file=stream, flush=True)
    """
    request = _request(tmp_path, script, LogMetrics(names=("loss",), merged=True))
    request = RunRequest(**{**request.__dict__, "echo": echo})
    engine = LocalEngine()
    run = engine.submit(request)
    assert engine.wait(run, 30).phase is Phase.SUCCEEDED
    results = engine.results(run)
    assert [entry["loss"] for entry in results.history] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    log = (tmp_path / "r1" / "logs" / "stdout.log").read_text()
    assert log.splitlines() == [f"loss={1 / i}" for i in range(1, 6)]


def test_a_plain_run_keeps_stdout_and_stderr_apart(tmp_path: Path) -> None:
    request = _request(tmp_path, "import sys\nprint('loss=1')\nprint('loss=2', file=sys.stderr)\n",
                       LogMetrics(names=("loss",)))
    engine = LocalEngine()
    run = engine.submit(request)
    assert engine.wait(run, 30).phase is Phase.SUCCEEDED
    assert engine.results(run).metrics == {"loss": 1.0}
    assert (tmp_path / "r1" / "logs" / "stderr.log").read_text() == "loss=2\n"


def test_a_failed_merged_run_names_its_last_line(tmp_path: Path) -> None:
    request = _request(tmp_path, "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n",
                       LogMetrics(merged=True))
    engine = LocalEngine()
    run = engine.submit(request)
    status = engine.wait(run, 30)
    assert status.phase is Phase.FAILED and status.message == "exited with code 3: boom"


@pytest.mark.parametrize("kind", ["stdout", "file", "json", "tfevents"])
def test_intermediate_values_come_from_the_collectors_source_while_it_runs(tmp_path: Path, kind: str) -> None:
    """A running trial's curve, for early stopping, from wherever its collector reads."""
    gate = tmp_path / "gate"
    metrics_file = tmp_path / "r1" / "outputs" / "metrics.log"
    if kind == "stdout":
        body = "for i in range(3): print(f'step={i + 1} loss={1 / (i + 1)}', file=sys.stderr, flush=True)"
        spec = LogMetrics(names=("loss",), merged=True)
    elif kind == "file":
        body = (f"f = open({str(metrics_file)!r}, 'w')\n    "
                "for i in range(3): f.write(f'loss={1 / (i + 1)}\\n'); f.flush()")
        spec = LogMetrics(names=("loss",), file=str(metrics_file))
    elif kind == "json":
        body = (f"f = open({str(metrics_file)!r}, 'w')\n    "
                "for i in range(3): f.write('{\"loss\": \"%s\"}\\n' % (1 / (i + 1))); f.flush()")
        spec = LogMetrics(names=("loss",), file=str(metrics_file), json=True)
    else:
        events = tmp_path / "r1" / "outputs" / "events"
        body = textwrap.indent(textwrap.dedent(f"""
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
            writer = EventFileWriter({str(events)!r})
            for i in range(3):
                value = summary_pb2.Summary.Value(tag="loss", simple_value=1 / (i + 1))
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=i + 1,
                                                 summary=summary_pb2.Summary(value=[value])))
            writer.flush()
        """), "    ").strip()
        spec = LogMetrics(names=("loss",), tfevents=str(events))
    metrics_file.parent.mkdir(parents=True)
    engine = LocalEngine(grace=1.0)
    run = engine.submit(_request(tmp_path, GATED.format(body=body, gate=str(gate)), spec))
    try:
        history = _until(lambda: len(engine.intermediate(run)) == 3 and engine.intermediate(run), engine, run)
        assert [entry["loss"] for entry in history] == pytest.approx([1.0, 0.5, 1 / 3])
        assert engine.poll(run).phase is Phase.RUNNING
    finally:
        gate.touch()
    assert engine.wait(run, 30).phase is Phase.SUCCEEDED
    assert engine.results(run).metrics == pytest.approx({"loss": 1 / 3})


def test_intermediate_reads_results_yaml_again_only_when_it_changed(tmp_path: Path, monkeypatch) -> None:
    import pipetune.contract._results as results_module

    gate = tmp_path / "gate"
    body = "from pipetune import report\n    for i in range(3): report(step=i + 1, loss=1 / (i + 1))"
    engine = LocalEngine(grace=1.0)
    run = engine.submit(_request(tmp_path, GATED.format(body=body, gate=str(gate)), LogMetrics(names=("loss",))))
    reads = []
    real = results_module.load_yaml_file
    monkeypatch.setattr(results_module, "load_yaml_file", lambda *a, **k: reads.append(a) or real(*a, **k))
    try:
        _until(lambda: len(engine.intermediate(run)) == 3, engine, run)
        before = len(reads)
        for _ in range(50):
            assert [e["loss"] for e in engine.intermediate(run)] == [1.0, 0.5, 1 / 3]
        assert len(reads) == before  # unchanged: not read again
    finally:
        gate.touch()
    assert engine.wait(run, 30).phase is Phase.SUCCEEDED


def _tfjob_experiment(collector: dict[str, Any], command: list[str], kind: str = "TFJob") -> Any:
    specs = "tfReplicaSpecs" if kind == "TFJob" else "pytorchReplicaSpecs"
    role = "Worker" if kind == "TFJob" else "Master"
    container = "tensorflow" if kind == "TFJob" else "pytorch"
    return experiment_from_dict({
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "job"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "metricsCollectorSpec": collector,
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.2"}}],
            "trialTemplate": {
                "primaryContainerName": container,
                "trialParameters": [{"name": "lr", "reference": "lr"}],
                "trialSpec": {"apiVersion": "kubeflow.org/v1", "kind": kind, "spec": {specs: {role: {
                    "replicas": 1, "restartPolicy": "OnFailure",
                    "template": {"spec": {"containers": [{"name": container, "image": "me/train:1", "command": command}]}},
                }}}},
            },
        },
    }, "job.yaml")


def _run_trial(experiment: Any, tmp_path: Path) -> Any:
    outputs = tmp_path / "run" / "outputs"
    prepared = ExperimentLauncher(experiment).prepare(0, {"lr": 0.15}, outputs)
    engine = LocalEngine(grace=1.0)
    run = engine.submit(RunRequest(run_id="t0", component=prepared.component, arguments={}, outputs_dir=outputs,
                                   echo=False, log_metrics=prepared.log_metrics, resource=prepared.resource))
    status = engine.wait(run, 60)
    return status, engine.results(run), prepared


@pytest.mark.parametrize("kind", ["TFJob", "PyTorchJob"])
def test_a_training_job_honours_the_file_collector(tmp_path: Path, kind: str) -> None:
    """The file path is moved into the primary replica's outputs and read from there; what
    the program prints on stdout is not read."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import argparse, os
        parser = argparse.ArgumentParser()
        parser.add_argument("--log-path")
        args, _ = parser.parse_known_args()
        print("accuracy=99.5")  # a percentage on stdout: not what the collector reads
        os.makedirs(os.path.dirname(args.log_path), exist_ok=True)
        with open(args.log_path, "w") as f:
            f.write("{metricName: accuracy, metricValue: 0.75}\\n")
    """))
    experiment = _tfjob_experiment(
        {"collector": {"kind": "File"},
         "source": {"fileSystemPath": {"path": "/katib/m.log", "kind": "File"},
                    "filter": {"metricsFormat": ["{metricName: ([\\w|-]+), metricValue: ((-?\\d+)(\\.\\d+)?)}"]}}},
        [sys.executable, str(script), "--log-path=/katib/m.log", "--lr=${trialParameters.lr}"], kind,
    )
    status, results, prepared = _run_trial(experiment, tmp_path)
    assert status.phase is Phase.SUCCEEDED, status
    assert results.metrics == {"accuracy": 0.75}
    assert prepared.log_metrics.file == str(tmp_path / "run" / "outputs" / "m.log")


def test_a_tfjob_reads_tensorflow_event_files_under_the_collectors_folder(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import argparse, os, time
        import numpy as np
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        parser = argparse.ArgumentParser()
        parser.add_argument("--log-path")
        args, _ = parser.parse_known_args()
        print("accuracy=96.55")
        for folder, values in (("train", [0.9, 0.97]), ("test", [0.6, 0.8])):
            writer = EventFileWriter(os.path.join(args.log_path, folder))
            for step, value in enumerate(values):
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="accuracy", simple_value=value)])
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
            writer.close()
    """))
    experiment = _tfjob_experiment(
        {"collector": {"kind": "TensorFlowEvent"},
         "source": {"fileSystemPath": {"path": "/logs/summaries/test", "kind": "Directory"}}},
        [sys.executable, str(script), "--log-path=/logs/summaries", "--lr=${trialParameters.lr}"],
    )
    status, results, prepared = _run_trial(experiment, tmp_path)
    assert status.phase is Phase.SUCCEEDED, status
    assert results.metrics == pytest.approx({"accuracy": 0.8})
    assert [e["accuracy"] for e in results.history] == pytest.approx([0.6, 0.8])
    assert prepared.log_metrics.tfevents == str(tmp_path / "run" / "outputs" / "summaries" / "test")


def test_a_collector_a_local_run_cannot_read_is_refused_for_a_training_job(tmp_path: Path) -> None:
    from pipetune.errors import SpecError

    experiment = _tfjob_experiment({"collector": {"kind": "PrometheusMetric"}}, ["python", "t.py", "${trialParameters.lr}"])
    with pytest.raises(SpecError, match="PrometheusMetric is not supported for local runs"):
        ExperimentLauncher(experiment).prepare(0, {"lr": 0.15}, tmp_path)
