"""`pipetune tune`'s progress as a person sees it: on a narrow terminal (a real pseudo-terminal)
every redraw fits the width and shows elapsed time and an ETA; a resumed run says so; output
that is not a terminal gets each line once; `--json` prints one document."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import yaml

from conftest import DATA, ROOT
from pipetune.tuner.display import ProgressLines
from pipetune.tuner.journal import TrialState
from pipetune.tuner.loop import Progress
from pipetune.tuner.objective import Objective

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _experiment(tmp_path: Path, trials: int, sleep: str, *extra: str) -> Path:
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"]["maxTrialCount"] = trials
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = container["command"][:6] + ["--sleep", sleep, *extra]
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _on_terminal(args: list[str], columns: int, timeout: float = 120) -> str:
    """Run pipetune with stderr on a pseudo-terminal ``columns`` wide; what the terminal got."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": str(columns)}
    env.pop("PIPETUNE_STATE_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "pipetune", *args], stdout=subprocess.DEVNULL, stderr=slave,
                               stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def _screens(output: str) -> list[str]:
    """Every line the terminal showed: split at newlines and carriage returns, escapes removed."""
    return [ANSI.sub("", piece) for line in output.split("\n") for piece in line.split("\r") if piece.strip()]


def test_the_bar_fits_a_narrow_terminal_with_elapsed_time_and_eta(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, 4, "0.2")
    output = _on_terminal(["tune", str(experiment), "--state-dir", str(tmp_path / "s"), "--dir",
                           str(tmp_path / "exp")], columns=50)
    bars = [line for line in _screens(output) if " trials |" in line]
    assert bars, output
    assert all(len(line.rstrip()) <= 50 for line in bars), [line for line in bars if len(line.rstrip()) > 50]
    assert bars[-1].startswith("4/4 trials")
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", bars[-1])  # elapsed < remaining
    assert "\x1b[K" not in output  # tqdm's redraw, not the old hand-written escape


def test_a_resumed_run_says_how_far_it_had_got(tmp_path: Path) -> None:
    # Trials past the first two wait at a gate until the interrupt is over: on a busy machine
    # the whole experiment once ended between the test seeing two trials finished and its
    # SIGINT arriving, and the rerun had nothing to resume.
    gate = tmp_path / "gate"
    gate.mkdir()
    experiment = _experiment(tmp_path, 6, "0.3", "--gate", str(gate), "--free", "2")
    exp = tmp_path / "exp"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "pipetune", "tune", str(experiment), "--state-dir",
                                str(tmp_path / "s"), "--dir", str(exp)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    # Until two trials have finished, however busy the machine: a run in a fresh venv (every
    # module compiled on first import) beside two CPU-bound processes once took longer than
    # the 60 s this waited, and the interrupt then came before any trial had ended.
    deadline = time.monotonic() + 300
    journal = exp / "journal.jsonl"
    while not (journal.exists() and journal.read_text().count('"trial_finished"') >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "two trials never finished"
        time.sleep(0.05)
    process.send_signal(2)
    assert process.wait(timeout=120) == 130
    (gate / "open").touch()
    output = _on_terminal(["tune", str(experiment), "--state-dir", str(tmp_path / "s"), "--dir", str(exp)],
                          columns=200)
    notices = [line for line in _screens(output) if line.startswith("resuming from")]
    assert notices, output
    assert re.search(r"resuming from .*exp: 2 of 6 trials already done, 4 to go; best so far loss", notices[0])


def test_lines_off_a_terminal_are_never_repeated() -> None:
    objective = Objective("loss", type="minimize")
    best = TrialState(0, {"x": 1}, objective=0.5)
    counts = {s: 0 for s in ("Pending", "Running", "Succeeded", "Failed", "EarlyStopped", "MetricsUnavailable", "Killed")}
    written: list[str] = []
    show = ProgressLines(written.append, "exp")
    show(Progress(4, {**counts, "Running": 1}, None, objective, "trial 0 started"))
    show(Progress(4, {**counts, "Running": 2}, None, objective, "trial 1 started"))
    show(Progress(4, {**counts, "Running": 1, "Succeeded": 1}, best, objective, "trial 0 Succeeded"))
    show(Progress(4, {**counts, "Running": 1, "Succeeded": 1}, best, objective, "trial 2 started"))
    show(Progress(4, {**counts, "Running": 1, "Succeeded": 1}, best, objective, "trial 2 Succeeded"))
    assert written == ["1/4 done, 1 running, best loss 0.5 (trial 0)"]


def test_tune_json_prints_one_document(cli, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, 3, "0")
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"), "--json", "-q")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "Succeeded" and len(data["trials"]) == 3
    assert data["best"]["objective"] == min(t["objective"] for t in data["trials"])
    assert result.stderr == ""


def test_the_first_recording_run_on_a_terminal_says_where_the_store_is(tmp_path: Path, write_component) -> None:
    component = write_component(
        "name: hello\nimplementation:\n  container:\n    image: python:3.11\n    command: [python, -c, 'print(1)']\n")
    state = tmp_path / "fresh"
    first = _on_terminal(["run", str(component), "--state-dir", str(state)], columns=300)
    assert f"recording runs in a new state directory {state}" in first
    second = _on_terminal(["run", str(component), "--state-dir", str(state)], columns=300)
    assert "new state directory" not in second
