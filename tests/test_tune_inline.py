"""pipetune.tune with one trial at a time: the function runs on the calling thread (no hand-off
to a worker and back), and everything a trial in a worker thread has still holds: the trial
handle, a Ctrl-C that interrupts the tuner and leaves the trial to a resume, a KeyboardInterrupt
the function raises failing its trial, results flushed within the journal's window while a
trial runs, the run visible as Running in the run store, and one row write for its start."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipetune
from pipetune.store import RunStore
from pipetune.tuner.journal import JOURNAL_FILE, Journal

SPACE = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]


def _records(directory: Path, op: str) -> list[dict[str, Any]]:
    lines = (directory / JOURNAL_FILE).read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["op"] == op]


def test_one_trial_at_a_time_runs_on_the_calling_thread(tmp_path: Path) -> None:
    threads: list[threading.Thread] = []

    def objective(params: dict[str, float]) -> float:
        threads.append(threading.current_thread())
        return params["x"]

    pipetune.tune(objective, SPACE, max_trials=3, algorithm="random", state_dir=tmp_path / "s")
    assert threads == [threading.current_thread()] * 3


@pytest.mark.parametrize("options", [{"parallel": 2}, {"trial_timeout": 60.0},
                                     {"early_stopping": {"min_trials_required": "3"}}])
def test_trials_that_may_be_stopped_from_outside_run_in_worker_threads(tmp_path: Path, options: dict) -> None:
    threads: list[threading.Thread] = []

    def objective(params: dict[str, float]) -> float:
        threads.append(threading.current_thread())
        return params["x"]

    pipetune.tune(objective, SPACE, max_trials=4, algorithm="random", state_dir=tmp_path / "s", **options)
    assert len(threads) == 4 and threading.current_thread() not in threads


def test_an_inline_trial_reports_and_has_its_handle(tmp_path: Path) -> None:
    def objective(params: dict[str, float], trial: Any) -> None:
        assert not trial.should_stop()
        for step in (1, 2):
            trial.report(step, loss=params["x"] * step)
        pipetune.report(step=3, loss=params["x"])
        assert trial.checkpoint_dir == tmp_path / "e" / "checkpoints" / f"trial-{trial.index:04d}"

    result = pipetune.tune(objective, SPACE, metric="loss", minimize=True, max_trials=2, algorithm="random",
                           state_dir=tmp_path / "s", directory=tmp_path / "e")
    store = RunStore(tmp_path / "s")
    for trial in result.trials:
        assert trial.objective == pytest.approx(trial.assignment["x"])
        saved = yaml.safe_load((store.run_dir(trial.run_id) / "outputs" / "results.yaml").read_text())
        assert [entry["step"] for entry in saved["history"]] == [1, 2, 3]


def test_a_ctrl_c_during_an_inline_trial_interrupts_and_the_resume_runs_it_again(tmp_path: Path) -> None:
    calls: list[int] = []

    def objective(params: dict[str, float], trial: Any) -> float:
        calls.append(trial.index)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, while the function runs
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.01)
            raise AssertionError("no KeyboardInterrupt within 30 s of SIGINT")
        return params["x"]

    with pytest.raises(KeyboardInterrupt):
        pipetune.tune(objective, SPACE, max_trials=5, algorithm="random", state_dir=tmp_path / "s",
                      directory=tmp_path / "e")
    # Not the trial's failure: it is not recorded, and the handler is the default again.
    assert [r["trial"] for r in _records(tmp_path / "e", "trial_finished")] == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    store = RunStore(tmp_path / "s")
    interrupted = store.find(_records(tmp_path / "e", "trial_started")[-1]["run_id"])
    assert interrupted is not None and interrupted.status == "Cancelled"

    result = pipetune.tune(objective, SPACE, max_trials=5, algorithm="random", state_dir=tmp_path / "s",
                           directory=tmp_path / "e")
    assert [t.status.value for t in result.trials] == ["Succeeded"] * 5
    assert calls == [0, 1, 2, 2, 3, 4]


def test_a_result_is_flushed_within_the_window_while_an_inline_trial_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop can't turn while the function runs on its thread; the journal's flusher does
    what its turn would have done (a power loss takes at most the window's results)."""
    monkeypatch.setattr(Journal, "SYNC_WINDOW", 0.05)
    path = tmp_path / "e" / JOURNAL_FILE
    flushed: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        real(fd)
        flushed.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    seen: list[bool] = []

    def objective(params: dict[str, float], trial: Any) -> float:
        if trial.index == 1:
            # Trial 0's result was appended before this trial started; wait for its flush.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not flushed:
                time.sleep(0.01)
            kept = path.read_bytes()[: flushed[-1]] if flushed else b""
            seen.append(b'"op":"trial_finished","trial":0' in kept)
        return params["x"]

    pipetune.tune(objective, SPACE, max_trials=2, algorithm="random", state_dir=tmp_path / "s",
                  directory=tmp_path / "e")
    assert seen == [True]


