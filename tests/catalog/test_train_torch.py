"""train-torch, the catalog's PyTorch component: results, determinism, a real 2-process job."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipetune.catalog import component_file
from pipetune.components import load_component, resolve_command
from pipetune.contract import REPORT_PREFIX, Results, read_results
from pipetune.engines.local._engine import free_port

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs torch (pip install pipetune[torch])"
)

MODULE = "pipetune.catalog.train_torch"
TIMEOUT = 60
DIST_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _env(outputs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARIABLES}
    env["PIPETUNE_OUTPUTS"] = str(outputs)
    env.update(extra)
    return env


def _run(outputs: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args],
        env=_env(outputs, **extra),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _train(outputs: Path, *args: str) -> Results:
    done = _run(outputs, *args, "--model", str(outputs / "model"))
    assert done.returncode == 0, done.stderr
    return read_results(outputs)


def test_a_run_writes_results_history_and_model(tmp_path: Path) -> None:
    done = _run(tmp_path, "--epochs", "2", "--model", str(tmp_path / "model"))

    assert done.returncode == 0, done.stderr
    reports = [line for line in done.stdout.splitlines() if line.startswith(REPORT_PREFIX + "{")]
    assert len(reports) == 2
    results = read_results(tmp_path)
    accuracy = results.metrics["accuracy"]
    assert math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0
    assert accuracy > 0.5  # three classes: well above chance after two epochs
    assert math.isfinite(results.metrics["loss"]) and results.metrics["train_seconds"] >= 0
    assert [entry["step"] for entry in results.history] == [1, 2]
    assert all({"accuracy", "loss"} <= set(entry) for entry in results.history)
    assert results.history[-1]["accuracy"] == accuracy
    assert results.outputs["world_size"] == 1 and results.outputs["ranks_seen"] == 1
    assert results.outputs["n_train"] + results.outputs["n_test"] == 2048
    assert results.outputs["n_test"] == 512
    assert results.outputs["samples_seen"] == 2 * results.outputs["n_train"]
    assert results.artifacts["model"] == "model/"
    assert (tmp_path / "model" / "model.pt").is_file()
    assert (tmp_path / "model" / "config.json").is_file()


def test_the_same_seed_gives_the_same_results(tmp_path: Path) -> None:
    first = _train(tmp_path / "first", "--epochs", "2", "--seed", "7")
    second = _train(tmp_path / "second", "--epochs", "2", "--seed", "7")
    other = _train(tmp_path / "other", "--epochs", "2", "--seed", "8")

    def without_time(results: Results) -> dict[str, float]:
        return {k: v for k, v in results.metrics.items() if k != "train_seconds"}

    assert without_time(first) == without_time(second)
    assert first.history == second.history
    assert first.outputs == second.outputs
    assert without_time(first) != without_time(other)


def test_the_component_spec_runs_the_module(tmp_path: Path) -> None:
    spec = load_component(component_file("train-torch"))
    assert {i.name: (i.type, i.default) for i in spec.inputs} == {
        "lr": ("Float", 0.05),
        "epochs": ("Integer", 5),
        "batch_size": ("Integer", 64),
        "hidden_size": ("Integer", 32),
        "n_samples": ("Integer", 2048),
        "weight_decay": ("Float", 0.0),
        "seed": ("Integer", 0),
        "checkpoint_every": ("Integer", 1),
    }
    argv = resolve_command(
        spec,
        spec.bind({"epochs": "1", "n_samples": "400"}),
        {"model": str(tmp_path / "model")},
    )
    # Through the publisher, with no KFP executor input outside KFP.
    assert argv[:8] == ["pipetune", "exec", "--kfp-executor-input", "", "--", "python", "-m", MODULE]

    done = subprocess.run(
        [sys.executable, "-m", *argv],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path)
    assert results.outputs["n_train"] == 300 and len(results.history) == 1
    assert (tmp_path / "model" / "model.pt").is_file()


@pytest.mark.slow
def test_two_processes_train_together_over_gloo(tmp_path: Path) -> None:
    port = str(free_port())
    epochs = 2
    processes = []
    for rank in (0, 1):
        outputs = tmp_path / f"rank{rank}"
        command = [sys.executable, "-m", MODULE, "--epochs", str(epochs), "--n_samples", "1001"]
        command += ["--model", str(outputs / "model")]
        env = _env(
            outputs, WORLD_SIZE="2", RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=port
        )
        processes.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        finished = [process.communicate(timeout=TIMEOUT) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    for process, (_, stderr) in zip(processes, finished):
        assert process.returncode == 0, stderr
    results = read_results(tmp_path / "rank0")
    assert results.outputs["world_size"] == 2
    assert results.outputs["ranks_seen"] == 2
    n_train = results.outputs["n_train"]
    assert n_train == 751  # odd, so DistributedSampler pads one shard by a sample
    # Each rank trains on ceil(n_train / 2) samples an epoch; the sum comes from an all-reduce.
    assert results.outputs["samples_seen"] == epochs * 2 * math.ceil(n_train / 2)
    assert [entry["step"] for entry in results.history] == [1, 2]
    assert 0.0 <= results.metrics["accuracy"] <= 1.0
    assert (tmp_path / "rank0" / "model" / "model.pt").is_file()
    assert REPORT_PREFIX in finished[0][0]
    # Only rank 0 reports and writes results.
    assert REPORT_PREFIX not in finished[1][0]
    assert not (tmp_path / "rank1" / "results.yaml").exists()
    assert not (tmp_path / "rank1" / "model").exists()


def test_a_bad_value_exits_2_naming_the_type(tmp_path: Path) -> None:
    done = _run(tmp_path, "--epochs", "abc")

    assert done.returncode == 2
    assert "expected an Integer" in done.stderr
    assert not (tmp_path / "results.yaml").exists()


def test_importing_the_module_does_not_import_torch() -> None:
    code = f"import sys, {MODULE}; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_hand_written_sgd_matches_torch_optim_sgd() -> None:
    """train-torch writes SGD out to avoid torch.optim's 1.5 s import; it must not drift."""
    import torch

    from pipetune.catalog.train_torch import _SGD

    torch.manual_seed(0)
    start = [torch.randn(4, 3), torch.randn(3)]
    ours = [torch.nn.Parameter(t.clone()) for t in start]
    theirs = [torch.nn.Parameter(t.clone()) for t in start]
    mine = _SGD(ours, lr=0.1, momentum=0.9, weight_decay=0.01)
    reference = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, weight_decay=0.01)
    inputs = torch.randn(8, 4)
    for _ in range(5):
        for params, optimizer in ((ours, mine), (theirs, reference)):
            optimizer.zero_grad()
            loss = ((inputs @ params[0] + params[1]) ** 2).mean()
            loss.backward()
            optimizer.step()
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-6)
