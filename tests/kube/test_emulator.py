"""The emulated cluster behaves as an API server and its controllers do, seen through the real
``kubernetes`` client: each behaviour the emulator adds to kmock, and the fake operator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import kmock
import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .emulator import EmulatedCluster, parse_label_selector
from .operator import Outcome, by_name

PYTORCHJOBS = ("kubeflow.org", "v1")
PTJ = "kubeflow.org/v1/pytorchjobs"


def pytorchjob(name: str, labels: dict[str, str] | None = None, workers: int = 0,
               template_labels: dict[str, str] | None = None) -> dict[str, Any]:
    def replica(count: int) -> dict[str, Any]:
        return {"replicas": count, "restartPolicy": "Never", "template": {
            "metadata": {"labels": dict(template_labels or {})},
            "spec": {"containers": [{"name": "pytorch", "image": "python:3.11", "command": ["python", "-c", "0"]}]}}}
    specs = {"Master": replica(1)}
    if workers:
        specs["Worker"] = replica(workers)
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"pytorchReplicaSpecs": specs}}


def create_ptj(custom: client.CustomObjectsApi, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(*PYTORCHJOBS, ns, "pytorchjobs", body)


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind and c["status"] == "True"), None)


class Collector:
    """Runs ``Watch().stream(fn, ...)`` in a thread and keeps (type, name, rv) of each event."""

    def __init__(self, fn: Callable[..., Any], *args: Any, until: Callable[[list], bool], **kwargs: Any) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.error: BaseException | None = None
        self.watch = watch.Watch()
        self._until = until
        # Watch() retries a 410 and reconnects after a clean end only without timeout_seconds.
        if kwargs.setdefault("timeout_seconds", 5) is None:
            del kwargs["timeout_seconds"]
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
        try:
            for event in self.watch.stream(fn, *args, **kwargs):
                meta = event["raw_object"]["metadata"]
                self.events.append((event["type"], meta["name"], meta["resourceVersion"]))
                if self._until(self.events):
                    self.watch.stop()
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised by join()
            self.error = exc

    def join(self, timeout: float = 6.0) -> list[tuple[str, str]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the watch did not end; events so far: {self.events}"
        if self.error is not None:
            raise self.error
        return [(kind, name) for kind, name, _ in self.events]


# -- API server bookkeeping -----------------------------------------------------------------------

def test_create_stamps_uid_version_timestamp_generation_and_namespace(custom_api, namespace) -> None:
    first = create_ptj(custom_api, namespace, pytorchjob("a"))
    second = create_ptj(custom_api, namespace, pytorchjob("b"))
    meta = first["metadata"]
    assert meta["namespace"] == namespace
    assert meta["uid"] and meta["uid"] != second["metadata"]["uid"]
    assert meta["resourceVersion"].isdigit() and int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    listing = custom_api.list_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs")
    assert listing["kind"] == "PyTorchJobList" and listing["apiVersion"] == "kubeflow.org/v1"
    assert listing["metadata"]["resourceVersion"] >= second["metadata"]["resourceVersion"]
    assert [item["metadata"]["name"] for item in listing["items"]] == ["a", "b"]
    with pytest.raises(ApiException) as again:
        create_ptj(custom_api, namespace, pytorchjob("a"))
    assert again.value.status == 409


def test_generation_moves_with_spec_and_status_only_through_its_subresource(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    body = pytorchjob("a")
    body["status"] = {"conditions": [{"type": "Succeeded", "status": "True"}]}
    created = create_ptj(custom_api, namespace, body)
    assert "status" not in created  # dropped on create, as a CRD with a status subresource does
    patched = custom_api.patch_namespaced_custom_object(
        *PYTORCHJOBS, namespace, "pytorchjobs", "a", {"spec": {"runPolicy": {"backoffLimit": 0}}, "status": {"x": 1}})
    assert patched["metadata"]["generation"] == 2 and "status" not in patched
    status = custom_api.patch_namespaced_custom_object_status(
        *PYTORCHJOBS, namespace, "pytorchjobs", "a", {"status": {"x": 1}, "spec": {"ignored": True}})
    assert status["status"] == {"x": 1} and "ignored" not in status["spec"]
    assert status["metadata"]["generation"] == 2
    same = custom_api.patch_namespaced_custom_object_status(*PYTORCHJOBS, namespace, "pytorchjobs", "a", {"status": {"x": 1}})
    assert same["metadata"]["resourceVersion"] == status["metadata"]["resourceVersion"]  # a no-op writes nothing


def test_stale_resource_version_is_refused_with_409_and_changes_nothing(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    created = create_ptj(custom_api, namespace, pytorchjob("a"))
    stale = created["metadata"]["resourceVersion"]
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", {"metadata": {"labels": {"x": "1"}}})
    before = cluster.get(PTJ, namespace, "a")
    with pytest.raises(ApiException) as patch:
        custom_api.patch_namespaced_custom_object(
            *PYTORCHJOBS, namespace, "pytorchjobs", "a", {"metadata": {"resourceVersion": stale, "labels": {"x": "2"}}})
    with pytest.raises(ApiException) as put:
        custom_api.replace_namespaced_custom_object(
            *PYTORCHJOBS, namespace, "pytorchjobs", "a", {**created, "spec": {"changed": True}})
    assert patch.value.status == put.value.status == 409
    assert "the object has been modified" in patch.value.body
    assert cluster.get(PTJ, namespace, "a") == before


def test_put_replaces_and_needs_a_resource_version_for_custom_resources(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    current = create_ptj(custom_api, namespace, pytorchjob("a", labels={"keep": "no"}))
    current["metadata"]["labels"] = {"new": "yes"}
    current["spec"] = {"pytorchReplicaSpecs": {}}
    replaced = custom_api.replace_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", current)
    assert replaced["metadata"]["labels"] == {"new": "yes"} and replaced["spec"] == {"pytorchReplicaSpecs": {}}
    assert replaced["metadata"]["generation"] == 2 and replaced["metadata"]["uid"] == current["metadata"]["uid"]
    del replaced["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as unconditional:
        custom_api.replace_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", replaced)
    assert unconditional.value.status == 422
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    cluster.create("batch/v1/jobs", job, namespace=namespace)
    job["metadata"]["labels"] = {"replaced": "1"}
    assert cluster.replace("batch/v1/jobs", namespace, "j", job)["metadata"]["labels"] == {"replaced": "1"}


def test_label_and_field_selectors_filter_lists(custom_api, namespace) -> None:
    for name, labels in [("a", {"app": "x", "tier": "1"}), ("b", {"app": "y"}), ("c", {})]:
        create_ptj(custom_api, namespace, pytorchjob(name, labels=labels))

    def names(**selectors: str) -> list[str]:
        listing = custom_api.list_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", **selectors)
        return [item["metadata"]["name"] for item in listing["items"]]

    assert names(label_selector="app=x") == ["a"]
    assert names(label_selector="app==y") == ["b"]
    assert names(label_selector="app!=x") == ["b", "c"]
    assert names(label_selector="app") == ["a", "b"]
    assert names(label_selector="!app") == ["c"]
    assert names(label_selector="app in (x, y),!tier") == ["b"]
    assert names(label_selector="app notin (x)") == ["b", "c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector=f"metadata.namespace={namespace},metadata.name!=b") == ["a", "c"]
    for bad in ({"label_selector": "app in x"}, {"field_selector": "spec.x=1"}):
        with pytest.raises(ApiException) as refused:
            names(**bad)
        assert refused.value.status == 400


def test_label_selector_parser_edge_cases() -> None:
    match = parse_label_selector("a.b/c=1, d in (x,y) ,!e,f>3")
    assert match({"a.b/c": "1", "d": "y", "f": "4"})
    assert not match({"a.b/c": "1", "d": "y", "f": "3"})
    assert not match({"a.b/c": "1", "d": "z", "f": "4"})
    with pytest.raises(ValueError, match="invalid key"):
        parse_label_selector("-bad=1")


def test_generate_name_json_patch_and_delete_collection(cluster, core_api, namespace) -> None:
    pod = core_api.create_namespaced_pod(namespace, {"metadata": {"generateName": "w-", "labels": {"g": "1"}},
                                                     "spec": {"containers": [{"name": "c", "image": "x"}]}})
    name = pod.metadata.name
    assert name.startswith("w-") and len(name) == 7
    core_api.patch_namespaced_pod(name, namespace, {"metadata": {"labels": {"h": "2"}}})  # strategic merge
    patched = cluster.patch("v1/pods", namespace, name, [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}])
    assert patched["metadata"]["labels"] == {"g": "1", "h": "2"} and patched["metadata"]["annotations"] == {"a": "b"}
    with pytest.raises(ApiException) as failed_test:
        cluster.patch("v1/pods", namespace, name, [{"op": "test", "path": "/metadata/labels/g", "value": "9"}])
    assert failed_test.value.status == 422
    core_api.create_namespaced_pod(namespace, {"metadata": {"name": "other"},
                                               "spec": {"containers": [{"name": "c", "image": "x"}]}})
    core_api.delete_collection_namespaced_pod(namespace, label_selector="g=1")
    assert [p["metadata"]["name"] for p in cluster.objects("v1/pods", namespace)] == ["other"]


def test_namespaces_can_be_required() -> None:
    with EmulatedCluster(require_namespaces=True) as strict:
        custom = client.CustomObjectsApi(strict.api_client())
        with pytest.raises(ApiException) as missing:
            create_ptj(custom, "nowhere", pytorchjob("a"))
        assert missing.value.status == 404 and "namespaces" in missing.value.body
        strict.create("v1/namespaces", {"metadata": {"name": "nowhere"}})
        assert create_ptj(custom, "nowhere", pytorchjob("a"))["metadata"]["namespace"] == "nowhere"


def test_kmock_reactions_still_answer_first(cluster, core_api, namespace) -> None:
    core_api.create_namespaced_pod(namespace, {"metadata": {"name": "real"},
                                               "spec": {"containers": [{"name": "c", "image": "x"}]}})
    cluster.emulator["get", kmock.resource("v1/pods"), kmock.name("canned")] << {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "canned", "labels": {"from": "reaction"}}}
    assert core_api.read_namespaced_pod("canned", namespace).metadata.labels == {"from": "reaction"}
    assert core_api.read_namespaced_pod("real", namespace).metadata.uid
    cluster.set_log(namespace, "real", "c", "text\n")
    assert core_api.read_namespaced_pod_log("real", namespace) == "text\n"


# -- watches ----------------------------------------------------------------------------------

def test_watch_with_a_label_selector_sees_added_modified_deleted(cluster, custom_api, namespace) -> None:
    start = custom_api.list_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs")["metadata"]["resourceVersion"]
    cluster.operator.outcome = None
    seen = Collector(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                     label_selector="team=ml", resource_version=start,
                     until=lambda events: sum(e[0] == "DELETED" for e in events) == 2)
    create_ptj(custom_api, namespace, pytorchjob("in", labels={"team": "ml"}))
    create_ptj(custom_api, namespace, pytorchjob("out", labels={"team": "web"}))
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "in", {"spec": {"x": 1}})
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "out",
                                              {"metadata": {"labels": {"team": "ml"}}})
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "out",
                                              {"metadata": {"labels": {"team": "web"}}})
    custom_api.delete_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "in")
    assert seen.join() == [("ADDED", "in"), ("MODIFIED", "in"), ("ADDED", "out"), ("DELETED", "out"), ("DELETED", "in")]


def test_watch_without_a_version_starts_with_existing_objects(custom_api, core_api, cluster, namespace) -> None:
    create_ptj(custom_api, namespace, pytorchjob("old"))
    cluster.operator.wait_idle()
    seen = Collector(core_api.list_namespaced_pod, namespace, label_selector="training.kubeflow.org/job-name=old",
                     until=lambda events: len(events) == 1)
    assert seen.join() == [("ADDED", "old-master-0")]


def test_watch_from_a_resource_version_gets_only_newer_events(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    create_ptj(custom_api, namespace, pytorchjob("before"))
    middle = custom_api.list_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs")["metadata"]["resourceVersion"]
    create_ptj(custom_api, namespace, pytorchjob("after"))
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "before", {"spec": {"x": 1}})
    seen = Collector(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                     resource_version=middle, until=lambda events: len(events) == 2)
    assert seen.join() == [("ADDED", "after"), ("MODIFIED", "before")]
    assert all(int(rv) > int(middle) for _, _, rv in seen.events)
    named = Collector(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                      resource_version=middle, field_selector="metadata.name=before", until=lambda events: True)
    assert named.join() == [("MODIFIED", "before")]


def test_a_version_older_than_the_kept_events_gets_410(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    old = create_ptj(custom_api, namespace, pytorchjob("a"))["metadata"]["resourceVersion"]
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", {"spec": {"x": 1}})
    cluster.emulator.compact()
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                                  resource_version=old))
    assert gone.value.status == 410
    assert cluster.emulator.requests()["watch", "pytorchjobs"] == 2  # the client retries a 410 once


def test_only_the_last_retention_events_are_kept() -> None:
    with EmulatedCluster(retention=3) as small:
        small.create("v1/namespaces", {"metadata": {"name": "a"}})
        start = small.create("v1/namespaces", {"metadata": {"name": "b"}})["metadata"]["resourceVersion"]
        for name in "cde":
            small.create("v1/namespaces", {"metadata": {"name": name}})
        core = client.CoreV1Api(small.api_client())
        kept = Collector(core.list_namespace, resource_version=start, until=lambda events: len(events) == 3)
        assert kept.join() == [("ADDED", "c"), ("ADDED", "d"), ("ADDED", "e")]
        small.create("v1/namespaces", {"metadata": {"name": "f"}})  # the event after `start` is gone now
        with pytest.raises(ApiException) as gone:
            Collector(core.list_namespace, resource_version=start, until=lambda events: True).join()
        assert gone.value.status == 410


def test_an_injected_410_ends_the_next_watch_and_the_client_resumes(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    start = custom_api.list_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs")["metadata"]["resourceVersion"]
    fault = cluster.emulator.fail("watch", "pytorchjobs", 410)
    create_ptj(custom_api, namespace, pytorchjob("a"))
    seen = Collector(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                     resource_version=start, timeout_seconds=None, until=lambda events: len(events) == 1)
    assert seen.join() == [("ADDED", "a")]
    assert fault.hits == 1 and cluster.emulator.requests()["watch", "pytorchjobs"] == 2


def test_ending_open_watches_makes_clients_reconnect_from_their_last_version(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    create_ptj(custom_api, namespace, pytorchjob("a"))
    seen = Collector(custom_api.list_namespaced_custom_object, *PYTORCHJOBS, namespace, "pytorchjobs",
                     timeout_seconds=None, until=lambda events: len(events) == 3)
    _eventually(lambda: len(seen.events) == 1)
    cluster.emulator.end_watches("kubeflow.org/v1/pytorchjobs")
    create_ptj(custom_api, namespace, pytorchjob("b"))
    _eventually(lambda: cluster.emulator.requests()["watch", "pytorchjobs"] == 2)
    create_ptj(custom_api, namespace, pytorchjob("c"))
    assert seen.join() == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]  # nothing lost, nothing twice


# -- faults ------------------------------------------------------------------------------------

def test_an_injected_500_rejects_the_write_and_stores_nothing(cluster, custom_api, namespace) -> None:
    fault = cluster.emulator.fail("create", "pytorchjobs", 500, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as refused:
            create_ptj(custom_api, namespace, pytorchjob("a"))
        assert refused.value.status == 500
    assert cluster.get(PTJ, namespace, "a") is None and cluster.operator.seen == {}
    create_ptj(custom_api, namespace, pytorchjob("a"))  # the fault is used up
    assert fault.hits == 2 and fault.exhausted
    cluster.emulator.fail("patch", "pytorchjobs", 503, name="a")
    with pytest.raises(ApiException) as patch:
        custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", {"spec": {"x": 1}})
    assert patch.value.status == 503 and "x" not in cluster.get(PTJ, namespace, "a")["spec"]


def test_a_slow_response_times_the_client_out(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    create_ptj(custom_api, namespace, pytorchjob("a"))
    slow = cluster.emulator.slow("get", "pytorchjobs", 0.3)
    # The client 30.1 ignores a float _request_timeout: only an int or a (connect, read) tuple counts.
    with pytest.raises(urllib3.exceptions.MaxRetryError) as timed_out:
        custom_api.get_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", _request_timeout=(1, 0.05))
    assert isinstance(timed_out.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert slow.hits == 4  # urllib3 retried the GET three times by itself
    cluster.emulator.clear_faults()
    assert custom_api.get_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a",
                                                   _request_timeout=(1, 0.2))["metadata"]["name"] == "a"


def test_undeclared_resources_are_404_until_declared(cluster, custom_api, namespace) -> None:
    with pytest.raises(ApiException) as missing:
        custom_api.list_namespaced_custom_object("example.com", "v1", namespace, "widgets")
    assert missing.value.status == 404
    cluster.declare("example.com/v1/widgets", "Widget")
    custom_api.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", {"metadata": {"name": "w"}})
    listing = custom_api.list_namespaced_custom_object("example.com", "v1", namespace, "widgets")
    assert listing["kind"] == "WidgetList" and listing["items"][0]["kind"] == "Widget"


def test_finalizers_hold_a_deletion_until_released(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = None
    body = pytorchjob("a")
    body["metadata"]["finalizers"] = ["pipetune.dev/cleanup"]
    create_ptj(custom_api, namespace, body)
    custom_api.delete_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a")
    assert cluster.get(PTJ, namespace, "a")["metadata"]["deletionTimestamp"]
    custom_api.patch_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a", {"metadata": {"finalizers": None}})
    assert cluster.get(PTJ, namespace, "a") is None


def test_namespaces_are_a_cluster_scoped_resource(core_api, namespace) -> None:
    assert namespace in [ns.metadata.name for ns in core_api.list_namespace().items]
    assert core_api.read_namespace(namespace).metadata.uid
    core_api.delete_namespace(namespace)
    with pytest.raises(ApiException) as gone:
        core_api.read_namespace(namespace)
    assert gone.value.status == 404


# -- pod logs ----------------------------------------------------------------------------------

def test_pod_logs_are_served_per_container(cluster, core_api, namespace) -> None:
    core_api.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "main", "image": "x"}, {"name": "sidecar", "image": "y"}]}})
    cluster.set_log(namespace, "p", "main", "epoch 1\nloss=0.5\n")
    cluster.set_log(namespace, "p", "sidecar", "proxy up\n")
    assert core_api.read_namespaced_pod_log("p", namespace, container="main") == "epoch 1\nloss=0.5\n"
    assert core_api.read_namespaced_pod_log("p", namespace, container="main", tail_lines=1) == "loss=0.5\n"
    assert core_api.read_namespaced_pod_log("p", namespace, container="sidecar") == "proxy up\n"
    with pytest.raises(ApiException) as no_container:
        core_api.read_namespaced_pod_log("p", namespace)
    with pytest.raises(ApiException) as no_pod:
        core_api.read_namespaced_pod_log("q", namespace, container="main")
    assert (no_container.value.status, no_pod.value.status) == (400, 404)
    assert core_api.read_namespaced_pod("p", namespace).status.phase == "Pending"


def test_pod_logs_grow_and_are_served_with_timestamps_since_a_time(cluster, core_api, namespace) -> None:
    core_api.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "main", "image": "x"}]}})
    cluster.set_log(namespace, "p", "main", "")
    cluster.append_log(namespace, "p", "main", "one\n", at=1_700_000_000.25)
    cluster.append_log(namespace, "p", "main", "two\nthree\n", at=1_700_000_003.0)
    cluster.append_log(namespace, "p", "main", "four\n")  # now
    assert core_api.read_namespaced_pod_log("p", namespace) == "one\ntwo\nthree\nfour\n"
    stamped = core_api.read_namespaced_pod_log("p", namespace, timestamps=True).splitlines()
    assert stamped[:3] == ["2023-11-14T22:13:20.25Z one", "2023-11-14T22:13:23Z two",
                           "2023-11-14T22:13:23.000000001Z three"]  # RFC3339Nano, each line later
    api = cluster.api_client()

    def since(time: str, **query: str) -> str:
        return api.call_api(f"/api/v1/namespaces/{namespace}/pods/p/log", "GET",
                            query_params=[("sinceTime", time), *query.items()],
                            _return_http_data_only=True, _preload_content=False).data.decode()
    assert since("2023-11-14T22:13:23Z") == "two\nthree\nfour\n"  # inclusive
    assert since("2023-11-14T22:13:21Z", limitBytes="6") == "two\nth"
    assert core_api.read_namespaced_pod_log("p", namespace, since_seconds=3600) == "four\n"
    with pytest.raises(ApiException) as bad:
        since("yesterday")
    assert bad.value.status == 400


# -- the fake operator -------------------------------------------------------------------------

def test_a_pytorchjob_succeeds_with_the_scripted_message_on_its_master_pod(cluster, custom_api, core_api, namespace) -> None:
    results = "apiVersion: pipetune.dev/v1\nmetrics: {acc: 0.9}\n"
    cluster.operator.outcome = lambda resource: Outcome(termination_message=results, logs="step 1\n")
    create_ptj(custom_api, namespace, pytorchjob("t1", workers=2, template_labels={"pipetune.dev/trial": "t1"}))
    job = cluster.wait_for(PTJ, namespace, "t1", lambda obj: condition(obj, "Succeeded") is not None)
    assert [(c["type"], c["status"]) for c in job["status"]["conditions"]] == [
        ("Created", "True"), ("Running", "False"), ("Succeeded", "True")]
    assert condition(job, "Succeeded")["reason"] == "PyTorchJobSucceeded"
    assert job["status"]["replicaStatuses"] == {"Master": {"succeeded": 1}, "Worker": {"succeeded": 2}}
    pods = core_api.list_namespaced_pod(namespace, label_selector="pipetune.dev/trial=t1").items
    assert sorted(p.metadata.name for p in pods) == ["t1-master-0", "t1-worker-0", "t1-worker-1"]
    [master] = core_api.list_namespaced_pod(
        namespace, label_selector="training.kubeflow.org/job-name=t1,training.kubeflow.org/job-role=master").items
    assert master.metadata.labels["training.kubeflow.org/replica-type"] == "master"
    assert master.metadata.owner_references[0].uid == job["metadata"]["uid"]
    terminated = master.status.container_statuses[0].state.terminated
    assert (master.status.phase, terminated.exit_code, terminated.message) == ("Succeeded", 0, results)
    assert core_api.read_namespaced_pod_log("t1-master-0", namespace, container="pytorch") == "step 1\n"
    worker = core_api.read_namespaced_pod("t1-worker-1", namespace)
    assert worker.status.container_statuses[0].state.terminated.message is None
    assert cluster.operator.seen == {"PyTorchJob": ["t1"]}


def test_a_failing_job_retries_up_to_its_backoff_limit(cluster, namespace) -> None:
    cluster.operator.outcome = lambda resource: Outcome(succeed=False, exit_code=3, termination_message="OOM")
    cluster.create("batch/v1/jobs", {"metadata": {"name": "j", "namespace": namespace}, "spec": {
        "backoffLimit": 1, "template": {"metadata": {"labels": {"pipetune.dev/trial": "j"}},
                                         "spec": {"containers": [{"name": "main", "image": "x"}]}}}})
    job = cluster.wait_for("batch/v1/jobs", namespace, "j", lambda obj: condition(obj, "Failed") is not None)
    assert condition(job, "Failed")["reason"] == "BackoffLimitExceeded" and job["status"]["failed"] == 2
    assert condition(job, "FailureTarget") is not None and "completionTime" not in job["status"]
    pods = cluster.objects("v1/pods", namespace)
    assert len(pods) == 2
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "j"
        assert labels["controller-uid"] == job["metadata"]["uid"] and labels["pipetune.dev/trial"] == "j"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"] == {
            **pod["status"]["containerStatuses"][0]["state"]["terminated"], "exitCode": 3, "message": "OOM"}


def test_trainjob_and_taskrun_pods_are_named_and_labelled_like_the_real_controllers(cluster, namespace) -> None:
    cluster.operator.outcome = by_name({"tr": Outcome(results={"score": "0.7"})})
    cluster.create("trainer.kubeflow.org/v1alpha1/trainjobs", {"metadata": {
        "name": "tj", "namespace": namespace, "labels": {"pipetune.dev/trial": "tj"}},
        "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": {"image": "x", "numNodes": 2}}})
    cluster.create("tekton.dev/v1/taskruns", {"metadata": {"name": "tr", "namespace": namespace}, "spec": {
        "taskSpec": {"steps": [{"name": "fetch", "image": "a"}, {"name": "train", "image": "b"}]}}})
    trainjob = cluster.wait_for("trainer.kubeflow.org/v1alpha1/trainjobs", namespace, "tj",
                                lambda obj: condition(obj, "Complete") is not None)
    taskrun = cluster.wait_for("tekton.dev/v1/taskruns", namespace, "tr", lambda obj: condition(obj, "Succeeded") is not None)
    pods = {p["metadata"]["name"]: p for p in cluster.objects("v1/pods", namespace)}
    [node0] = [p for p in pods.values() if p["metadata"]["labels"].get("batch.kubernetes.io/job-completion-index") == "0"]
    assert node0["metadata"]["name"].startswith("tj-node-0-0-") and len(node0["metadata"]["name"]) == len("tj-node-0-0-") + 5
    assert node0["metadata"]["labels"]["jobset.sigs.k8s.io/jobset-name"] == "tj"
    assert node0["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"] == "node"
    assert node0["metadata"]["labels"]["pipetune.dev/trial"] == "tj"
    assert condition(trainjob, "Complete")["reason"] == "AllJobsCompleted"
    assert pods["tr-pod"]["metadata"]["labels"]["tekton.dev/taskRun"] == "tr"
    assert [c["name"] for c in pods["tr-pod"]["spec"]["containers"]] == ["step-fetch", "step-train"]
    assert taskrun["status"]["podName"] == "tr-pod"
    assert taskrun["status"]["results"] == [{"name": "score", "type": "string", "value": "0.7"}]


def test_a_running_pod_prints_its_progress_lines_one_by_one(cluster, custom_api, core_api, namespace) -> None:
    cluster.operator.outcome = lambda resource: Outcome(logs="start\n", progress=("p1", "p2\n", "p3"),
                                                        progress_delay=0.05, hang=True)
    create_ptj(custom_api, namespace, pytorchjob("g", workers=1))
    cluster.wait_for("v1/pods", namespace, "g-master-0", lambda pod: pod is not None and pod["status"]["phase"] == "Running")
    seen: list[str] = []

    def grown() -> bool:
        text = core_api.read_namespaced_pod_log("g-master-0", namespace, container="pytorch")
        if not seen or text != seen[-1]:
            seen.append(text)
        return text == "start\np1\np2\np3\n"
    _eventually(grown)
    # Read while it grew: each state a prefix of the next, the pod Running throughout.
    assert all(later.startswith(earlier) for earlier, later in pairwise(seen))
    assert len(seen) >= 2
    assert core_api.read_namespaced_pod("g-master-0", namespace).status.phase == "Running"
    assert core_api.read_namespaced_pod_log("g-worker-0", namespace, container="pytorch") == ""


def test_a_cancelled_taskrun_fails_and_loses_its_pod(cluster, namespace) -> None:
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    cluster.create("tekton.dev/v1/taskruns", {"metadata": {"name": "tr", "namespace": namespace}, "spec": {}})
    cluster.wait_for("v1/pods", namespace, "tr-pod", lambda pod: pod is not None and pod["status"]["phase"] == "Running")
    cluster.patch("tekton.dev/v1/taskruns", namespace, "tr", {"spec": {"status": "TaskRunCancelled"}})
    run = cluster.wait_for("tekton.dev/v1/taskruns", namespace, "tr",
                           lambda obj: obj["status"]["conditions"][0]["status"] == "False")
    assert run["status"]["conditions"][0]["reason"] == "TaskRunCancelled"
    assert cluster.get("v1/pods", namespace, "tr-pod") is None


def test_deleting_a_job_deletes_its_pods(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    create_ptj(custom_api, namespace, pytorchjob("h", workers=1))
    cluster.wait_for(PTJ, namespace, "h", lambda obj: condition(obj, "Running") is not None)
    assert len(cluster.objects("v1/pods", namespace)) == 2
    custom_api.delete_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "h")
    _eventually(lambda: cluster.objects("v1/pods", namespace) == [])


def test_deletion_mid_lifecycle_is_tolerated(cluster, custom_api, namespace) -> None:
    cluster.operator.outcome = lambda resource: Outcome(delay=0.05)
    for index in range(5):
        create_ptj(custom_api, namespace, pytorchjob(f"d{index}", workers=1))
        custom_api.delete_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", f"d{index}")
    cluster.operator.wait_idle()
    assert cluster.objects("v1/pods", namespace) == [] and cluster.objects(PTJ, namespace) == []
    assert cluster.operator.errors == []


def test_requests_are_counted_per_verb_and_resource_for_the_client_only(cluster, custom_api, core_api, namespace) -> None:
    cluster.emulator.reset_requests()
    create_ptj(custom_api, namespace, pytorchjob("a"))
    cluster.wait_for(PTJ, namespace, "a", lambda obj: condition(obj, "Succeeded") is not None)
    custom_api.get_namespaced_custom_object(*PYTORCHJOBS, namespace, "pytorchjobs", "a")
    core_api.list_namespaced_pod(namespace)
    core_api.read_namespaced_pod_log("a-master-0", namespace, container="pytorch")
    list(watch.Watch().stream(core_api.list_namespaced_pod, namespace, timeout_seconds=0))
    assert cluster.emulator.requests() == {
        ("create", "pytorchjobs"): 1, ("get", "pytorchjobs"): 1, ("list", "pods"): 1,
        ("get", "pods/log"): 1, ("watch", "pods"): 1}
    operator = cluster.emulator.requests("operator")
    assert operator["create", "pods"] == 1 and operator["patch", "pytorchjobs/status"] == 3


def test_a_hundred_jobs_all_finish_with_one_client_request_each(cluster, namespace) -> None:
    # Alone it takes about 1.5 s here; timings are not asserted (they vary with the machine's load).
    api = client.BatchV1Api(cluster.api_client())
    cluster.emulator.reset_requests()
    for index in range(100):
        api.create_namespaced_job(namespace, {"metadata": {"name": f"j{index}"}, "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "x"}]}}}})
    cluster.operator.wait_idle(timeout=60)
    jobs = cluster.objects("batch/v1/jobs", namespace)
    assert len(jobs) == 100 and all(condition(job, "Complete") for job in jobs)
    assert cluster.emulator.requests() == {("create", "jobs"): 100}
    assert len(cluster.operator.seen["Job"]) == 100 and len(cluster.objects("v1/pods", namespace)) == 100


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_the_cluster_can_be_used_without_the_fixture() -> None:
    with EmulatedCluster() as cluster:
        api = client.CoreV1Api(cluster.api_client())
        api.create_namespace({"metadata": {"name": "x"}})
        assert cluster.url.startswith("http://127.0.0.1:") and not cluster.url.endswith("/")
        assert cluster.get("v1/namespaces", None, "x")["metadata"]["name"] == "x"
    assert cluster.server_errors == []


def test_configmaps_are_served_and_refused_past_1_mib_as_a_server_does(api_client, namespace) -> None:
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": "cm"}, "data": {"a": "x" * 1000}}
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid and created.data == {"a": "x" * 1000}
    core.patch_namespaced_config_map("cm", namespace, [{"op": "add", "path": "/data/b", "value": "y"}])
    assert core.read_namespaced_config_map("cm", namespace).data == {"a": "x" * 1000, "b": "y"}
    half = "z" * 600_000  # two requests: the emulator's HTTP server takes bodies up to 1 MiB
    core.patch_namespaced_config_map("cm", namespace, [{"op": "add", "path": "/data/c", "value": half}])
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_config_map("cm", namespace, [{"op": "add", "path": "/data/d", "value": half}])
    assert refused.value.status == 422 and "must have at most 1048576 bytes" in refused.value.body
    assert set(core.read_namespaced_config_map("cm", namespace).data) == {"a", "b", "c"}  # unchanged
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "bad"}, "data": {"a/b": "1"}})
    assert bad.value.status == 422
