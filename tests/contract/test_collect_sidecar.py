"""``pipetune collect``, the metrics collector sidecar, as a real process against a real folder.

A stand-in primary (``data/scripts/write_metrics.py``) writes one entry a step, each only
when the test lets it, so every check waits for something the collector has visibly done
(a line printed, the process ended), never for a fixed time. The collector's results are
compared with what the local engine's reader makes of the same file.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SCRIPTS
from pipetune.contract import (
    CHANNEL_LIMIT_BYTES,
    REPORT_PREFIX,
    LogMetrics,
    Results,
    follow_collector,
    others,
    parse_results,
    read_tfevents,
)

WRITER = SCRIPTS / "write_metrics.py"
NAMES = ("accuracy", "loss")


class Output:
    """A process's stdout lines as they come, read in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout

        def read() -> None:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[str]:
        """The lines once there are ``count`` of them; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for line {count}; got {self.lines}"
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"the output ended after {self.lines}"
            self.lines.append(line)
        return list(self.lines)

    def rest(self, timeout: float = 30.0) -> list[str]:
        """Every line, once the output has ended."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                return list(self.lines)
            self.lines.append(line)


def primary(path: Path, fmt: str = "TEXT", gate: Path | None = None, steps: int = 3) -> subprocess.Popen[str]:
    argv = [sys.executable, str(WRITER), "--format", fmt, "--path", str(path), "--steps", str(steps)]
    if gate is not None:
        gate.mkdir(exist_ok=True)
        argv += ["--gate", str(gate)]
    return subprocess.Popen(argv, text=True)


