"""The local engine: process groups, captured logs, timeouts, cancellation, judged results."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import script_component
from pipetune.components import load_component
from pipetune.engines.base import Phase, Reason, RunRequest
from pipetune.engines.local import LocalEngine, LocalRun


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def submit(tmp_path: Path, write_component: Callable[[str], Path]) -> Callable[..., tuple[LocalEngine, LocalRun]]:
    def go(args: str, timeout: float | None = None, outputs: str = "[]", **arguments: object):
        spec = load_component(write_component(script_component(args, outputs=outputs)))
        engine = LocalEngine(grace=1.0)
        request = RunRequest(
            run_id="r1",
            component=spec,
            arguments=arguments,
            outputs_dir=tmp_path / "run" / "outputs",
            timeout=timeout,
            echo=False,
        )
        return engine, engine.submit(request)

    return go


def test_success_collects_results_and_captures_logs(submit, tmp_path: Path) -> None:
    engine, run = submit(
        "[--print, hello, --stderr, careful, --results, '{apiVersion: pipetune.dev/v1, metrics: {acc: 0.5}}']"
    )
    status = engine.wait(run)
    assert status.phase is Phase.SUCCEEDED and status.exit_code == 0
    assert status.duration is not None and status.duration >= 0
    assert engine.results(run).metrics == {"acc": 0.5}
    logs = tmp_path / "run" / "logs"
    assert (logs / "stdout.log").read_text() == "hello\n"
    assert (logs / "stderr.log").read_text() == "careful\n"


def test_outputs_dir_reaches_the_component(submit, tmp_path: Path) -> None:
    engine, run = submit("[--report, '3']")
    assert engine.wait(run).phase is Phase.SUCCEEDED
    results = engine.results(run)
    assert results.history == [{"step": s, "score": s / 10} for s in (1, 2, 3)]
    assert (tmp_path / "run" / "outputs" / "results.yaml").exists()


def test_non_zero_exit_fails_with_the_last_stderr_line(submit) -> None:
    engine, run = submit("[--stderr, 'CUDA out of memory', --exit, '3']")
    status = engine.wait(run)
    assert (status.phase, status.reason, status.exit_code) == (Phase.FAILED, Reason.EXIT_CODE, 3)
    assert status.message == "exited with code 3: CUDA out of memory"


def test_invalid_results_fail_a_successful_process(submit) -> None:
    engine, run = submit("[--results, '{apiVersion: pipetune.dev/v1, metrics: {acc: .nan}}']")
    status = engine.wait(run)
    assert (status.phase, status.reason) == (Phase.FAILED, Reason.RESULTS_INVALID)
    assert "metrics.acc: expected a finite number" in status.message


def test_missing_command_fails_without_starting(tmp_path: Path, write_component) -> None:
    spec = load_component(write_component(
        "name: x\nimplementation:\n  container:\n    image: acme/trainer:1\n    command: [no-such-trainer-xyz, --go]\n"
    ))
    engine = LocalEngine()
    run = engine.submit(RunRequest("r", spec, {}, tmp_path / "out", echo=False))
    status = engine.poll(run)
    assert (status.phase, status.reason) == (Phase.FAILED, Reason.COMMAND_NOT_FOUND)
    assert "'no-such-trainer-xyz' of image 'acme/trainer:1' is not found" in status.message


def test_katib_stdout_metrics_are_read_when_no_results_file(submit) -> None:
    engine, run = submit("[--print, 'accuracy=0.9', --print, 'loss=0.1']")
    assert engine.wait(run).phase is Phase.SUCCEEDED
    assert engine.results(run).metrics == {"accuracy": 0.9, "loss": 0.1}


def test_parameter_outputs_written_to_output_paths_are_results(submit, tmp_path: Path) -> None:
    out = tmp_path / "run" / "outputs"
    engine, run = submit(
        f"[--write, '{out}/score=0.75']", outputs="[{name: score, type: Float}]"
    )
    assert engine.wait(run).phase is Phase.SUCCEEDED
    assert engine.results(run).outputs == {"score": 0.75}


def test_timeout_stops_the_whole_process_group(submit, tmp_path: Path) -> None:
    engine, run = submit("[--spawn-sleeper, --sleep, '60']", timeout=1.0)
    status = engine.wait(run)
    assert (status.phase, status.reason) == (Phase.FAILED, Reason.TIMEOUT)
    assert status.duration < 10
    child = int((tmp_path / "run" / "outputs" / "child.pid").read_text())
    assert _wait_dead(child), "the run's grandchild outlived the timeout"


def test_cancel_ends_the_whole_process_group(submit, tmp_path: Path) -> None:
    engine, run = submit("[--spawn-sleeper, --sleep, '60']")
    started = tmp_path / "run" / "outputs" / "started"
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.cancel(run)
    status = engine.poll(run)
    assert (status.phase, status.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    child = int((tmp_path / "run" / "outputs" / "child.pid").read_text())
    assert _wait_dead(child), "the run's grandchild outlived the cancellation"


def test_a_finished_run_leaves_no_background_process(submit, tmp_path: Path) -> None:
    engine, run = submit("[--spawn-sleeper]")
    assert engine.wait(run).phase is Phase.SUCCEEDED
    child = int((tmp_path / "run" / "outputs" / "child.pid").read_text())
    assert _wait_dead(child)
