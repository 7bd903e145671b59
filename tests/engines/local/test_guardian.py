"""A tuner killed with -9 used to leave its trials (and what they started) running until a
resume took them up. The local engine's guardian ends them when the tuner dies, however it
dies; and it ends itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DATA, ROOT
from processes import alive, children

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")

TRIAL = r'''
import os, pathlib, subprocess, sys, time
ledger = pathlib.Path(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
(ledger / f"{os.getpid()}.tmp").write_text(f"{os.getpid()} {child.pid} {daemon.pid}")
os.replace(ledger / f"{os.getpid()}.tmp", ledger / f"{os.getpid()}.pids")
time.sleep(300)
'''


def recorded(ledger: Path) -> list[int]:
    return [int(p) for f in ledger.glob("*.pids") for p in f.read_text().split()]


def wait_for(condition, what: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _experiment(tmp_path: Path, ledger: Path) -> Path:
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"].update(maxTrialCount=4, parallelTrialCount=2)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", str(script), str(ledger), "${trialParameters.x}", "${trialParameters.y}"]
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(yaml.safe_dump(data))
    return experiment


def test_trials_their_children_and_daemons_end_when_the_tuner_is_killed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune",
               str(_experiment(tmp_path, ledger)), "--dir", str(tmp_path / "exp")]
    env = {k: v for k, v in os.environ.items() if k != "PIPETUNE_STATE_DIR"}
    tuner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(list(ledger.glob("*.pids"))) == 2 or tuner.poll() is not None, "two trials running")
        assert tuner.poll() is None, tuner.communicate()[1]
        trials = {int(f.stem) for f in ledger.glob("*.pids")}
        helpers = children(tuner.pid) - trials  # the guardian
        pids = recorded(ledger)
        assert all(alive(pid) for pid in pids)
    finally:
        tuner.send_signal(signal.SIGKILL)
        tuner.wait(60)
    try:
        wait_for(lambda: not any(alive(pid) for pid in pids), "trial processes outlived the tuner", 30)
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert helpers, "the tuner started no guardian"
    wait_for(lambda: not any(alive(pid) for pid in helpers), "the guardian outlived the tuner")
