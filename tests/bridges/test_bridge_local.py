"""The bridge components run locally: one process per replica, the primary's results back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PYTORCHJOB = str(ROOT / "components" / "pytorchjob" / "component.yaml")


def _run_dir(state_dir: Path) -> Path:
    runs = sorted((state_dir / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


@pytest.mark.slow
def test_train_torch_runs_as_a_two_process_gloo_pytorchjob(cli, state_dir: Path) -> None:
    epochs = 2
    result = cli(
        "run", PYTORCHJOB,
        "--input", "image=pipetune/pipetune:0.1.0",
        "--input", 'command=["python", "-m", "pipetune.catalog.train_torch"]',
        "--input", json.dumps(["--epochs", str(epochs), "--n_samples", "401", "--model", "/outputs/model"]).join(["args=", ""]),
        "--input", "workers=1",
        "--input", "engine=local",
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    outputs = _run_dir(state_dir) / "outputs"
    results = yaml.safe_load((outputs / "results.yaml").read_text())
    # Both ranks took part (ranks_seen is an all-reduce over the process group) ...
    assert results["outputs"]["world_size"] == 2
    assert results["outputs"]["ranks_seen"] == 2
    assert results["outputs"]["samples_seen"] == epochs * 2 * 151  # ceil(301 / 2) per rank
    # ... and the step's results are rank 0's, with its model where the artifact says.
    assert [entry["step"] for entry in results["history"]] == [1, 2]
    assert (outputs / results["artifacts"]["model"] / "model.pt").is_file()
    worker = outputs / "training" / "replicas" / "worker-0"
    assert worker.is_dir() and not (worker / "results.yaml").exists()
    assert (outputs / "job").read_text().startswith("pytorchjob/default/pytorchjob-")
    assert "PyTorchJob default/pytorchjob-" in result.stderr and "Succeeded" in result.stderr


def test_a_bad_replica_count_exits_2_before_anything_runs(cli, state_dir: Path) -> None:
    result = cli(
        "run", PYTORCHJOB,
        "--input", "image=x:1", "--input", "workers=-1", "--input", "engine=local",
    )
    assert result.returncode == 1  # the step's own exit 2 is the run's failure
    assert "replicas of Worker: expected a whole number >= 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (_run_dir(state_dir) / "outputs" / "training").exists()


@pytest.mark.slow
def test_a_rerun_bridge_job_resumes_its_replicas_from_the_checkpoints(cli, state_dir: Path, tmp_path: Path) -> None:
    args = ["--input", "image=pipetune/pipetune:0.1.0",
            "--input", 'command=["python", "-m", "pipetune.catalog.train_torch"]',
            "--input", json.dumps(["--epochs", "3", "--n_samples", "401", "--model", "/outputs/model"]).join(["args=", ""]),
            "--input", "workers=1", "--input", "engine=local", "--input", f"checkpoints={tmp_path / 'ckpts'}"]
    first = cli("run", PYTORCHJOB, *args, timeout=180)
    assert first.returncode == 0, first.stderr
    stores = list((tmp_path / "ckpts").iterdir())
    assert len(stores) == 1 and stores[0].name.startswith("pytorchjob-")
    second = cli("run", PYTORCHJOB, *args, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "train-torch: resuming after epoch 2 of 3" in second.stdout + second.stderr
    results = [yaml.safe_load(p.read_text()) for p in sorted(state_dir.glob("runs/*/outputs/results.yaml"))]
    assert results[0]["metrics"]["accuracy"] == results[1]["metrics"]["accuracy"]
    assert [e["step"] for e in results[1]["history"]] == [1, 2, 3]
