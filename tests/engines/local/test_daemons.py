"""A process a trial starts in a session of its own (a daemon) escapes the trial's process
group; it used to outlive the run, its timeout and the tuner, and its inherited pipes made a
2 s timeout take 15 s. It carries the run's environment, which is how the engine ends it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

COMPONENT = """
name: spawner
implementation:
  container:
    image: python:3.11
    command:
      - python
      - -c
      - |
        import pathlib, subprocess, sys, time
        daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
        pathlib.Path(sys.argv[1]).write_text(str(daemon.pid))
        print("loss=0.5", flush=True)
        time.sleep(float(sys.argv[2]))
      - {marker}
      - "{sleep}"
"""


def gone(pid: int) -> bool:
    try:
        return "\\nState:\\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while not gone(pid):
        assert time.monotonic() < deadline, f"the daemon {pid} outlived its run"
        time.sleep(0.05)


@pytest.mark.parametrize(("sleep", "extra", "code"), [("0", [], 0), ("300", ["--timeout", "2"], 1)])
def test_a_daemon_a_run_starts_ends_with_the_run(cli, write_component, tmp_path, sleep, extra, code) -> None:
    marker = tmp_path / "daemon.pid"
    component = write_component(COMPONENT.format(marker=marker, sleep=sleep))
    result = cli("run", str(component), *extra, timeout=120)
    assert result.returncode == code, result.stderr
    daemon = int(marker.read_text())
    wait_gone(daemon)
