"""One reconcile writes its parent's status at most once: the plan is applied once, with the
journal of the trials it creates written before them (tests/controller/test_restart.py checks
that a restart explains every child)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from controller.conftest import (
    CUSTOMRUNS,
    EXPERIMENTS,
    TASKRUNS,
    customrun,
    experiment_spec,
    finished,
    succeeded,
    wait_status,
)
from kube.emulator import EmulatedCluster
from pipetune.controller import Controller


def count_writes(cluster: EmulatedCluster, controller: Controller, resource: str) -> list[int]:
    """The status writes (PATCH ``resource``) each reconcile makes, one entry per reconcile; the
    test runs one parent, so no other reconcile writes meanwhile."""
    writes: list[int] = []
    lock = threading.Lock()
    reconcile: Callable[..., Any] = controller.reconcile

    def counted(key: Any) -> Any:
        with lock:
            before = cluster.emulator.requests()[("patch", resource)]
            try:
                return reconcile(key)
            finally:
                writes.append(cluster.emulator.requests()[("patch", resource)] - before)

    controller.reconcile = counted  # type: ignore[method-assign]
    return writes


def test_a_customrun_reconcile_writes_its_status_at_most_once(cluster, namespace, start_controller):
    running = start_controller()
    writes = count_writes(cluster, running.controller, "customruns/status")
    cluster.create(CUSTOMRUNS, customrun("count", namespace, spec=experiment_spec(maxTrialCount=9)))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "count", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    assert len(cluster.objects(TASKRUNS, namespace)) == 9
    assert max(writes) == 1, writes
    assert sum(writes) == cluster.emulator.requests()[("patch", "customruns/status")]
    # Started, the first turn (3 trials), then one write per turn that collected an end (with
    # the successor it started, the last with the results): at most 1 + 1 + 9. Before the
    # single plan the same run wrote 25 times, up to 3 times in one reconcile (the journal
    # mid-step before the children, again after them, then the status).
    assert sum(writes) <= 11, writes


def test_an_experiment_reconcile_writes_its_status_at_most_once(cluster, namespace, start_controller):
    running = start_controller()
    writes = count_writes(cluster, running.controller, "experiments/status")
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "count", "namespace": namespace},
                                 "spec": experiment_spec(maxTrialCount=9)})
    wait_status(cluster, EXPERIMENTS, namespace, "count", lambda o: any(
        c["type"] == "Succeeded" and c["status"] == "True" for c in (o.get("status") or {}).get("conditions") or []))
    assert max(writes) == 1, writes
    assert sum(writes) <= 10, writes  # the first turn, then one per trial's end (24 before)
