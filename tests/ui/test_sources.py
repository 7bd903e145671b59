"""The dashboard's sources (``tracking.Source``): a state directory (``LocalSource``) and a
cluster namespace (``ClusterSource``, against the emulated cluster of tests/kube) answer in
the same shapes, so the one API serves both: the same journal gives the same experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kube.conftest import api_client, cluster, namespace  # noqa: F401 - fixtures
from kube.emulator import EmulatedCluster
from kube.journal import archived_journal
from pipetune.tracking import LocalSource, NotFound, Refused
from pipetune.ui import Api, ClusterSource
from ui.stores import finished_and_running

CUSTOMRUNS = "tekton.dev/v1beta1/customruns"


def answer(api: Api, path: str) -> Any:
    reply = api.handle([p for p in path.split("/") if p], {})
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def journal_lines(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines() if line.strip()]


def a_customrun(cluster: EmulatedCluster, namespace: str, name: str, state: dict[str, Any],  # noqa: F811
                succeeded: str = "True", reason: str = "Succeeded") -> None:
    """A tuning CustomRun as the controller leaves it: its conditions and the journal in its
    status.extraFields."""
    cluster.create(CUSTOMRUNS, {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun",
                                "metadata": {"name": name, "namespace": namespace},
                                "spec": {"customRef": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                                       "name": "template"}}})
    cluster.patch_status(CUSTOMRUNS, namespace, name, {
        "startTime": "2026-12-04T10:00:00Z", "completionTime": "2026-12-04T10:05:00Z",
        "conditions": [{"type": "Succeeded", "status": succeeded, "reason": reason, "message": "m"}],
        "extraFields": state})


def test_the_same_journal_reads_the_same_on_a_cluster_as_locally(cluster: EmulatedCluster, namespace: str,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    done, _ = finished_and_running(tmp_path / "state")
    local = Api(LocalSource(tmp_path / "state"))
    a_customrun(cluster, namespace, "done", archived_journal(cluster, namespace, "CustomRun", "done",
                                                             journal_lines(done.directory)))
    source = ClusterSource(cluster.api_client(), namespace, ttl=0.0)
    try:
        remote = Api(source)
        here, there = answer(local, f"/api/experiments/{done.run_id}"), answer(remote, "/api/experiments/customrun.done")
        assert set(here) == set(there) and set(here["experiment"]) == set(there["experiment"])
        for key in ("name", "status", "metric", "minimize", "parameters", "trials", "done", "counts"):
            assert here["experiment"][key] == there["experiment"][key], key
        assert here["experiment"]["best"]["objective"] == there["experiment"]["best"]["objective"]
        assert there["experiment"]["best"]["run_id"] == "done-0006"  # its trial's resource
        assert [set(t) for t in here["trials"]] == [set(t) for t in there["trials"]]
        drop = ("run_id", "started", "duration")
        assert [{k: v for k, v in t.items() if k not in drop} for t in here["trials"]] == [
            {k: v for k, v in t.items() if k not in drop} for t in there["trials"]]
        assert here["figures"] == there["figures"]
        assert there["experiment"]["started"] == pytest.approx(1_796_378_400.0)
        assert there["experiment"]["duration"] == pytest.approx(300.0)
    finally:
        source.close()


def test_a_journal_that_does_not_decode_shows_the_experiment_with_why(cluster: EmulatedCluster,  # noqa: F811
                                                                      namespace: str) -> None:  # noqa: F811
    a_customrun(cluster, namespace, "broken", {"journalSegments": {"000000": "not base64 !"}, "journal": []},
                succeeded="False", reason="CustomRunCancelled")
    a_customrun(cluster, namespace, "empty", {})
    source = ClusterSource(cluster.api_client(), namespace, ttl=0.0)
    try:
        listed = {x["id"]: x for x in answer(Api(source), "/api/experiments")["experiments"]}
        assert set(listed) == {"customrun.broken", "customrun.empty"}
        broken = listed["customrun.broken"]
        assert broken["status"] == "Cancelled" and broken["trials"] == 0
        assert "journalSegments[000000]" in broken["problem"]
        assert listed["customrun.empty"]["status"] == "Succeeded" and listed["customrun.empty"]["problem"] is None
    finally:
        source.close()


def test_the_cluster_is_listed_once_per_ttl_however_many_pages_ask(cluster: EmulatedCluster,  # noqa: F811
                                                                   namespace: str) -> None:  # noqa: F811
    a_customrun(cluster, namespace, "one", {})
    now = [0.0]
    source = ClusterSource(cluster.api_client(), namespace, ttl=2.0, clock=lambda: now[0])
    try:
        api = Api(source)
        cluster.emulator.reset_requests()
        for _ in range(10):
            answer(api, "/api/experiments")
            answer(api, "/api/runs")
        assert cluster.emulator.requests()[("list", "customruns")] == 1
        now[0] = 2.5
        a_customrun(cluster, namespace, "two", {})
        assert {x["id"] for x in answer(api, "/api/experiments")["experiments"]} == {"customrun.one", "customrun.two"}
        assert cluster.emulator.requests()[("list", "customruns")] == 2
        # A CustomRun that is gone from the cluster is gone from the runs too.
        cluster.delete(CUSTOMRUNS, namespace, "one")
        now[0] = 5.0
        assert [r["id"] for r in answer(api, "/api/runs")["runs"]] == ["customrun.two"]
    finally:
        source.close()


def test_a_local_log_or_file_outside_the_runs_folders_is_refused(tmp_path: Path) -> None:
    done, _ = finished_and_running(tmp_path / "state")
    source = LocalSource(tmp_path / "state")
    record = source.trial_records(source.experiment(done.run_id))[0]  # type: ignore[arg-type]
    assert [entry["path"] for entry in source.logs(record)] == ["stderr.log", "stdout.log"]
    assert source.log(record, "stdout.log", 1).decode().startswith("step 3")
    for name in ("../outputs/results.yaml", "/etc/passwd", "a/../../b"):
        with pytest.raises(Refused):
            source.log(record, name, 0)
    with pytest.raises(NotFound):
        source.file(record, "missing.bin")
    assert source.file(record, "model.bin") == b"\0" * 2048
    assert source.experiment("no-such-experiment") is None


def test_each_parents_conditions_read_as_a_runs_status(cluster: EmulatedCluster, namespace: str) -> None:  # noqa: F811
    a_customrun(cluster, namespace, "running", {}, succeeded="Unknown", reason="Running")
    a_customrun(cluster, namespace, "failed", {}, succeeded="False", reason="CustomRunTimedOut")
    cluster.create(CUSTOMRUNS, {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun",
                                "metadata": {"name": "new", "namespace": namespace},
                                "spec": {"customSpec": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                                        "spec": {"algorithm": {"algorithmName": "tpe"}}}}})
    experiments = "pipetune.dev/v1alpha1/experiments"
    for name, conditions in (("katib-failed", [("Created", "True"), ("Running", "False"), ("Failed", "True")]),
                             ("katib-running", [("Created", "True"), ("Running", "True")]),
                             ("template", [])):
        labels = {"pipetune.dev/template": "true"} if name == "template" else {}
        cluster.create(experiments, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                     "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}})
        if conditions:
            cluster.patch_status(experiments, namespace, name, {"conditions": [
                {"type": t, "status": v, "reason": f"{t}Reason", "message": t} for t, v in conditions]})
    # A CustomRun of another custom task is not pipetune's.
    cluster.create(CUSTOMRUNS, {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun",
                                "metadata": {"name": "other", "namespace": namespace},
                                "spec": {"customRef": {"apiVersion": "example.dev/v1", "kind": "Wait"}}})
    source = ClusterSource(cluster.api_client(), namespace, ttl=0.0)
    try:
        listed = {x["id"]: x for x in answer(Api(source), "/api/experiments")["experiments"]}
        assert {k: v["status"] for k, v in listed.items()} == {
            "customrun.running": "Running", "customrun.failed": "Failed", "customrun.new": "Pending",
            "experiment.katib-failed": "Failed", "experiment.katib-running": "Running"}
        assert listed["customrun.failed"]["reason"] == "CustomRunTimedOut"
        assert listed["experiment.katib-failed"]["reason"] == "FailedReason"
        assert listed["customrun.new"]["algorithm"] == "tpe" and listed["customrun.running"]["algorithm"] is None
    finally:
        source.close()
