"""A real full disk under the experiment directory (a small tmpfs, where this machine lets the
test mount one): the tune stops with one line, nothing already journalled is lost, and once
there is room the same command resumes and ends as an uninterrupted run does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import DATA, ROOT


def _mount(point: Path, size: str) -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                            capture_output=True, text=True)
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "small"
    if not _mount(point, "16k"):
        pytest.skip("this machine does not let the test mount a tmpfs (needs root and CAP_SYS_ADMIN)")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _experiment(tmp_path: Path) -> Path:
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"].update(maxTrialCount=40, parallelTrialCount=1)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = container["command"][:6]  # no --sleep
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _tune(tmp_path: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIPETUNE_STATE_DIR"}
    return subprocess.run([sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune",
                           str(_experiment(tmp_path)), "--dir", str(directory), "-q"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def _assignments(directory: Path) -> list[dict[str, float]]:
    return [row["parameters"] for row in json.loads((directory / "trials.json").read_text())]


def test_a_full_disk_loses_nothing_journalled_and_the_resume_matches_an_uninterrupted_run(
        tmp_path: Path, small_disk: Path) -> None:
    directory = small_disk / "exp"
    full = _tune(tmp_path, directory)
    assert full.returncode == 1, full.stdout + full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("pipetune: error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], full.stderr
    assert errors[0].startswith(f"pipetune: error: {directory}/"), errors  # it names the file
    assert "Traceback" not in full.stderr
    journalled = (directory / "journal.jsonl").read_bytes()
    lines = journalled.splitlines()
    assert journalled.endswith(b"\n") and all(json.loads(line) for line in lines)
    finished = sum(json.loads(line)["op"] == "trial_finished" for line in lines)
    assert 0 < finished < 40  # it stopped part way

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    resumed = _tune(tmp_path, directory)
    assert resumed.returncode == 0, resumed.stderr
    assert (directory / "journal.jsonl").read_bytes().startswith(journalled)  # nothing journalled was lost

    reference = _tune(tmp_path, tmp_path / "uninterrupted")
    assert reference.returncode == 0, reference.stderr
    assert _assignments(directory) == _assignments(tmp_path / "uninterrupted")
