"""The pipeline scheduler: decisions from a kind's ``Steps`` drive starts, skips, cancels,
per-launch timeouts and retries, on the real local engine."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.engines.base import Phase
from pipetune.engines.local import LocalEngine
from pipetune.pipeline import Decision, Launch, Step, Steps, TaskOutcome, run_steps
from pipetune.store import RunStore, new_run_id


def _step(code: str, store: RunStore) -> Step:
    run_id = new_run_id()
    component = ComponentSpec(name="t", container=ContainerSpec(image="python", command=(sys.executable, "-c", code)))
    return Step(component, {}, {}, run_id)


class Scripted(Steps):
    """A kind whose decisions are given as a function, for the test."""

    def __init__(self, decide: Any) -> None:
        self._decide = decide
        self.seen: list[dict[str, str]] = []

    def decide(self, outcomes: Mapping[str, TaskOutcome], elapsed: float, store: RunStore) -> Decision:
        self.seen.append({k: o.phase.value for k, o in outcomes.items()})
        decision: Decision = self._decide(outcomes, store)
        return decision

    def collect(self, key: str, task: str, step: Step, results: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"key": key, "task": task}, {}


def _run(steps: Steps, tmp_path: Path, parallel: int = 4) -> Any:
    engine = LocalEngine()
    try:
        return run_steps("p", steps, {}, RunStore(tmp_path / "state"), engine, parallel=parallel, say=lambda _: None)
    finally:
        engine.close()


def test_a_skip_decided_from_an_outcome_never_runs_and_the_run_succeeds(tmp_path: Path) -> None:
    def decide(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "a" not in outcomes:
            return Decision(start=[Launch("a", lambda: _step("pass", store))])
        if not outcomes["a"].final:
            return Decision()
        return Decision(skip={"b": "when: a said no"}, done=True)

    result = _run(Scripted(decide), tmp_path)
    assert result.succeeded
    assert result.tasks["a"].phase is Phase.SUCCEEDED and result.tasks["a"].parameters == {"key": "a", "task": "a"}
    assert result.tasks["b"].skipped and result.tasks["b"].run_id is None


def test_a_failed_attempt_is_retried_and_the_second_attempt_counts(tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    code = (f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); first = not p.exists(); p.touch(); "
            "sys.exit(3 if first else 0)")

    def decide(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "a" not in outcomes:
            return Decision(start=[Launch("a", lambda: _step(code, store), retries=2)])
        return Decision(done=outcomes["a"].final)

    result = _run(Scripted(decide), tmp_path)
    assert result.succeeded and result.tasks["a"].attempts == 2


def test_retries_run_out_and_the_run_fails_naming_the_task(tmp_path: Path) -> None:
    def decide(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "a" not in outcomes:
            return Decision(start=[Launch("a[0]", lambda: _step("raise SystemExit(4)", store), task="a", retries=1)]
                            if "a[0]" not in outcomes else [])
        return Decision(done=True)

    def decide_keyed(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "a[0]" not in outcomes:
            return decide(outcomes, store)
        return Decision(done=outcomes["a[0]"].final)

    result = _run(Scripted(decide_keyed), tmp_path)
    assert not result.succeeded and result.failed_task == "a[0]"
    assert result.tasks["a[0]"].attempts == 2 and result.tasks["a[0]"].phase is Phase.FAILED


def test_a_launch_timeout_ends_the_attempt(tmp_path: Path) -> None:
    def decide(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "slow" not in outcomes:
            return Decision(start=[Launch("slow", lambda: _step("import time; time.sleep(120)", store), timeout=0.5)])
        return Decision(done=outcomes["slow"].final)

    result = _run(Scripted(decide), tmp_path)
    assert not result.succeeded and result.tasks["slow"].reason == "Timeout"


def test_a_decision_may_cancel_a_running_instance(tmp_path: Path) -> None:
    def decide(outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Decision:
        if "slow" not in outcomes:
            return Decision(start=[Launch("slow", lambda: _step("import time; time.sleep(120)", store))])
        if outcomes["slow"].phase is Phase.RUNNING:
            return Decision(cancel={"slow": "pipeline timeout"})
        return Decision(done=outcomes["slow"].final, succeeded=False, message="timed out")

    result = _run(Scripted(decide), tmp_path)
    assert not result.succeeded and result.tasks["slow"].phase is Phase.CANCELLED
    assert result.tasks["slow"].message == "pipeline timeout"


def test_parallel_bounds_how_many_run_at_once(tmp_path: Path) -> None:
    steps = Scripted(lambda outcomes, store: Decision(
        start=[Launch(f"t[{i}]", lambda: _step("pass", store), task="t") for i in range(3)],
        done=len(outcomes) == 3 and all(o.final for o in outcomes.values())))
    result = _run(steps, tmp_path, parallel=1)
    assert result.succeeded and len(result.tasks) == 3
    store = RunStore(tmp_path / "state")
    records = sorted((store.get(o.run_id) for o in result.tasks.values() if o.run_id), key=lambda r: r.started_at or 0)
    assert all((a.finished_at or 0) <= (b.started_at or 0) for a, b in zip(records, records[1:]))


def test_decisions_that_neither_start_nor_end_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="started nothing"):
        _run(Scripted(lambda outcomes, store: Decision()), tmp_path)
