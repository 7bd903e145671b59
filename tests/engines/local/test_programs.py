"""How an image's command maps to this machine (``pipetune.programs``), shared by the local
engine, the publisher and ``pipetune pipeline run``."""

import os
import shutil
import sys
from pathlib import Path

import pipetune.engines.local
from pipetune.programs import local_program


def test_python_and_pipetune_run_this_installation() -> None:
    assert local_program(["python3.11", "train.py", "--lr", "0.1"]) == [sys.executable, "train.py", "--lr", "0.1"]
    assert local_program(["/usr/bin/python", "-c", "1"]) == [sys.executable, "-c", "1"]
    assert local_program(["pipetune", "exec", "--", "x"]) == [sys.executable, "-m", "pipetune", "exec", "--", "x"]


def test_other_programs_run_as_themselves_or_not_at_all(tmp_path: Path) -> None:
    assert local_program(["sh", "-c", "true"]) == [shutil.which("sh"), "-c", "true"]
    assert local_program(["no-such-program-here"]) is None
    assert local_program([]) is None
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    assert local_program([str(script)]) is None  # a path that is not executable
    os.chmod(script, 0o755)
    assert local_program([str(script), "a"]) == [str(script), "a"]


def test_the_local_engine_still_exports_it() -> None:
    assert pipetune.engines.local.local_program is local_program


def test_pipetune_run_finds_a_relative_program_beside_its_component(cli, tmp_path) -> None:
    """`command: [python, ridge.py]` ran only from the component's own folder; the trials of
    `pipetune tune` were fixed first, then `pipetune run` and pipeline tasks, which use the
    same engine."""
    folder = tmp_path / "ridge"
    folder.mkdir()
    (folder / "ridge.py").write_text("print('loss=0.25')\n")
    (folder / "component.yaml").write_text(
        "name: ridge\nimplementation:\n  container:\n    image: python:3.11\n    command: [python, ridge.py]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("run", str(folder / "component.yaml"), "--json", "--quiet", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert '"loss": 0.25' in result.stdout
