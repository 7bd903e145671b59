"""Hostile trials end to end (issue 14): one ``pipetune tune`` experiment whose trials each
do one hostile thing (bad results files, floods of output, huge lines, daemons, processes
that ignore SIGTERM or hold the trial's pipes, crashes). Each trial ends with a named reason,
the tuner finishes every other trial and the experiment, in bounded memory, and when it is
done no process any trial started is left in the process table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT
from experiment_yaml import categorical, job_experiment
from processes import alive

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")

TRIAL = textwrap.dedent(r'''
    import os, pathlib, signal, subprocess, sys, time
    case, ledger = sys.argv[1], pathlib.Path(sys.argv[2])
    outputs = pathlib.Path(os.environ["PIPETUNE_OUTPUTS"])
    results = outputs / "results.yaml"
    HEAD = "apiVersion: pipetune.dev/v1\n"

    def note(*pids):
        with open(ledger / f"{os.getpid()}.pids", "a") as out:
            out.write(" ".join(str(p) for p in (os.getpid(), *pids)) + "\n")

    def sleeper(**options):
        return subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"], **options)

    note()
    if case == "good":
        print("loss=0.125")
    elif case == "big-int":
        results.write_text(HEAD + "metrics: {loss: 1" + "0" * 400 + "}\n")
    elif case == "nan":
        results.write_text(HEAD + "metrics: {loss: .nan}\n")
    elif case == "deep":
        results.write_text(HEAD + "metrics: {loss: 1}\nextra: " + "[" * 900 + "]" * 900 + "\n")
    elif case == "bomb":
        names = "abcdefghi"
        lines = ["bomb:", "  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
        for i in range(1, len(names)):
            lines.append(f"  {names[i]}: &{names[i]} [" + ",".join(["*" + names[i - 1]] * 10) + "]")
        results.write_text(HEAD + "metrics: {loss: 1}\n" + "\n".join(lines) + "\n")
    elif case == "dev-zero":
        results.symlink_to("/dev/zero")
    elif case == "link-out":
        results.symlink_to("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    elif case == "fifo":
        os.mkfifo(results)
    elif case == "sparse-100mb":
        with open(results, "wb") as out:
            out.truncate(100 * 2**20)
    elif case == "flood":
        line = "epoch progress " + "." * 1000 + "\n"
        for _ in range(30_000):
            sys.stdout.write(line)
        print("loss=0.25")
    elif case == "long-line":
        sys.stdout.write("x" * 5_000_000)
        print("\nloss=0.375")
    elif case == "garbage":
        sys.stdout.buffer.write(bytes(range(256)) * 4000 + b"\xff\xfe\n")
        print("loss=0.5")
    elif case == "daemon":
        note(sleeper(start_new_session=True).pid)
        print("loss=0.625")
    elif case == "holds-pipes":
        note(sleeper().pid)  # same group, stdout and stderr inherited, deaf to SIGTERM
        print("loss=0.75")
    elif case == "many-children":
        note(*[sleeper().pid for _ in range(10)])
        print("loss=0.875")
    elif case == "deaf-to-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        note(sleeper().pid)
        time.sleep(300)
    elif case == "crash":
        {}["missing"]
    elif case == "kill-self":
        os.kill(os.getpid(), signal.SIGKILL)
''')

#: case -> (status, reason, a part of the message, or the metric's value when it succeeded)
EXPECTED: dict[str, tuple[str, str, str | float]] = {
    "good": ("Succeeded", "", 0.125),
    "big-int": ("Failed", "ResultsInvalid", "metrics.loss: 1e400 is not a finite float"),
    "nan": ("Failed", "ResultsInvalid", "metrics.loss"),
    "deep": ("Failed", "ResultsInvalid", "nested deeper than"),
    "bomb": ("Failed", "ResultsInvalid", "aliases expand to more than"),
    "dev-zero": ("Failed", "ResultsInvalid", "is a link to /dev/zero"),
    "link-out": ("Failed", "ResultsInvalid", "outside"),
    "fifo": ("Failed", "ResultsInvalid", "is a FIFO"),
    "sparse-100mb": ("Failed", "ResultsInvalid", "104857600 bytes"),
    "flood": ("Succeeded", "", 0.25),
    "long-line": ("Succeeded", "", 0.375),
    "garbage": ("Succeeded", "", 0.5),
    "daemon": ("Succeeded", "", 0.625),
    "holds-pipes": ("Succeeded", "", 0.75),
    "many-children": ("Succeeded", "", 0.875),
    "deaf-to-sigterm": ("Failed", "Timeout", ""),
    "crash": ("Failed", "NonZeroExitCode", "KeyError"),
    "kill-self": ("Failed", "NonZeroExitCode", "SIGKILL"),
}

#: The tuner's peak resident memory must stay under this, whatever its trials print or
#: write (it reads logs in chunks and refuses results files by size, depth and aliases). It
#: needs some 150 MB; the old whole-log reads needed gigabytes. bench/hostile_inputs.py and
#: bench/log_metrics.py measure it against plain reads.
PEAK_RSS_BOUND = 1024 * 2**20


def marked(state: Path) -> list[int]:
    """Processes whose environment names a run under ``state``."""
    needle = f"PIPETUNE_OUTPUTS={state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_every_hostile_trial_ends_with_its_reason_and_leaves_nothing_running(tmp_path: Path) -> None:
    program = tmp_path / "hostile.py"
    program.write_text(TRIAL)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(job_experiment(
        ["python", str(program), "${trialParameters.case}", str(ledger)], [categorical("case", list(EXPECTED))],
        name="hostile-trials", algorithm="grid", maxTrialCount=len(EXPECTED), parallelTrialCount=4,
        trialTimeout=5))
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k != "PIPETUNE_STATE_DIR"}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as stdout_file, open(err, "wb") as stderr_file:
        tuner = subprocess.Popen(
            [sys.executable, "-m", "pipetune", "--state-dir", str(state), "tune", str(experiment),
             "--dir", str(tmp_path / "exp"), "-q"], cwd=ROOT, env=env, stdout=stdout_file, stderr=stderr_file)
    deadline = time.monotonic() + 600  # a hang guard, not a measure: it takes some 15 s
    while True:
        pid, status, usage = os.wait4(tuner.pid, os.WNOHANG)  # the tuner's own rusage
        if pid:
            break
        if time.monotonic() > deadline:
            tuner.kill()
            raise AssertionError("the tuner hung")
        time.sleep(0.1)
    tuner.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    assert tuner.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr

    trials = {row["parameters"]["case"]: row for row in json.loads((tmp_path / "exp" / "trials.json").read_text())}
    assert set(trials) == set(EXPECTED)
    for case, (status, reason, detail) in EXPECTED.items():
        row = trials[case]
        assert row["status"] == status, (case, row)
        if status == "Succeeded":
            assert row["metrics"]["loss"] == detail, (case, row)
        else:
            assert row["reason"] == reason and str(detail) in (row.get("message") or ""), (case, row)

    # Nothing a trial started is left: every process the trials noted, and anything still
    # carrying a run's environment (the kernel may take a moment to reap what was killed).
    pids = [int(p) for f in ledger.glob("*.pids") for line in f.read_text().splitlines() for p in line.split()]
    assert len(pids) >= len(EXPECTED) + 12
    deadline = time.monotonic() + 30
    while any(alive(p) for p in pids) or marked(state):
        assert time.monotonic() < deadline, ([p for p in pids if alive(p)], marked(state))
        time.sleep(0.05)
    # ru_maxrss covers the tuner and the descendants it waited for: in KiB on Linux.
    assert usage.ru_maxrss * 1024 < PEAK_RSS_BOUND, usage.ru_maxrss
