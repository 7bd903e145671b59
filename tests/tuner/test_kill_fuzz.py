"""`pipetune tune` killed with -9 the moment a trial process appears (the start-up window:
the process exists, its start may not be journaled yet), then resumed, again and again.

Every trial process checks, as it starts, whether an earlier process of the same trial is
still alive, and leaves a mark if so: no trial may ever run twice at once, and no trial
process may outlive the resume that takes its trial up again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import DATA, ROOT
from processes import alive, children

TRIAL = r'''
import os, pathlib, sys, time
ledger = pathlib.Path(sys.argv[1])
x, y = float(sys.argv[2]), float(sys.argv[3])

def alive(pid):
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status

mine = ledger / f"trial-{x!r}-{y!r}"
mine.mkdir(parents=True, exist_ok=True)
for other in mine.iterdir():
    if alive(int(other.name)):
        (ledger / "OVERLAP").write_text(f"{mine.name}: {other.name} still running as {os.getpid()} started\n")
(mine / str(os.getpid())).touch()
with open(ledger / "started", "a") as out:
    out.write(f"{os.getpid()}\n")
time.sleep(2.0)  # long enough to still run when the resumed tuner starts it again
print(f"loss={(x - 0.3) ** 2 + (y - 0.7) ** 2}")
'''


def started(ledger: Path) -> list[int]:
    path = ledger / "started"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_kill_9_at_every_trial_start_never_runs_a_trial_twice_at_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"].update(maxTrialCount=4, parallelTrialCount=2)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", str(script), str(ledger), "${trialParameters.x}", "${trialParameters.y}"]
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune", str(experiment),
               "--dir", str(tmp_path / "exp")]
    env = {k: v for k, v in os.environ.items() if k != "PIPETUNE_STATE_DIR"}

    kills = 0
    for _ in range(8):
        tuner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        # Kill the moment the tuner forks a trial process (before the trial has even exec'd),
        # unless the tuner ends first.
        while not children(tuner.pid) and tuner.poll() is None:
            assert time.monotonic() < deadline, "no trial started"
        if tuner.poll() is not None:
            break
        tuner.send_signal(signal.SIGKILL)
        tuner.wait(60)
        kills += 1
    else:
        tuner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, stderr = tuner.communicate(timeout=300)
    assert tuner.returncode == 0, stderr
    assert kills >= 3
    assert not (ledger / "OVERLAP").exists(), (ledger / "OVERLAP").read_text()
    # The experiment ended with all its trials; nothing any killed tuner started is still running.
    results = yaml.safe_load((tmp_path / "exp" / "results.yaml").read_text())
    assert results["metrics"]["trials"] == 4 and results["metrics"]["succeeded"] == 4
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in started(ledger)):
        assert time.monotonic() < deadline, [pid for pid in started(ledger) if alive(pid)]
        time.sleep(0.05)
