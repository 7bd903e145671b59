"""Training jobs on the local engine: one process per replica, the operator's environment."""

from __future__ import annotations

import json
import sys
import time
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from pipetune.bridges import JobParameters, build_job
from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import read_results
from pipetune.engines.base import Phase, Reason, ResourceRequest, RunRequest
from pipetune.engines.local import LocalEngine
from pipetune.engines.local._replicas import (
    ReplicaTemplate,
    pytorch_replicas,
    tf_replicas,
    trainer_replicas,
)

#: Writes the variables an operator injects, and the replica's own exit code, to results.
PROBE = """
import json, os, sys
from pipetune.contract import save_results
names = ["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "PET_NNODES", "PET_NODE_RANK",
         "PET_NPROC_PER_NODE", "PYTHONUNBUFFERED", "TF_CONFIG", "PET_MASTER_ADDR", "PET_MASTER_PORT"]
seen = {n: os.environ[n] for n in names if n in os.environ}
save_results(metrics={"ok": 1.0}, outputs={"env": json.dumps(seen), "argv": json.dumps(sys.argv[1:])})
rank = os.environ.get("RANK", "x")
if "SLEEP_" + rank in os.environ:
    import time
    time.sleep(float(os.environ["SLEEP_" + rank]))
sys.exit(int(os.environ.get("EXIT_" + rank, "0")))
"""


def ports() -> Any:
    numbers = count(40000)
    return lambda: next(numbers)


def test_pytorch_ranks_world_and_master_address() -> None:
    templates = [ReplicaTemplate("Worker", 2, ("w",), {"A": "1"}), ReplicaTemplate("Master", 1, ("m",))]
    replicas = pytorch_replicas(templates, None, ports())
    assert [(r.role, r.index, r.env["RANK"], r.primary) for r in replicas] == [
        ("Master", 0, "0", True), ("Worker", 0, "1", False), ("Worker", 1, "2", False),
    ]
    for replica in replicas:
        assert replica.env["WORLD_SIZE"] == "3" and replica.env["PET_NNODES"] == "3"
        assert replica.env["MASTER_ADDR"] == replica.env["PET_MASTER_ADDR"] == "127.0.0.1"
        assert replica.env["MASTER_PORT"] == replica.env["PET_MASTER_PORT"] == "40000"
        assert replica.env["PET_NODE_RANK"] == replica.env["RANK"]
        assert replica.env["PET_NPROC_PER_NODE"] == "auto" and replica.env["PYTHONUNBUFFERED"] == "1"
    assert replicas[1].env["A"] == "1"


def test_pytorch_world_size_counts_processes_per_node() -> None:
    replicas = pytorch_replicas([ReplicaTemplate("Master", 1, ("m",)), ReplicaTemplate("Worker", 1, ("w",))], "4", ports())
    assert {r.env["WORLD_SIZE"] for r in replicas} == {"8"}
    assert {r.env["PET_NPROC_PER_NODE"] for r in replicas} == {"4"}


def test_pytorch_without_a_master_sets_no_master_variables() -> None:
    replicas = pytorch_replicas([ReplicaTemplate("Worker", 2, ("w",))], None, ports())
    assert all("MASTER_ADDR" not in r.env and "RANK" not in r.env for r in replicas)
    assert all(r.env["PET_NNODES"] == "2" for r in replicas)


