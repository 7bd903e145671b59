"""Shared fixtures: the repository's paths, a CLI runner, throwaway components."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "components"
DATA = Path(__file__).resolve().parent / "data"
SCRIPTS = DATA / "scripts"
#: Other teams' real inputs; a user's clone has no ../shared, so tests using it skip.
SHARED = ROOT.parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the programs the tests start, however the suite was started.

    A suite started in the background by a non-interactive shell (``cmd &``, some CI runners)
    inherits SIGINT ignored, and an ignored signal stays ignored across ``exec``: every
    ``pipetune`` it starts would ignore the SIGINT a Ctrl-C test sends it, and the test would
    wait for an exit that never comes (a streak of runs started so failed two tests). The tests
    model a terminal's Ctrl-C, so the suite takes Python's default handler, which ``exec``
    resets to the default action in its children."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


CliRunner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(state_dir: Path, tmp_path: Path) -> CliRunner:
    """Run ``pipetune --state-dir <tmp> ARGS`` as a user would, in a subprocess."""

    def run(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PIPETUNE_STATE_DIR", None)
        return subprocess.run(
            [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or ROOT,
            env=env,
        )

    return run


@pytest.fixture
def write_component(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a component.yaml from text into its own folder; returns the file."""

    def write(text: str, name: str = "component") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "component.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def script_component(script_args: str, inputs: str = "[]", outputs: str = "[]") -> str:
    """A component.yaml running tests/data/scripts/behave.py with the given args list."""
    return f"""
name: behave
description: a test component whose behaviour its arguments choose
inputs: {inputs}
outputs: {outputs}
implementation:
  container:
    image: python:3.11
    command: [python, {SCRIPTS / 'behave.py'}]
    args: {script_args}
"""
