"""pipetune checkpoints list / gc, and checkpoints across a tuner's restart."""

from __future__ import annotations

import json
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

PREPARE = str(ROOT / "components" / "prepare-shards" / "component.yaml")


def test_list_and_gc_a_runs_checkpoints(cli, state_dir: Path) -> None:
    run = cli("run", PREPARE, "--input", "shards=5", "--input", "rows_per_shard=50", "--json")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    listed = cli("checkpoints", "list", record["id"])
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ENTITY", "CHECKPOINT", "STEP", "SIZE", "AGE", "COMPLETE", "METADATA"]
    rows = [line for line in lines if "ckpt-" in line]
    assert len(rows) == 3  # keep the last 3 by default
    assert "ckpt-000005 *" in rows[-1] and '"shards_done": 5' in rows[-1]
    assert "* results.yaml points at it" in listed.stdout

    store = Path(record["outputs_dir"]) / "checkpoints"
    half = store / "ckpt-000009"
    half.mkdir()
    old = time.time() - 7200
    os.utime(half, (old, old))
    as_json = [json.loads(line) for line in cli("checkpoints", "list", str(store), "--json").stdout.splitlines()]
    assert {(item["name"], item["complete"]) for item in as_json} >= {("ckpt-000009", False)}

    dry = cli("checkpoints", "gc", record["id"], "--keep-last", "1")
    assert dry.returncode == 0
    assert "would remove" in dry.stdout and "ckpt-000009 (incomplete" in dry.stdout
    assert "ckpt-000003 (complete" in dry.stdout and "ckpt-000005" not in dry.stdout
    assert half.exists()  # a dry run removes nothing
    applied = cli("checkpoints", "gc", record["id"], "--keep-last", "1", "--apply")
    assert applied.returncode == 0 and "removed 3 item(s)" in applied.stdout
    assert [i.name for i in CheckpointStore(store).list()] == ["ckpt-000005"]


def test_a_target_that_is_nothing_is_one_clear_error(cli) -> None:
    result = cli("checkpoints", "list", "no-such-run")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pipetune: error: no-such-run: expected a checkpoint store (a path or URI), an experiment "
        "directory or a run id"
    )


EXPERIMENT = {
    "apiVersion": "pipetune.dev/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "prep"},
    "spec": {
        "objective": {"type": "maximize", "objectiveMetricName": "rows_out"},
        "algorithm": {"algorithmName": "random"},
        "maxTrialCount": 2,
        "parallelTrialCount": 2,
        "parameters": [{"name": "seed", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "100"}}],
        "trialTemplate": {"trialSpec": {
            "component": PREPARE,
            "arguments": {"seed": "${trialParameters.seed}", "shards": "6", "rows_per_shard": "100",
                          "shard_seconds": "0.4"},
        }},
    },
}


@pytest.mark.slow
def test_a_restarted_tuner_resumes_its_trials_from_their_checkpoints(tmp_path: Path, state_dir: Path) -> None:
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(EXPERIMENT))
    directory = tmp_path / "exp"
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "tune", str(spec),
               "--dir", str(directory), "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    trial = directory / "checkpoints" / "trial-0000"
    deadline = time.monotonic() + 60
    while not (trial.exists() and (CheckpointStore(trial).latest() or None) and CheckpointStore(trial).latest().step >= 2):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    rows = json.loads((directory / "trials.json").read_text())
    assert [row["status"] for row in rows] == ["Succeeded", "Succeeded"]
    assert all(row["metrics"]["rows_in"] == 600 for row in rows)
    # Trial 0's final run started from its checkpoint, not from shard 0.
    final_run = rows[0]["run_id"]
    log = (state_dir / "runs" / final_run / "logs" / "stdout.log").read_text()
    assert "prepare-shards: resuming at shard" in log
    listed = subprocess.run([sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "checkpoints",
                             "list", str(directory)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert "trial 0000" in listed.stdout and "trial 0001" in listed.stdout