def test_a_running_inline_trial_is_running_in_the_store_with_one_write_for_its_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real_connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)
    seen: list[tuple[str, str]] = []

    def objective(params: dict[str, float], trial: Any) -> float:
        children = RunStore(tmp_path / "s").list(parent_id=result_id[0]) if result_id else []
        seen.extend((r.status, r.engine) for r in children if r.parameters == trial.parameters)
        return params["x"]

    result_id: list[str] = []
    from pipetune.tuner.loop import experiment_run_id

    result_id.append(experiment_run_id("objective", tmp_path / "e"))
    result = pipetune.tune(objective, SPACE, max_trials=3, algorithm="random", state_dir=tmp_path / "s",
                           directory=tmp_path / "e")
    assert seen == [("Running", "in-process")] * 3
    for trial in result.trials:
        writes = [s for s in statements if (s.startswith("INSERT") and f"VALUES ('{trial.run_id}'" in s)
                  or (s.startswith("UPDATE") and s.endswith(f"WHERE id = '{trial.run_id}'"))]
        assert [w.split()[0] for w in writes] == ["INSERT", "UPDATE"], writes  # started running, finished
    runs = RunStore(tmp_path / "s").list(parent_id=result.experiment_run_id)
    assert sorted(r.status for r in runs) == ["Succeeded"] * 3
    assert all(r.metrics == {"objective": t.objective} for r, t in
               zip(sorted(runs, key=lambda r: r.created_at), result.trials))


def test_an_inline_trial_that_fails_is_retried_inline(tmp_path: Path) -> None:
    attempts: list[int] = []

    def objective(params: dict[str, float], trial: Any) -> float:
        attempts.append(trial.index)
        if attempts.count(trial.index) == 1 and trial.index == 1:
            raise ValueError("flaky")
        return params["x"]

    result = pipetune.tune(objective, SPACE, max_trials=3, max_retries=1, algorithm="random", catch=(ValueError,),
                           state_dir=tmp_path / "s")
    assert attempts == [0, 1, 1, 2]
    assert [(t.status.value, t.attempt) for t in result.trials] == [("Succeeded", 0), ("Succeeded", 1),
                                                                    ("Succeeded", 0)]


def test_the_engine_runs_inline_runs_in_order_when_one_is_waited_for(tmp_path: Path) -> None:
    from pipetune.components import ComponentSpec, ContainerSpec
    from pipetune.engines.base import Phase, RunRequest
    from pipetune.engines.local import FunctionEngine

    order: list[int] = []
    engine = FunctionEngine(lambda params: order.append(params["n"]) or params["n"], "objective", inline=True)
    component = ComponentSpec(name="f", container=ContainerSpec(image="in-process"))

    def request(n: int, timeout: float | None = None) -> RunRequest:
        return RunRequest(run_id=f"r{n}", component=component, arguments={"n": n},
                          outputs_dir=tmp_path / f"r{n}" / "outputs", timeout=timeout)

    first, second, cancelled = (engine.submit(request(n)) for n in (1, 2, 3))
    engine.cancel(cancelled)
    assert order == []  # nothing runs until someone waits
    assert engine.wait(second).phase is Phase.SUCCEEDED
    assert order == [1, 2] and engine.poll(first).phase is Phase.SUCCEEDED
    engine.wait_any(0.01)  # the cancelled one is let go, not run
    assert order == [1, 2] and engine.poll(cancelled).phase is Phase.CANCELLED
    timed = engine.submit(request(4, timeout=60.0))  # a timeout: a worker thread, as before
    assert engine.wait(timed, timeout=30).phase is Phase.SUCCEEDED and order == [1, 2, 4]
