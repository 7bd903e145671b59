"""State directories for the dashboard and run-tracking tests, written through pipetune's own
writers (the run store, the journal, results.yaml) in the shape the tuner leaves them, so a
test can hold an experiment "running" and add a trial while a page is open."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.contract import Results, write_results
from pipetune.store import RunRecord, RunStore
from pipetune.tuner.journal import Journal
from pipetune.tuner.loop import experiment_run_id


def loss(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y - 0.7) ** 2


@dataclass
class FakeExperiment:
    """An experiment written trial by trial: ``add`` appends a finished (or running) trial."""

    store: RunStore
    name: str
    directory: Path
    minimize: bool = True
    run_id: str = ""
    journal: Journal = field(init=False)
    trials: int = 0

    def __post_init__(self) -> None:
        self.journal = Journal(self.directory / "journal.jsonl")
        self.run_id = experiment_run_id(self.name, self.directory)
        self.store.create(RunRecord(id=self.run_id, component=f"experiment/{self.name}", engine="local",
                                    status="Running", parameters={"algorithm": "random", "seed": 1},
                                    outputs_dir=str(self.directory), started_at=time.time()))
        self.journal.append("experiment_started", version=1, name=self.name, seed=1, spec="x" * 16,
                            metric="loss", minimize=self.minimize, parameters=["x", "y", "kind"], time=time.time())

    def add(self, x: float, y: float, kind: str = "a", status: str = "Succeeded", steps: int = 3,
            log: str = "") -> str:
        """One trial: its run (outputs with results.yaml and history, logs) and its records."""
        index = self.trials
        self.trials += 1
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{index:04d}{abs(hash(self.name)) % 10000:04d}"
        outputs = self.store.run_dir(run_id) / "outputs"
        logs = self.store.run_dir(run_id) / "logs"
        outputs.mkdir(parents=True)
        logs.mkdir(parents=True)
        value = loss(x, y)
        history = [{"step": s, "loss": value + (steps - s) * 0.1} for s in range(1, steps + 1)]
        assignment = {"x": x, "y": y, "kind": kind}
        now = time.time()
        running = status == "Running"
        self.store.create(RunRecord(
            id=run_id, parent_id=self.run_id, component=f"{self.name}-{index:04d}", engine="local",
            status="Running" if running else ("Succeeded" if status in ("Succeeded", "EarlyStopped") else "Failed"),
            parameters={"x": str(x), "y": str(y)}, created_at=now, started_at=now,
            finished_at=None if running else now + 0.5, outputs_dir=str(outputs),
            metrics=None if running or status == "Failed" else {"loss": value}))
        metrics = {} if status == "Failed" else {"loss": value}
        write_results(Results(metrics=metrics if not running else {}, history=history,
                              artifacts={"model": "model.bin"}), outputs)
        (outputs / "model.bin").write_bytes(b"\0" * 2048)
        (logs / "stdout.log").write_text(log or "".join(f"step {s} loss={h['loss']}\n" for s, h in
                                                        enumerate(history, 1)))
        (logs / "stderr.log").write_text("" if status != "Failed" else "Traceback: x is too large\n")
        self.journal.append("trial_created", trial=index, assignment=assignment, internal=None, time=now)
        self.journal.append("trial_started", trial=index, attempt=0, run_id=run_id, time=now)
        if not running:
            objective = None if status == "Failed" else value
            self.journal.append("trial_finished", trial=index, attempt=0, status=status, objective=objective,
                                metrics=metrics, reason="Completed" if objective is not None else "NonZeroExitCode",
                                message=None if objective is not None else "exit code 1", run_id=run_id,
                                time=now + 0.5)
        return run_id

    def finish(self) -> None:
        self.journal.append("experiment_finished", status="Succeeded", reason="ExperimentMaxTrialsReached",
                            message=f"all {self.trials} trials have finished", time=time.time())
        self.store.update(self.run_id, status="Succeeded", finished_at=time.time())


def finished_and_running(state_dir: Path) -> tuple[FakeExperiment, FakeExperiment]:
    """Two experiments: ``done`` (8 trials, one failed, one stopped early, then finished) and
    ``live`` (3 trials finished, one running, the experiment still running)."""
    store = RunStore(state_dir)
    done = FakeExperiment(store, "done", state_dir / "experiments" / "done")
    points: list[tuple[float, float, str, str]] = [
        (0.1, 0.2, "a", "Succeeded"), (0.9, 0.9, "b", "Failed"), (0.35, 0.65, "a", "Succeeded"),
        (0.5, 0.1, "b", "EarlyStopped"), (0.2, 0.8, "b", "Succeeded"), (0.7, 0.3, "a", "Succeeded"),
        (0.31, 0.69, "a", "Succeeded"), (0.6, 0.6, "b", "Succeeded"),
    ]
    for x, y, kind, status in points:
        done.add(x, y, kind, status)
    done.finish()
    live = FakeExperiment(store, "live", state_dir / "experiments" / "live")
    for x, y in ((0.4, 0.4), (0.8, 0.2), (0.25, 0.75)):
        live.add(x, y)
    live.add(0.5, 0.5, status="Running")
    plain = RunRecord(id="20200101-000000-solo0001", component="train-sklearn", engine="local", status="Succeeded",
                      parameters={"n_estimators": "10"}, created_at=time.time() - 86400 * 30,
                      started_at=time.time() - 86400 * 30, finished_at=time.time() - 86400 * 30 + 3,
                      metrics={"accuracy": 0.9}, outputs_dir=str(store.run_dir("20200101-000000-solo0001") / "outputs"))
    store.create(plain)
    (store.run_dir(plain.id) / "outputs").mkdir(parents=True)
    (store.run_dir(plain.id) / "logs").mkdir(parents=True)
    (store.run_dir(plain.id) / "logs" / "stdout.log").write_text("".join(f"line {i}\n" for i in range(1000)))
    write_results(Results(metrics={"accuracy": 0.9}), store.run_dir(plain.id) / "outputs")
    store.close()
    return done, live


def objective_values(trials: list[dict[str, Any]]) -> list[float]:
    return [t["objective"] for t in trials if t["objective"] is not None]


def pipeline_run(state_dir: Path, graph: bool = True) -> str:
    """A finished pipeline run of three tasks, prepare -> (train, report), ``train`` failed;
    with ``graph``, the task graph in its folder (``pipeline.json``)."""
    store = RunStore(state_dir)
    now = time.time()
    pipeline_id = "20260101-000000-pipe0001"
    store.create(RunRecord(id=pipeline_id, component="pipeline/demo", engine="local", status="Failed",
                           parameters={"rows": 10}, created_at=now, started_at=now, finished_at=now + 3,
                           outputs_dir=str(store.run_dir(pipeline_id)), message="task train failed"))
    tasks = {}
    for i, (name, status, needs) in enumerate((("prepare", "Succeeded", []), ("train", "Failed", ["prepare"]),
                                              ("report", "Succeeded", ["prepare"]))):
        run_id = f"20260101-00000{i + 1}-task000{i}"
        store.create(RunRecord(id=run_id, parent_id=pipeline_id, component=name, engine="local", status=status,
                               created_at=now + i, started_at=now + i, finished_at=now + i + 1,
                               outputs={"rows": 10} if status == "Succeeded" else None,
                               outputs_dir=str(store.run_dir(run_id) / "outputs")))
        tasks[name] = {"needs": needs, "run_id": run_id}
    store.run_dir(pipeline_id).mkdir(parents=True, exist_ok=True)
    if graph:
        (store.run_dir(pipeline_id) / "pipeline.json").write_text(json.dumps({"tasks": tasks}))
    store.close()
    return pipeline_id