def collector(*args: str, term: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "pipetune", "collect", *args, "--interval", "0.05",
            "--termination-message-path", str(term)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def report(entry: dict[str, float]) -> str:
    return REPORT_PREFIX + json.dumps(entry)


def f32(value: float) -> float:
    """``value`` as an event file's ``simple_value`` (a float32) holds it."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def metric_args() -> list[str]:
    return [arg for name in NAMES for arg in ("--metric", name)]


def test_each_entry_is_printed_while_the_primary_runs_and_the_results_are_written_when_it_ends(
        tmp_path: Path) -> None:
    metrics = tmp_path / "katib" / "mnist.log"
    gate = tmp_path / "gate"
    writer = primary(metrics, gate=gate)
    term = tmp_path / "termination-log"
    sidecar = collector("--file", str(metrics), *metric_args(), "--pid", str(writer.pid), term=term)
    out = Output(sidecar)
    try:
        for step in (1, 2, 3):
            (gate / f"go-{step}").touch()
            lines = out.wait_for(step)
            assert lines[-1] == report({"accuracy": step / 10, "loss": round(1 - step / 10, 6)})
            assert sidecar.poll() is None and not term.exists()  # the primary still runs
        (gate / "stop").touch()
        assert writer.wait(30) == 0  # reaped here; until then it is a zombie, which has ended too
        assert sidecar.wait(30) == 0, sidecar.stderr.read() if sidecar.stderr else ""
    finally:
        for process in (writer, sidecar):
            if process.poll() is None:
                process.kill()
    assert out.rest() == lines
    results = parse_results(term.read_text())
    # The same results the local engine's reader makes of the same file.
    local = follow_collector(LogMetrics(names=NAMES, file=str(metrics)), str(metrics)).finish()
    assert local is not None and results == local
    assert results.metrics == {"accuracy": 0.3, "loss": 0.7}
    assert len(results.history) == 3


def test_a_json_file_and_a_custom_filter(tmp_path: Path) -> None:
    metrics = tmp_path / "m.json"
    writer = primary(metrics, "JSON")
    assert writer.wait(30) == 0
    term = tmp_path / "term"
    # The primary is gone already: the collector reads what is there and ends.
    sidecar = collector("--file", str(metrics), "--format", "JSON", *metric_args(), "--pid", str(writer.pid), term=term)
    out = Output(sidecar)
    assert sidecar.wait(30) == 0
    lines = out.rest()
    assert lines[0] == report({"accuracy": 0.1, "loss": 0.9})
    local = LogMetrics(names=NAMES, json=True).read_file(metrics)
    assert parse_results(term.read_text()) == local

    text = tmp_path / "custom.log"
    text.write_text("{metricName: accuracy, metricValue: 0.5}\n{metricName: accuracy, metricValue: 0.75}\n")
    expression = r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"
    sidecar = collector("--file", str(text), "--filter", expression, "--metric", "accuracy",
                        "--pid", str(writer.pid), term=tmp_path / "term2")
    assert sidecar.wait(30) == 0
    assert parse_results((tmp_path / "term2").read_text()).metrics == {"accuracy": 0.75}


def test_tensorflow_event_files_hold_back_the_newest_step_until_the_next(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    events = tmp_path / "logs"
    gate = tmp_path / "gate"
    writer = primary(events, "TFEVENT", gate=gate)
    term = tmp_path / "term"
    sidecar = collector("--tfevents", str(events), "--metric", "train/accuracy", "--metric", "loss",
                        "--pid", str(writer.pid), term=term)
    out = Output(sidecar)
    try:
        (gate / "go-1").touch()
        (gate / "go-2").touch()
        # Step 1 is printed once step 2 is there; step 2 waits for step 3 or the end.
        assert out.wait_for(1) == [report({"step": 1.0, "train/accuracy": f32(0.1), "loss": f32(0.9)})]
        assert len(out.lines) == 1
        (gate / "go-3").touch()
        assert out.wait_for(2)[-1] == report({"step": 2.0, "train/accuracy": f32(0.2), "loss": f32(0.8)})
        (gate / "stop").touch()
        assert writer.wait(30) == 0
        assert sidecar.wait(30) == 0
    finally:
        for process in (writer, sidecar):
            if process.poll() is None:
                process.kill()
    lines = out.rest()
    assert lines[-1] == report({"step": 3.0, "train/accuracy": f32(0.3), "loss": f32(0.7)})
    assert parse_results(term.read_text()) == read_tfevents(events, ("train/accuracy", "loss"))


def test_sigterm_ends_it_with_what_it_has_read(tmp_path: Path) -> None:
    metrics = tmp_path / "m.log"
    gate = tmp_path / "gate"
    writer = primary(metrics, gate=gate)
    term = tmp_path / "term"
    sidecar = collector("--file", str(metrics), *metric_args(), "--pid", str(writer.pid), term=term)
    out = Output(sidecar)
    try:
        (gate / "go-1").touch()
        out.wait_for(1)
        sidecar.send_signal(signal.SIGTERM)  # the pod is being deleted: the trial was stopped
        assert sidecar.wait(30) == 0
        assert writer.poll() is None  # the primary was not waited for
    finally:
        writer.kill()
        writer.wait(30)
        if sidecar.poll() is None:
            sidecar.kill()
    assert parse_results(term.read_text()).metrics == {"accuracy": 0.1, "loss": 0.9}


def test_a_history_too_long_for_the_termination_message_is_left_to_the_log(tmp_path: Path) -> None:
    metrics = tmp_path / "m.log"
    writer = primary(metrics, steps=300)
    assert writer.wait(30) == 0
    term = tmp_path / "term"
    sidecar = collector("--file", str(metrics), *metric_args(), "--pid", str(writer.pid), term=term)
    out = Output(sidecar)
    assert sidecar.wait(30) == 0
    lines = out.rest()
    message = term.read_text()
    assert len(message.encode()) < CHANNEL_LIMIT_BYTES
    local = LogMetrics(names=NAMES).read_file(metrics)
    assert local is not None and parse_results(message) == Results(metrics=local.metrics)
    # What the Kubernetes engine reads from the collector's log: the whole history.
    printed = LogMetrics(names=NAMES).read(lines)
    assert printed is not None and printed.history == local.history and len(lines) == 300


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_without_pids_it_waits_for_every_other_process_of_its_pid_namespace(tmp_path: Path) -> None:
    """As in a pod with ``shareProcessNamespace``: PID 1 (here a shell standing for the pause
    container), the primary and the collector in one PID namespace of their own."""
    metrics = tmp_path / "m.log"
    gate = tmp_path / "gate"
    gate.mkdir()
    for step in (1, 2, 3):
        (gate / f"go-{step}").touch()
    term = tmp_path / "term"
    script = (f"{sys.executable} {WRITER} --path {metrics} --gate {gate} & "
              f"{sys.executable} -m pipetune collect --file {metrics} --metric accuracy --interval 0.05 "
              f"--termination-message-path {term}; wait")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --pid refused here: {probe.stderr.decode().strip()}")
    pod = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = Output(pod)
    try:
        assert out.wait_for(3)[-1] == report({"accuracy": 0.3})
        assert pod.poll() is None and not term.exists()  # the primary waits for "stop": so does the collector
        (gate / "stop").touch()
        assert pod.wait(30) == 0, pod.stderr.read() if pod.stderr else ""
    finally:
        if pod.poll() is None:
            pod.kill()
    assert parse_results(term.read_text()).metrics == {"accuracy": 0.3}


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    for args, words in (
        ([], "expected --file PATH"),
        (["--file", "/x/m.log", "--filter", "(a"], "not a valid regular expression"),
        (["--file", "/x/m.log", "--filter", "(a)b"], "expected two groups"),
        (["--tfevents", "/x", "--filter", "(a)(b)"], "only with --file in TEXT format"),
    ):
        done = subprocess.run([sys.executable, "-m", "pipetune", "collect", *args], capture_output=True, text=True)
        assert done.returncode == 2, done
        assert done.stderr.count("\n") == 1 and words in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "pipetune", "collect"], capture_output=True, text=True)
    assert done.returncode == 2 and "expected --file PATH (a metrics file) or --tfevents DIR" in done.stderr
    done = subprocess.run([sys.executable, "-m", "pipetune", "collect", "--file", "a", "--tfevents", "b"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_no_metrics_and_an_unwritable_termination_message_are_said(tmp_path: Path) -> None:
    gone = primary(tmp_path / "m.log", steps=0)
    assert gone.wait(30) == 0
    done = subprocess.run([sys.executable, "-m", "pipetune", "collect", "--file", str(tmp_path / "none.log"),
                           "--pid", str(gone.pid), "--termination-message-path", str(tmp_path / "t")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"pipetune collect: no metrics in {tmp_path / 'none.log'}\n"
    assert not (tmp_path / "t").exists()  # the engine finds no results: MetricsUnavailable
    (tmp_path / "m.log").write_text("accuracy=0.5\n")
    (tmp_path / "ro").write_text("")
    done = subprocess.run([sys.executable, "-m", "pipetune", "collect", "--file", str(tmp_path / "m.log"),
                           "--pid", str(gone.pid), "--termination-message-path", str(tmp_path / "ro" / "t")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"pipetune: error: collect: could not write the results to {tmp_path / 'ro'}")


def test_the_processes_it_waits_for() -> None:
    # pid -> (parent, state): 1 is the pause container; 10 a shell that started the collector 11,
    # which has a child 12; 20 and its child 21 are the primary's; 30 has ended (a zombie).
    table = {1: (0, "S"), 10: (0, "S"), 11: (10, "R"), 12: (11, "S"), 20: (0, "S"), 21: (20, "R"), 30: (1, "Z")}
    assert others(table, 11) == {20, 21}
    assert others({1: (0, "S"), 11: (0, "R")}, 11) == set()
    assert others({1: (0, "S"), 11: (1, "R"), 20: (1, "S")}, 11) == {20}