def test_tf_config_has_the_operators_shape_with_local_addresses() -> None:
    templates = [ReplicaTemplate("Chief", 1, ("c",)), ReplicaTemplate("Worker", 2, ("w",)),
                 ReplicaTemplate("PS", 1, ("p",)), ReplicaTemplate("Evaluator", 1, ("e",))]
    replicas = tf_replicas(templates, ports())
    assert replicas[0].role == "Chief" and replicas[0].primary
    config = json.loads(replicas[0].env["TF_CONFIG"])
    assert config == {
        "cluster": {
            "chief": ["127.0.0.1:40000"],
            "worker": ["127.0.0.1:40001", "127.0.0.1:40002"],
            "ps": ["127.0.0.1:40003"],
            "evaluator": ["127.0.0.1:40004"],
        },
        "task": {"type": "chief", "index": 0},
        "environment": "cloud",
    }
    second = next(r for r in replicas if r.role == "Worker" and r.index == 1)
    assert json.loads(second.env["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}


def test_tf_without_a_chief_makes_worker_0_primary_and_one_replica_gets_no_tf_config() -> None:
    replicas = tf_replicas([ReplicaTemplate("Worker", 2, ("w",))], ports())
    assert [(r.role, r.index) for r in replicas if r.primary] == [("Worker", 0)]
    alone = tf_replicas([ReplicaTemplate("Worker", 1, ("w",))], ports())
    assert "TF_CONFIG" not in alone[0].env


def test_trainjob_nodes_get_the_torch_runtime_variables() -> None:
    nodes = trainer_replicas(ReplicaTemplate("node", 2, ("t",)), "2", ports())
    assert [(n.env["PET_NODE_RANK"], n.primary) for n in nodes] == [("0", True), ("1", False)]
    assert all(n.env["PET_NNODES"] == "2" and n.env["PET_NPROC_PER_NODE"] == "2" for n in nodes)
    assert all(n.env["PET_MASTER_ADDR"] == "127.0.0.1" and "WORLD_SIZE" not in n.env for n in nodes)


def _run(tmp_path: Path, manifest: dict[str, Any], timeout: float = 60) -> tuple[Any, LocalEngine, Any]:
    engine = LocalEngine(grace=1.0)
    request = RunRequest(
        run_id="r1",
        component=ComponentSpec(name="job", container=ContainerSpec(image="x")),
        arguments={},
        outputs_dir=tmp_path / "run" / "outputs",
        echo=False,
        resource=ResourceRequest(manifest),
    )
    handle = engine.submit(request)
    return engine.wait(handle, timeout), engine, handle


def _probe_job(tmp_path: Path, kind: str, replicas: dict[str, int], env: dict[str, str] | None = None) -> dict[str, Any]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return build_job(kind, JobParameters(
        name="probe", image="python:3.11", command=["python", str(script)],
        args=["--out", "/outputs/x"], replicas=replicas, env=env or {},
    ))


def test_a_pytorchjob_runs_every_replica_and_returns_the_masters_results(tmp_path: Path) -> None:
    status, _, _ = _run(tmp_path, _probe_job(tmp_path, "PyTorchJob", {"Worker": 2}))
    assert status.phase is Phase.SUCCEEDED, status.message
    results = read_results(tmp_path / "run" / "outputs")
    env = json.loads(results.outputs["env"])
    assert env["RANK"] == "0" and env["WORLD_SIZE"] == "3"
    # /outputs in argv is the replica's own outputs directory.
    assert json.loads(results.outputs["argv"]) == ["--out", str(tmp_path / "run" / "outputs" / "x")]
    for index, rank in ((0, "1"), (1, "2")):
        worker = read_results(tmp_path / "run" / "replicas" / f"worker-{index}")
        assert json.loads(worker.outputs["env"])["RANK"] == rank
    assert (tmp_path / "run" / "logs" / "worker-1" / "stdout.log").exists()


def test_a_failing_worker_fails_the_job_naming_the_replica(tmp_path: Path) -> None:
    started = time.monotonic()
    manifest = _probe_job(tmp_path, "PyTorchJob", {"Worker": 2}, {"EXIT_2": "3", "SLEEP_0": "30"})
    status, _, _ = _run(tmp_path, manifest)
    # The Master, still running, was stopped: the job failed as soon as the worker did.
    assert time.monotonic() - started < 15
    assert status.phase is Phase.FAILED
    assert status.reason == Reason.REPLICA_FAILED
    assert status.message.startswith("replica Worker-1 exited with code 3")


def test_a_tfjob_hands_each_replica_its_tf_config(tmp_path: Path) -> None:
    status, _, _ = _run(tmp_path, _probe_job(tmp_path, "TFJob", {"Worker": 1}))
    assert status.phase is Phase.SUCCEEDED, status.message
    chief = json.loads(read_results(tmp_path / "run" / "outputs").outputs["env"])
    worker = json.loads(read_results(tmp_path / "run" / "replicas" / "worker-0").outputs["env"])
    assert json.loads(chief["TF_CONFIG"])["task"] == {"type": "chief", "index": 0}
    assert json.loads(worker["TF_CONFIG"])["task"] == {"type": "worker", "index": 0}


def test_an_invalid_replica_spec_starts_nothing(tmp_path: Path) -> None:
    manifest = _probe_job(tmp_path, "PyTorchJob", {"Worker": 1})
    manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "main"
    status, _, _ = _run(tmp_path, manifest)
    assert status.phase is Phase.FAILED and status.reason == Reason.NOT_RUNNABLE_LOCALLY
    assert "runs the container named 'pytorch'" in status.message
    assert not (tmp_path / "run" / "logs").exists()


def test_cancel_ends_every_replica(tmp_path: Path) -> None:
    script = tmp_path / "sleep.py"
    script.write_text("import time\ntime.sleep(60)\n")
    manifest = build_job("PyTorchJob", JobParameters(
        name="s", image="python:3.11", command=[sys.executable, str(script)], replicas={"Worker": 1}))
    engine = LocalEngine(grace=1.0)
    request = RunRequest("r", ComponentSpec(name="s", container=ContainerSpec(image="x")), {},
                         tmp_path / "outputs", echo=False, resource=ResourceRequest(manifest))
    handle = engine.submit(request)
    pids = [handle.process.process.pid] + [p.process.pid for _, p in handle.replicas]
    engine.cancel(handle)
    assert engine.poll(handle).phase is Phase.CANCELLED
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            import os
            os.kill(pid, 0)
