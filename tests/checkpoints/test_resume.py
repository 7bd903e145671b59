"""Kill a run mid-way; it continues from its newest checkpoint and ends with exactly the
results of an uninterrupted run: train-torch (training) and prepare-shards (not training)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pipetune.checkpoints import CheckpointStore

CASES = {
    "prepare-shards": (["shards=8", "rows_per_shard=300", "shard_seconds=0.4"], 3),
    "train-torch": (["epochs=6", "n_samples=3000", "hidden_size=64", "seed=2"], 2),
}


def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PIPETUNE_STATE_DIR", None)
    return env


def _run(state: Path, component: str, inputs: list[str], *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(state), "run",
               str(ROOT / "components" / component / "component.yaml"), "-q", *extra]
    for item in inputs:
        command += ["--input", item]
    return subprocess.Popen(command, env=_env(state), cwd=state.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _results(state: Path) -> list[dict]:
    found = []
    for run in sorted((state / "runs").iterdir()):
        path = run / "outputs" / "results.yaml"
        if path.exists():
            found.append(yaml.safe_load(path.read_text()))
    return found


def _component_pid(cli_pid: int) -> int | None:
    try:
        children = Path(f"/proc/{cli_pid}/task/{cli_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _comparable(results: dict) -> dict:
    timing = {"train_seconds"}
    return {
        "metrics": {k: v for k, v in results["metrics"].items() if k not in timing},
        "outputs": results["outputs"],
        "history": [{k: v for k, v in e.items() if k not in timing} for e in results.get("history", [])],
    }


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the run's process through /proc")
@pytest.mark.parametrize("component", sorted(CASES))
def test_a_killed_run_resumes_from_its_checkpoint_with_the_same_results(component: str, tmp_path: Path) -> None:
    if component == "train-torch":
        pytest.importorskip("torch")
    inputs, kill_after = CASES[component]
    straight = _run(tmp_path / "straight", component, inputs)
    out, err = straight.communicate(timeout=240)
    assert straight.returncode == 0, err
    (expected,) = _results(tmp_path / "straight")

    checkpoints = tmp_path / "checkpoints"
    interrupted = _run(tmp_path / "interrupted", component, inputs, "--retries", "1",
                       "--checkpoints", str(checkpoints))
    deadline = time.monotonic() + 120
    while len([i for i in CheckpointStore(checkpoints).list() if i.complete]) < min(kill_after, 3) \
            or (CheckpointStore(checkpoints).latest().step or 0) < kill_after:
        assert interrupted.poll() is None, interrupted.communicate()
        assert time.monotonic() < deadline, "no checkpoints appeared"
        time.sleep(0.02)
    pid = _component_pid(interrupted.pid)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the run dies mid-way, as on an OOM kill or a lost node
    out, err = interrupted.communicate(timeout=240)
    assert interrupted.returncode == 0, err
    assert "retry 1 of 1" in err and "resuming from checkpoint" in err

    first, second = _results(tmp_path / "interrupted")
    assert _comparable(second) == _comparable(expected)
    assert len(first.get("history", [])) >= kill_after  # the first attempt got that far
    # The second attempt started from a checkpoint, not from zero.
    logs = sorted((tmp_path / "interrupted" / "runs").iterdir())[-1] / "logs" / "stdout.log"
    resumed = [line for line in logs.read_text().splitlines() if "resuming" in line]
    assert resumed, logs.read_text()[:500]
    at = int("".join(ch for ch in resumed[0].split(" at shard ")[-1].split(" after epoch ")[-1].split()[0]))
    assert at >= kill_after
