"""Group commit: results are flushed to disk in groups, one fdatasync for all those appended
since the last, before anyone is told of one; a ``kill -9`` between an append and its flush
loses nothing (the kernel holds what was written), and a power loss right after any report
keeps the trial reported."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pipetune
from conftest import ROOT
from pipetune.errors import RunError
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import JOURNAL_FILE, Journal

SPACE = [{"name": name, "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
         for name in ("x", "y")]


def _finished(journal: Journal, trial: int) -> None:
    journal.append("trial_finished", trial=trial, attempt=0, status="Succeeded", objective=0.5,
                   metrics={"loss": 0.5}, reason="Completed", message=None, run_id=f"r{trial}", time=3.0)


def _count_flushes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The journal's size at each fdatasync: the prefix a power loss right after it keeps."""
    sizes: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        real(fd)
        sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return sizes


def test_results_appended_together_take_one_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes = _count_flushes(monkeypatch)
    journal = Journal(tmp_path / JOURNAL_FILE)
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
    for trial in range(3):
        _finished(journal, trial)
    assert flushes == []
    journal.sync()
    assert flushes == [(tmp_path / JOURNAL_FILE).stat().st_size]
    journal.sync()  # nothing new: no second flush
    journal.append("trial_created", trial=3, assignment={"x": 0.1}, internal=None, time=2.0)
    journal.sync()  # a suggestion is not worth one
    assert len(flushes) == 1


def test_a_result_waits_at_most_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes = _count_flushes(monkeypatch)
    journal = Journal(tmp_path / JOURNAL_FILE)
    _finished(journal, 0)
    journal.sync_if_due()
    assert flushes == []
    monkeypatch.setattr(Journal, "SYNC_WINDOW", 0.0)
    journal.sync_if_due()
    assert len(flushes) == 1


def test_a_failed_flush_is_one_error_naming_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / JOURNAL_FILE)
    _finished(journal, 0)

    def fails(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdatasync", fails)
    with pytest.raises(RunError, match=f"{tmp_path / JOURNAL_FILE}: can't flush the journal to disk"):
        journal.sync()


def _objective(params: dict[str, float]) -> float:
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2


def test_every_trial_reported_is_on_disk_when_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A power loss right after any progress report keeps every trial reported so far."""
    flushes = _count_flushes(monkeypatch)
    path = tmp_path / "exp" / JOURNAL_FILE
    unkept: list[str] = []

    def progress(update: pipetune.Progress) -> None:
        trial = update.trial
        if trial is None or not trial.status.final:
            return
        survivor = tmp_path / "after-power-loss" / JOURNAL_FILE
        survivor.parent.mkdir(exist_ok=True)
        survivor.write_bytes(path.read_bytes()[:flushes[-1]] if flushes else b"")
        kept = Journal(survivor).state().trials.get(trial.index)
        if kept is None or kept.status is not trial.status:
            unkept.append(f"trial {trial.index} reported {trial.status.value}, on disk {kept}")

    result = pipetune.tune(_objective, SPACE, minimize=True, max_trials=6, algorithm="random",
                           directory=tmp_path / "exp", state_dir=tmp_path / "state", progress=progress)
    assert unkept == []
    assert len(result.trials) == 6
    assert flushes[-1] == path.stat().st_size  # all on disk once tune returns


def test_unreported_results_are_flushed_in_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes = _count_flushes(monkeypatch)
    monkeypatch.setattr(Journal, "SYNC_WINDOW", 3600.0)
    result = pipetune.tune(_objective, SPACE, minimize=True, max_trials=20, algorithm="random",
                           directory=tmp_path / "exp", state_dir=tmp_path / "state")
    assert [t.status for t in result.trials] == [TrialStatus.SUCCEEDED] * 20
    # One flush when the experiment ends, not one per trial; all of it on disk on return.
    assert len(flushes) < 5
    assert flushes[-1] == (tmp_path / "exp" / JOURNAL_FILE).stat().st_size


def test_an_error_raised_to_the_user_is_on_disk_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes = _count_flushes(monkeypatch)
    monkeypatch.setattr(Journal, "SYNC_WINDOW", 3600.0)
    calls: list[int] = []

    def breaks(params: dict[str, float]) -> float:
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("broken objective")
        return params["x"]

    with pytest.raises(ValueError, match="broken objective"):
        pipetune.tune(breaks, SPACE, max_trials=6, algorithm="random",
                      directory=tmp_path / "exp", state_dir=tmp_path / "state")
    kept = (tmp_path / "exp" / JOURNAL_FILE).read_bytes()[:flushes[-1]]
    statuses = [r["status"] for r in map(json.loads, kept.splitlines()) if r["op"] == "trial_finished"]
    assert statuses == ["Succeeded", "Succeeded", "Failed"]


KILLED = r'''
import json, os, signal, sys
import pipetune
from pipetune.tuner.journal import Journal

Journal.SYNC_WINDOW = 3600.0  # no flush before the kill: what survives is what the kernel held
SPACE = [{"name": n, "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}} for n in ("x", "y")]
calls = []

def objective(params):
    calls.append(1)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2

result = pipetune.tune(objective, SPACE, minimize=True, max_trials=8, algorithm="random",
                       directory=sys.argv[1], state_dir=sys.argv[1] + "-state")
print(json.dumps([[t.assignment, t.objective] for t in result.trials]))
'''


def test_a_kill_9_between_append_and_flush_loses_no_result(tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin")}

    def run(directory: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), str(directory), str(kill_at)], env=env,
                              capture_output=True, text=True, timeout=120)

    killed = run(tmp_path / "exp", 5)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    journal = tmp_path / "exp" / JOURNAL_FILE
    finished = [r["trial"] for r in map(json.loads, journal.read_text().splitlines()) if r["op"] == "trial_finished"]
    assert finished == [0, 1, 2, 3]  # the four trials that returned before the kill

    resumed, whole = run(tmp_path / "exp", 0), run(tmp_path / "whole", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert whole.returncode == 0, whole.stderr
    trials = json.loads(resumed.stdout.splitlines()[-1])
    assert len(trials) == 8
    assert trials == json.loads(whole.stdout.splitlines()[-1])


def test_appends_after_a_repair_or_a_move_go_to_the_file_at_the_journal_path(tmp_path: Path) -> None:
    """The journal keeps its file open between appends: a file replaced under it (``repair``)
    or moved away (``close`` first, as the tuner starting over does) is not written to."""
    path = tmp_path / JOURNAL_FILE
    journal = Journal(path)
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
    _finished(journal, 0)  # names a trial never created: a bad line for repair to drop
    repair = journal.repair()
    assert repair is not None and repair.kept == 1
    journal.append("trial_created", trial=0, assignment={"x": 0.1}, internal=None, time=2.0)
    assert [r["op"] for r in journal.records()] == ["experiment_started", "trial_created"]

    journal.close()
    moved = tmp_path / "attempt-1"
    moved.mkdir()
    os.replace(path, moved / JOURNAL_FILE)
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=3.0)
    journal.sync()
    assert [r["op"] for r in Journal(moved / JOURNAL_FILE).records()] == ["experiment_started", "trial_created"]
    assert [r["time"] for r in journal.records()] == [3.0]
    journal.close()
