"""A controller killed at any point and started again: children adopted by label, no duplicate
trial, no lost result, the same suggestions as an uninterrupted run with the same seed."""

from __future__ import annotations

import re
import time

from controller.conftest import (
    CUSTOMRUNS,
    TASKRUNS,
    customrun,
    experiment_spec,
    finished,
    succeeded,
    train_outcome,
    wait_status,
)
from kube.operator import Outcome

SPEC = experiment_spec(maxTrialCount=9, parallelTrialCount=3)


def assignments(obj) -> list[dict]:
    journal = obj["status"]["extraFields"]["journal"]
    created = {r["trial"]: r["assignment"] for r in journal if r["op"] == "trial_created"}
    return [created[i] for i in sorted(created)]


def finishes(obj) -> dict[int, list[dict]]:
    ends: dict[int, list[dict]] = {}
    for record in obj["status"]["extraFields"]["journal"]:
        if record["op"] == "trial_finished":
            ends.setdefault(record["trial"], []).append(record)
    return ends


def children_ended(cluster, namespace, prefix: str, timeout: float = 30) -> None:
    """Wait until every child TaskRun named ``prefix...`` has a final Succeeded condition."""
    deadline = time.monotonic() + timeout
    while True:
        children = [t for t in cluster.objects(TASKRUNS, namespace) if t["metadata"]["name"].startswith(prefix)]
        if children and all(succeeded(t).get("status") in ("True", "False") for t in children):
            return
        assert time.monotonic() < deadline, [succeeded(t) for t in children]
        time.sleep(0.02)


def reference(cluster, namespace, start_controller) -> dict:
    """The same experiment run without interruption."""
    controller = start_controller()
    cluster.create(CUSTOMRUNS, customrun("ref", namespace, spec=SPEC))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "ref", finished)
    controller.stop()
    return done


def check_same_as_reference(cluster, namespace, done, ref) -> None:
    assert succeeded(done)["status"] == "True", succeeded(done)
    assert assignments(done) == assignments(ref)
    ends = finishes(done)
    assert sorted(ends) == list(range(9))
    assert all(len(v) == 1 and v[0]["status"] == "Succeeded" for v in ends.values()), ends
    names = sorted(name for name in (t["metadata"]["name"] for t in cluster.objects(TASKRUNS, namespace))
                   if name.startswith("run-"))
    assert names == [f"run-{i:04d}" for i in range(9)]  # one child per trial: nothing duplicated
    assert {r["name"]: r["value"] for r in done["status"]["results"]} == {r["name"]: r["value"] for r in ref["status"]["results"]}


def at_least(run: dict, trials: int) -> bool:
    """Whether the run's status says ``trials`` or more of its 9 trials are done, or it ended.

    A busy machine can let the controller pass a given count between two polls (it once went
    from 5/9 to 8/9), so a wait for one exact count could time out."""
    if finished(run):
        return True
    found = re.search(r"(\d+)/9", succeeded(run).get("message", ""))
    return found is not None and int(found.group(1)) >= trials


def test_killed_while_trials_run_and_while_none_does(cluster, namespace, start_controller):
    ref = reference(cluster, namespace, start_controller)
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.15)
    first = start_controller()
    cluster.create(CUSTOMRUNS, customrun("run", namespace, spec=SPEC))
    wait_status(cluster, CUSTOMRUNS, namespace, "run", lambda o: at_least(o, 2))
    first.stop()  # killed with trials running: they go on without it
    children_ended(cluster, namespace, "run-")  # and end while no controller runs
    second = start_controller()
    wait_status(cluster, CUSTOMRUNS, namespace, "run", lambda o: at_least(o, 6))
    second.stop()
    start_controller()
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    check_same_as_reference(cluster, namespace, done, ref)


def test_killed_after_the_journal_write_before_the_children_exist(cluster, namespace, start_controller):
    ref = reference(cluster, namespace, start_controller)
    cluster.operator.outcome = train_outcome
    cluster.emulator.fail("create", "taskruns", 500, times=None)
    first = start_controller()
    cluster.create(CUSTOMRUNS, customrun("run", namespace, spec=SPEC))
    wait_status(cluster, CUSTOMRUNS, namespace, "run", lambda o: len(
        [r for r in (o.get("status") or {}).get("extraFields", {}).get("journal", []) if r["op"] == "trial_created"]) == 3)
    first.stop()
    assert not cluster.objects(TASKRUNS, namespace) or all(t["metadata"]["name"].startswith("ref-")
                                                            for t in cluster.objects(TASKRUNS, namespace))
    cluster.emulator.clear_faults()
    start_controller()
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    check_same_as_reference(cluster, namespace, done, ref)


def test_killed_after_creating_children_before_writing_their_start(cluster, namespace, start_controller):
    ref = reference(cluster, namespace, start_controller)
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    armed = []

    def on_event(event) -> None:
        # The first child of "run" exists: from now on every status write fails, as if the
        # controller died right after creating its children.
        if not armed and event.resource.plural == "taskruns" and str(event.object["metadata"]["name"]).startswith("run-"):
            armed.append(cluster.emulator.fail("patch", "customruns/status", 500, times=None))

    unlisten = cluster.emulator.add_listener(on_event)
    first = start_controller()
    cluster.create(CUSTOMRUNS, customrun("run", namespace, spec=SPEC))
    deadline = time.monotonic() + 10
    while not armed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert armed
    deadline = time.monotonic() + 10
    while not armed[0].hits and time.monotonic() < deadline:  # a status write has failed
        time.sleep(0.02)
    assert armed[0].hits
    first.stop()
    unlisten()
    cluster.emulator.clear_faults()
    start_controller()
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    check_same_as_reference(cluster, namespace, done, ref)
