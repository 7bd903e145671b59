"""The journal's older records in ConfigMaps the parent owns, on the emulated cluster: written
before the status that references them, owned by the parent (uid), the status bounded; a
restarted controller reads them back and goes on as an uninterrupted one; one missing or edited
ends the run Failed, naming it; a status of the layout before (segments inline) still resumes.

Segments of 8 records and ConfigMaps of 1,500 bytes (``Layout``), so a 12-trial run spans
several ConfigMaps; the sizes a real run reaches are bench/controller_status.py's."""

from __future__ import annotations

import json
import re
from typing import Any

from controller.conftest import (
    CUSTOMRUNS,
    EXPERIMENTS,
    TASKRUNS,
    customrun,
    experiment_spec,
    finished,
    succeeded,
    train_outcome,
    wait_status,
)
from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.controller import Layout
from pipetune.controller._journal import ARCHIVE_FIELD, archive_names, journal_records

CONFIGMAPS = "v1/configmaps"
LAYOUT = Layout(segment=8, configmap_bytes=1500)
SPEC = experiment_spec(maxTrialCount=12, parallelTrialCount=2)


def records_of(cluster: EmulatedCluster, namespace: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every journal record of a parent, its ConfigMaps read as the controller reads them."""
    state = obj["status"]["extraFields"]
    found = {}
    for name in archive_names(state):
        configmap = cluster.get(CONFIGMAPS, namespace, name)
        found[name] = None if configmap is None else configmap.get("data") or {}
    return [dict(r) for r in journal_records(state, found)]


def assignments(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = {r["trial"]: r["assignment"] for r in records if r["op"] == "trial_created"}
    return [created[i] for i in sorted(created)]


def done_trials(obj: dict[str, Any]) -> int:
    found = re.search(r"(\d+)/12", succeeded(obj).get("message", ""))
    return int(found.group(1)) if found else (12 if finished(obj) else 0)


def test_the_journal_is_archived_in_configmaps_the_customrun_owns(cluster, namespace, start_controller):
    start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("run", namespace, spec=SPEC))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    state = done["status"]["extraFields"]
    names = archive_names(state)
    assert len(names) >= 3 and names[0] == "run-customrun-journal-00000"
    assert len(state["journal"]) < LAYOUT.segment and "journalSegments" not in state
    assert set(state[ARCHIVE_FIELD]) == {"base", "configMaps", "segments", "records", "bytes", "digest"}
    uid = done["metadata"]["uid"]
    for name in names:
        configmap = cluster.get(CONFIGMAPS, namespace, name)
        assert configmap is not None
        (owner,) = configmap["metadata"]["ownerReferences"]
        assert owner == {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "name": "run", "uid": uid,
                         "controller": True}
        assert configmap["metadata"]["labels"] == {"pipetune.dev/journal-kind": "CustomRun",
                                                   "pipetune.dev/journal-of": "run"}
        assert sum(len(k) + len(v) for k, v in configmap["data"].items()) <= LAYOUT.configmap_bytes
    records = records_of(cluster, namespace, done)
    assert sorted(r["trial"] for r in records if r["op"] == "trial_finished") == list(range(12))
    assert len(json.dumps(state)) < 12_000


def test_each_configmap_is_written_before_the_status_that_references_it(cluster, namespace, start_controller):
    """Every status the run went through references only ConfigMaps that existed, holding
    every segment it counts, when it was written."""
    seen: list[str] = []
    problems: list[str] = []

    def on_event(event) -> None:
        plural = event.resource.plural
        if plural == "configmaps":
            seen.append(event.object["metadata"]["name"])
        elif plural == "customruns" and event.object["metadata"]["name"] == "order":
            state = (event.object.get("status") or {}).get("extraFields") or {}
            missing = [n for n in archive_names(state) if n not in seen]
            if missing:
                problems.append(f"status at rv {event.rv} references {missing} before they exist")

    unlisten = cluster.emulator.add_listener(on_event)
    start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("order", namespace, spec=SPEC))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "order", finished)
    unlisten()
    assert succeeded(done)["status"] == "True"
    assert seen and not problems, problems


def test_a_restarted_controller_reads_the_configmaps_and_goes_on_as_an_uninterrupted_one(
        cluster, namespace, start_controller):
    controller = start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("ref", namespace, spec=SPEC))
    ref = wait_status(cluster, CUSTOMRUNS, namespace, "ref", finished)
    controller.stop()
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    first = start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("run", namespace, spec=SPEC))
    wait_status(cluster, CUSTOMRUNS, namespace, "run", lambda o: done_trials(o) >= 6)
    first.stop()
    middle = cluster.get(CUSTOMRUNS, namespace, "run")
    assert len(archive_names(middle["status"]["extraFields"])) >= 2  # the resume reads ConfigMaps
    start_controller(journal_layout=LAYOUT)
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    records, expected = records_of(cluster, namespace, done), records_of(cluster, namespace, ref)
    assert assignments(records) == assignments(expected)
    ends = [r for r in records if r["op"] == "trial_finished"]
    assert sorted(r["trial"] for r in ends) == list(range(12))  # each trial ended once: no duplicate
    names = sorted(t["metadata"]["name"] for t in cluster.objects(TASKRUNS, namespace)
                   if t["metadata"]["name"].startswith("run-"))
    assert names == [f"run-{i:04d}" for i in range(12)]
    assert {r["name"]: r["value"] for r in done["status"]["results"]} == {
        r["name"]: r["value"] for r in ref["status"]["results"]}


def _stopped_midway(cluster, namespace, start_controller, name: str = "run"):
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    first = start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun(name, namespace, spec=SPEC))
    wait_status(cluster, CUSTOMRUNS, namespace, name, lambda o: done_trials(o) >= 6)
    first.stop()
    return archive_names(cluster.get(CUSTOMRUNS, namespace, name)["status"]["extraFields"])


def test_a_missing_configmap_ends_the_run_failed_naming_it(cluster, namespace, start_controller):
    names = _stopped_midway(cluster, namespace, start_controller)
    cluster.delete(CONFIGMAPS, namespace, names[1])
    start_controller(journal_layout=LAYOUT)  # its teardown checks the controller raised nothing
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    condition = succeeded(done)
    assert condition["status"] == "False" and condition["reason"] == "JournalMissing", condition
    assert f"ConfigMap {names[1]}, which holds journal records of this run" in condition["message"]
    assert "Traceback" not in condition["message"]


def test_an_edited_configmap_ends_the_run_failed_naming_it(cluster, namespace, start_controller):
    names = _stopped_midway(cluster, namespace, start_controller)
    data = cluster.get(CONFIGMAPS, namespace, names[0])["data"]
    key = max(k for k in data if k != "link")
    other = cluster.get(CONFIGMAPS, namespace, names[1])["data"]
    forged = next(v for k, v in other.items() if k != "link")  # a valid segment, not this one
    cluster.patch(CONFIGMAPS, namespace, names[0], {"data": {key: forged}})
    start_controller(journal_layout=LAYOUT)
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    condition = succeeded(done)
    assert condition["status"] == "False" and condition["reason"] == "JournalEdited", condition
    assert f"ConfigMap {names[0]} does not hold the journal records that were written to it" in condition["message"]


def test_a_configmap_someone_else_owns_ends_the_run_failed_naming_it(cluster, namespace, start_controller):
    cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "taken-customrun-journal-00000", "namespace": namespace},
                                "data": {"mine": "yes"}})
    # The first trial ends, the second runs on: the first segment is frozen (and refused) while
    # a child runs.
    cluster.operator.outcome = lambda tr: train_outcome(tr) if tr["metadata"]["name"].endswith("-0000") \
        else Outcome(hang=True)
    start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("taken", namespace, spec=SPEC))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "taken", finished)
    condition = succeeded(done)
    assert condition["reason"] == "JournalConflict", condition
    assert f"ConfigMap {namespace}/taken-customrun-journal-00000 already exists" in condition["message"]
    assert cluster.get(CONFIGMAPS, namespace, "taken-customrun-journal-00000")["data"] == {"mine": "yes"}
    # Its trials are stopped: none is left running with nothing to record it.
    children = sorted((t for t in cluster.objects(TASKRUNS, namespace) if t["metadata"]["name"].startswith("taken-")),
                      key=lambda t: t["metadata"]["name"])
    assert [t["metadata"]["name"] for t in children] == ["taken-0000", "taken-0001"]
    assert [t["spec"].get("status") for t in children] == [None, "TaskRunCancelled"]


def test_a_status_of_the_layout_before_resumes_and_its_segments_move_to_configmaps(
        cluster, namespace, start_controller):
    """A CustomRun a controller of the commit before was running: its segments in the status
    (``journalSegments``), no ConfigMaps. The new controller resumes it, writes its ConfigMaps
    and drops the inline segments."""
    controller = start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("ref", namespace, spec=SPEC))
    ref = wait_status(cluster, CUSTOMRUNS, namespace, "ref", finished)
    controller.stop()
    names = _stopped_midway(cluster, namespace, start_controller)
    state = cluster.get(CUSTOMRUNS, namespace, "run")["status"]["extraFields"]
    inline = {}
    for name in names:
        data = cluster.get(CONFIGMAPS, namespace, name)["data"]
        inline.update({k: v for k, v in data.items() if k != "link"})
        cluster.delete(CONFIGMAPS, namespace, name)
    inline = {k: v for k, v in inline.items() if int(k) < state[ARCHIVE_FIELD]["segments"]}
    cluster.patch_status(CUSTOMRUNS, namespace, "run", {"extraFields": {ARCHIVE_FIELD: None,
                                                                        "journalSegments": inline}})
    start_controller(journal_layout=LAYOUT)
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    assert "journalSegments" not in done["status"]["extraFields"]
    assert all(cluster.get(CONFIGMAPS, namespace, n) is not None for n in archive_names(done["status"]["extraFields"]))
    assert assignments(records_of(cluster, namespace, done)) == assignments(records_of(cluster, namespace, ref))


def test_an_experiments_journal_is_archived_in_configmaps_it_owns(cluster, namespace, start_controller):
    start_controller(journal_layout=LAYOUT)
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "alone", "namespace": namespace}, "spec": SPEC})
    done = wait_status(cluster, EXPERIMENTS, namespace, "alone", lambda o: any(
        c["type"] == "Succeeded" and c["status"] == "True" for c in (o.get("status") or {}).get("conditions") or []))
    names = archive_names(done["status"]["extraFields"])
    assert names and names[0] == "alone-experiment-journal-00000"
    for name in names:
        (owner,) = cluster.get(CONFIGMAPS, namespace, name)["metadata"]["ownerReferences"]
        assert owner["kind"] == "Experiment" and owner["uid"] == done["metadata"]["uid"]
    assert done["status"]["trialsSucceeded"] == 12
    assert len(records_of(cluster, namespace, done)) > LAYOUT.segment * len(names)


def test_a_retry_archives_its_own_journal_over_the_failed_attempts_configmaps(cluster, namespace, start_controller):
    """A CustomRun's next attempt starts its journal afresh: its first ConfigMaps, already there
    (the failed attempt's, the same owner), are replaced whole (a create answered 409)."""
    cluster.operator.outcome = lambda tr: Outcome(succeed=False) if re.fullmatch(
        r"again-000[4-9]", tr["metadata"]["name"]) else train_outcome(tr)
    start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("again", namespace, retries=1,
                                         spec=experiment_spec(maxTrialCount=12, parallelTrialCount=2,
                                                              maxFailedTrialCount=1)))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "again", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    (first,) = done["status"]["retriesStatus"]
    assert succeeded({"status": first})["reason"] == "ExperimentMaxFailedTrialsReached" and first["extraFields"] == {"attempt": 0}
    assert cluster.emulator.requests()[("get", "configmaps")] >= 1  # the 409's look at whose it is
    records = records_of(cluster, namespace, done)
    ends = [r for r in records if r["op"] == "trial_finished"]
    assert sorted(r["trial"] for r in ends) == list(range(12)) and {r["status"] for r in ends} == {"Succeeded"}
    # The retry's own journal only: one start, its experiment named after attempt 1.
    assert [r["name"] for r in records if r["op"] == "experiment_started"] == ["again-r1"]


def test_a_configmap_the_server_refuses_ends_the_run_failed_with_its_reason(cluster, namespace, start_controller):
    cluster.emulator.fail("create", "configmaps", 422, times=None,
                          message='ConfigMap "refused-customrun-journal-00000" is invalid: []: Too long')
    start_controller(journal_layout=LAYOUT)
    cluster.create(CUSTOMRUNS, customrun("refused", namespace, spec=SPEC))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "refused", finished))
    assert (condition["status"], condition["reason"]) == ("False", "JournalRefused"), condition
    assert condition["message"] == (f"ConfigMap {namespace}/refused-customrun-journal-00000: the API server refused "
                                    'the journal\'s ConfigMap: ConfigMap "refused-customrun-journal-00000" is '
                                    "invalid: []: Too long")


def test_an_experiment_whose_configmap_is_missing_ends_failed_naming_it(cluster, namespace, start_controller):
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    first = start_controller(journal_layout=LAYOUT)
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "lost", "namespace": namespace}, "spec": SPEC})
    wait_status(cluster, EXPERIMENTS, namespace, "lost", lambda o: (o.get("status") or {}).get("trialsSucceeded", 0) >= 6)
    first.stop()
    (name, *_) = archive_names(cluster.get(EXPERIMENTS, namespace, "lost")["status"]["extraFields"])
    cluster.delete(CONFIGMAPS, namespace, name)
    start_controller(journal_layout=LAYOUT)
    done = wait_status(cluster, EXPERIMENTS, namespace, "lost", lambda o: any(
        c["type"] == "Failed" and c["status"] == "True" for c in (o.get("status") or {}).get("conditions") or []))
    (failed,) = [c for c in done["status"]["conditions"] if c["type"] == "Failed"]
    assert failed["reason"] == "JournalMissing" and f"ConfigMap {name}," in failed["message"]
