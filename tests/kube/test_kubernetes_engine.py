"""The Kubernetes engine against the emulator: create, watch, judge, collect, clean up.

The test plays the controllers here (pods and conditions written through the API), so each
test states exactly what the cluster did; ``kube/operator.py`` plays them in the tuner tests.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kube.emulator import EmulatedCluster
from pipetune.bridges import JobParameters, build_job
from pipetune.components import ComponentSpec, ContainerSpec, load_component
from pipetune.contract import LogMetrics
from pipetune.engines.base import Phase, Reason, ResourceRequest, RunRequest
from pipetune.engines.kubernetes import KubernetesEngine, Retry, retry_after
from pipetune.errors import RunError, TransientError
from pipetune.kinds import EXPERIMENT_LABEL, RESULTS_PATH, TRIAL_LABEL

NS = "ml"
PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"
JOBS = "batch/v1/jobs"
PODS = "v1/pods"
RESULTS = "apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: 0.93\noutputs:\n  n: 3\n"


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as emulated:
        yield emulated


@pytest.fixture
def engine(cluster: EmulatedCluster) -> Iterator[KubernetesEngine]:
    made = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "exp"},
                            retry=Retry(tries=4, base=0.01, cap=0.05))
    yield made
    made.close()


def pytorchjob(name: str = "exp-0000") -> dict[str, Any]:
    return build_job("PyTorchJob", JobParameters(name=name, namespace=NS, image="train:1",
                                                 command=["python", "train.py"], replicas={"Worker": 1}))


def request(manifest: dict[str, Any] | None = None, **resource: Any) -> RunRequest:
    name = (manifest or {}).get("metadata", {}).get("name", "run")
    return RunRequest(
        run_id=f"r-{name}",
        component=ComponentSpec(name=name, container=ContainerSpec(image="train:1")),
        arguments={},
        outputs_dir=Path("/nonexistent"),
        log_metrics=LogMetrics(names=("accuracy",)),
        resource=ResourceRequest(manifest, **resource) if manifest is not None else None,
    )


def conditions(*entries: tuple[str, str, str]) -> dict[str, Any]:
    return {"conditions": [{"type": t, "status": "True", "reason": r, "message": m} for t, r, m in entries]}


def master_pod(cluster: EmulatedCluster, job: str, message: str | None = None, container: str = "pytorch",
               labels: dict[str, str] | None = None) -> str:
    name = f"{job}-master-0"
    terminated: dict[str, Any] = {"exitCode": 0, "reason": "Completed"}
    if message is not None:
        terminated["message"] = message
    cluster.seed(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels or {
            TRIAL_LABEL: job, "training.kubeflow.org/job-role": "master",
            "training.kubeflow.org/replica-type": "master"}},
        "spec": {"containers": [{"name": container, "image": "train:1"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [
            {"name": container, "image": "train:1", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": terminated}}]},
    })
    return name


def wait_final(engine: KubernetesEngine, handle: Any, timeout: float = 10) -> Any:
    status = engine.wait(handle, timeout)
    assert status.phase.final, f"not final after {timeout}s: {status}"
    return status


def test_a_pytorchjob_is_created_labelled_and_its_master_results_come_back(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    stored = cluster.get(PYTORCHJOBS, NS, "exp-0000")
    assert stored["metadata"]["labels"] == {EXPERIMENT_LABEL: "exp", TRIAL_LABEL: "exp-0000"}
    for spec in stored["spec"]["pytorchReplicaSpecs"].values():
        assert spec["template"]["metadata"]["labels"][TRIAL_LABEL] == "exp-0000"
        assert spec["template"]["spec"]["containers"][0]["terminationMessagePath"] == RESULTS_PATH
    assert engine.poll(handle).phase is Phase.RUNNING

    master_pod(cluster, "exp-0000", RESULTS)
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(
        ("Created", "PyTorchJobCreated", ""), ("Succeeded", "PyTorchJobSucceeded", "done")))
    status = wait_final(engine, handle)

    assert status.phase is Phase.SUCCEEDED, status.message
    results = engine.results(handle)
    assert results.metrics == {"accuracy": 0.93} and results.outputs == {"n": 3}
    # Finished and not retained: deleted.
    assert cluster.wait_for(PYTORCHJOBS, NS, "exp-0000", lambda o: o is None) is None


def test_requests_per_run_are_constant_and_status_comes_from_one_watch(cluster, engine) -> None:
    handles = [engine.submit(request(pytorchjob(f"exp-{i:04d}"))) for i in range(5)]
    for i in range(5):
        master_pod(cluster, f"exp-{i:04d}", RESULTS)
        cluster.patch_status(PYTORCHJOBS, NS, f"exp-{i:04d}", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    for handle in handles:
        assert wait_final(engine, handle).phase is Phase.SUCCEEDED
    counts = cluster.emulator.requests()
    assert counts[("create", "pytorchjobs")] == 5
    assert counts[("list", "pods")] == 5
    assert counts[("delete", "pytorchjobs")] == 5
    assert counts[("get", "pytorchjobs")] == 0  # no polling of any run
    assert counts[("list", "pytorchjobs")] == 1 and counts[("watch", "pytorchjobs")] <= 2


def test_katib_stdout_lines_are_read_when_there_is_no_termination_message(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    pod = master_pod(cluster, "exp-0000", None)
    cluster.set_log(NS, pod, "pytorch", "epoch 1\naccuracy=0.5\nepoch 2\naccuracy=0.81\n")
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    assert wait_final(engine, handle).phase is Phase.SUCCEEDED
    assert engine.results(handle).metrics == {"accuracy": 0.81}


def test_no_message_and_no_report_lines_mean_no_results(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    pod = master_pod(cluster, "exp-0000", None)
    cluster.set_log(NS, pod, "pytorch", "training...\ndone\n")
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    status = wait_final(engine, handle)
    assert status.phase is Phase.SUCCEEDED and status.message == "reported no results"
    assert engine.results(handle) is None  # the tuner calls this MetricsUnavailable


def test_results_at_the_size_limit_fail_pointing_at_artifacts(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    master_pod(cluster, "exp-0000", RESULTS + "# " + "x" * 4096)
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    status = wait_final(engine, handle)
    assert status.phase is Phase.FAILED and status.reason == Reason.RESULTS_INVALID
    assert "4096 bytes" in status.message and "artifacts" in status.message


def test_a_failed_job_reports_the_operators_reason_and_message(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(
        ("Created", "PyTorchJobCreated", ""),
        ("Failed", "PyTorchJobFailed", "PyTorchJob exp-0000 is failed because 1 Master replica(s) failed.")))
    status = wait_final(engine, handle)
    assert status.phase is Phase.FAILED and status.reason == "PyTorchJobFailed"
    assert status.message == "PyTorchJob exp-0000 is failed because 1 Master replica(s) failed."


def test_a_restarted_engine_adopts_its_running_job_from_the_listing(cluster, engine) -> None:
    engine.submit(request(pytorchjob()))
    assert cluster.emulator.requests()[("create", "pytorchjobs")] == 1  # the first engine made it
    said = io.StringIO()
    again = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "exp"}, log=said)
    try:
        adopted = again.submit(replace(request(pytorchjob()), echo=False))
        assert "PyTorchJob exp-0000: adopted the existing resource" in said.getvalue()
        assert len(cluster.objects(PYTORCHJOBS, NS)) == 1
        assert cluster.emulator.requests()[("create", "pytorchjobs")] == 1  # found by label, not re-POSTed
        master_pod(cluster, "exp-0000", RESULTS)
        cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
        assert wait_final(again, adopted).phase is Phase.SUCCEEDED
    finally:
        again.close()


def test_a_create_answered_409_adopts_a_resource_labelled_for_this_trial(cluster, engine) -> None:
    """The listing (by the experiment label) misses it, e.g. one a client without that label
    made; the POST is answered 409, and the trial label says it is this trial's: adopted."""
    existing = pytorchjob()
    existing["metadata"]["labels"] = {TRIAL_LABEL: "exp-0000"}
    cluster.create(PYTORCHJOBS, existing)
    said = io.StringIO()
    adopting = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "exp"}, log=said)
    try:
        adopting.submit(replace(request(pytorchjob()), echo=False))
    finally:
        adopting.close()
    assert said.getvalue().splitlines() == ["PyTorchJob exp-0000: adopted the existing resource"]
    counts = cluster.emulator.requests()
    assert counts[("create", "pytorchjobs")] == 1  # the one answered 409
    assert counts[("get", "pytorchjobs")] == 1  # then read: its trial label makes it this trial's
    assert len(cluster.objects(PYTORCHJOBS, NS)) == 1


def test_a_409_on_someone_elses_resource_is_an_error(cluster, engine) -> None:
    cluster.create(PYTORCHJOBS, {**pytorchjob(), "metadata": {"name": "exp-0000", "namespace": NS}})
    with pytest.raises(RunError, match="already exists in ml and is not pipetune's"):
        engine.submit(request(pytorchjob()))


def test_a_job_deleted_by_someone_else_fails_the_run(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    cluster.delete(PYTORCHJOBS, NS, "exp-0000")
    status = wait_final(engine, handle)
    assert status.phase is Phase.FAILED and status.reason == Reason.DELETED
    assert "was deleted before it finished" in status.message


def test_server_errors_are_retried_then_reported(cluster, engine) -> None:
    cluster.emulator.fail("create", "pytorchjobs", 503, times=2)
    handle = engine.submit(request(pytorchjob()))
    assert cluster.get(PYTORCHJOBS, NS, "exp-0000") is not None
    assert engine.poll(handle).phase is Phase.RUNNING
    cluster.emulator.fail("create", "pytorchjobs", 500, times=None)
    with pytest.raises(TransientError, match=r"create PyTorchJob exp-0001 failed 4 times; last: 500"):
        engine.submit(request(pytorchjob("exp-0001")))
    assert cluster.get(PYTORCHJOBS, NS, "exp-0001") is None


def test_a_watch_that_ends_or_expires_loses_no_change(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    cluster.emulator.end_watches(gone=True)
    cluster.emulator.compact()
    master_pod(cluster, "exp-0000", RESULTS)
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    cluster.emulator.end_watches()
    assert wait_final(engine, handle).phase is Phase.SUCCEEDED


def test_an_invalid_replica_spec_creates_nothing(cluster, engine) -> None:
    manifest = pytorchjob()
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    status = engine.poll(engine.submit(request(manifest)))
    assert status.phase is Phase.FAILED and "exactly one Master; got 2" in status.message
    assert cluster.emulator.requests()[("create", "pytorchjobs")] == 0


def test_cancel_and_timeout_delete_the_job(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob()))
    engine.cancel(handle)
    assert engine.poll(handle).phase is Phase.CANCELLED
    assert cluster.get(PYTORCHJOBS, NS, "exp-0000") is None
    timed = RunRequest(**{**request(pytorchjob("exp-0001")).__dict__, "timeout": 0.2})
    handle = engine.submit(timed)
    status = wait_final(engine, handle)
    assert status.reason == Reason.TIMEOUT and cluster.get(PYTORCHJOBS, NS, "exp-0001") is None


def test_stop_existing_stops_this_trials_resource_and_creates_nothing(cluster, engine) -> None:
    """What a restarted tuner uses to cancel a trial it has not submitted again yet."""
    engine.submit(request(pytorchjob()))
    said = io.StringIO()
    again = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "exp"}, log=said)
    try:
        assert again.stop_existing(request(pytorchjob())) == "deleted"
        assert cluster.get(PYTORCHJOBS, NS, "exp-0000") is None
        assert again.stop_existing(request(pytorchjob())) is None  # gone: nothing to do
        foreign = pytorchjob("exp-0001")
        cluster.create(PYTORCHJOBS, foreign)  # no trial label: someone else's
        assert again.stop_existing(request(pytorchjob("exp-0001"))) is None
        assert cluster.get(PYTORCHJOBS, NS, "exp-0001") is not None
    finally:
        again.close()
    assert cluster.emulator.requests()[("create", "pytorchjobs")] == 1  # the first submit's only


def test_retain_keeps_the_finished_resource(cluster, engine) -> None:
    handle = engine.submit(request(pytorchjob(), retain=True))
    master_pod(cluster, "exp-0000", RESULTS)
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    assert wait_final(engine, handle).phase is Phase.SUCCEEDED
    assert cluster.get(PYTORCHJOBS, NS, "exp-0000") is not None


def test_a_component_runs_as_a_job_with_katib_conditions(cluster, engine) -> None:
    component = load_component(Path(__file__).parents[2] / "components" / "train-sklearn" / "component.yaml")
    run = RunRequest(run_id="r1", component=component, arguments=component.bind({"n_estimators": "5"}),
                     outputs_dir=Path("/x"), name="exp-0003")
    handle = engine.submit(run)
    job = cluster.get(JOBS, NS, "exp-0003")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == component.container.image
    # The publisher writes the termination message; no KFP executor input outside KFP.
    assert container["command"][:8] == ["pipetune", "exec", "--kfp-executor-input", "", "--",
                                        "python", "-m", "pipetune.catalog.train_sklearn"]
    assert "/outputs/model" in container["command"]
    assert {"name": "PIPETUNE_OUTPUTS", "value": "/outputs"} in container["env"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    cluster.seed(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "exp-0003-abcde", "namespace": NS, "labels": {TRIAL_LABEL: "exp-0003"}},
        "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [{"name": "main", "image": "x", "imageID": "",
                   "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "message": RESULTS}}}]},
    })
    cluster.patch_status(JOBS, NS, "exp-0003", {"conditions": [{"type": "Complete", "status": "True"}]})
    assert wait_final(engine, handle).phase is Phase.SUCCEEDED
    assert engine.results(handle).metrics == {"accuracy": 0.93}


def test_an_unknown_kind_needs_its_conditions(cluster, engine) -> None:
    cluster.declare("example.com/v1/widgets", "Widget")
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w-1", "namespace": NS},
              "spec": {}}
    status = engine.poll(engine.submit(request(widget)))
    assert status.phase is Phase.FAILED and "successCondition: required for kind Widget" in status.message
    handle = engine.submit(request(widget, success_condition='status.[@this].#(state=="done")#',
                                   failure_condition='status.[@this].#(state=="broken")#'))
    cluster.patch_status("example.com/v1/widgets", NS, "w-1", {"state": "done"})
    status = wait_final(engine, handle)
    # No pod carries the trial label: it succeeded and reported nothing (MetricsUnavailable).
    assert status.phase is Phase.SUCCEEDED and engine.results(handle) is None


def test_a_resource_runs_env_reaches_its_primary_containers(cluster, engine) -> None:
    """How a cluster trial learns where its checkpoints are (pipetune tune --checkpoints s3://...)."""
    run = RunRequest(**{**request(pytorchjob()).__dict__,
                        "env": {"PIPETUNE_CHECKPOINTS": "s3://b/exp/trial-0000",
                                "PIPETUNE_RESUME_FROM": "s3://b/exp/trial-0000/ckpt-000002"}})
    engine.submit(run)
    stored = cluster.get(PYTORCHJOBS, NS, "exp-0000")
    for spec in stored["spec"]["pytorchReplicaSpecs"].values():
        env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
        assert env["PIPETUNE_CHECKPOINTS"] == "s3://b/exp/trial-0000"
        assert env["PIPETUNE_RESUME_FROM"].endswith("/ckpt-000002")


@pytest.mark.parametrize(
    ("header", "expected"), [("7", 7.0), ("0.5", 0.5), ("Wed, 21 Oct 2026 07:28:00 GMT", None), (None, None)]
)
def test_a_servers_retry_after_is_the_delay_it_asks_for(header: str | None, expected: float | None) -> None:
    exc = ApiException(status=429, reason="Too Many Requests")
    exc.headers = {"Retry-After": header} if header is not None else {}
    assert retry_after(exc) == expected


def test_a_long_log_is_streamed_and_read_whole(cluster, engine) -> None:
    """The finished run's log is read in pieces (lines cut between them read whole), and
    Katib's StdOut reading of it is the same as of the text at once."""
    handle = engine.submit(request(pytorchjob()))
    pod = master_pod(cluster, "exp-0000", None)
    lines = [f"step {i} some padding to make the line longer: accuracy={i / 100_000:.6f}" for i in range(40_000)]
    cluster.set_log(NS, pod, "pytorch", "\n".join(lines) + "\nlast accuracy=0.99")  # no final line break
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", conditions(("Succeeded", "PyTorchJobSucceeded", "")))
    assert wait_final(engine, handle).phase is Phase.SUCCEEDED
    results = engine.results(handle)
    assert results.metrics == {"accuracy": 0.99}
    assert results == LogMetrics(names=("accuracy",)).read([*lines, "last accuracy=0.99"])


def test_progress_reads_each_line_once_into_one_bounded_history() -> None:
    """Many small progress reads: the history is the one reading the whole log gives
    (bounded, thinned past MAX_HISTORY), not a concatenation re-copied on every read."""
    from pipetune.contract._log import MAX_HISTORY
    from pipetune.engines.kubernetes._engine import LogProgress

    progress = LogProgress()
    spec = LogMetrics(names=("loss",))
    lines = [f"loss={1 / (i + 1)}" for i in range(3 * MAX_HISTORY)]
    for start in range(0, len(lines), 7):
        progress.add(lines[start:start + 7], spec)
    expected = spec.read(lines)
    assert list(progress.history) == expected.history
    assert len(progress.history) <= MAX_HISTORY
    # A pipetune.report line makes reports win, as in the final results.
    progress.add(['pipetune.report {"step": 1, "loss": 0.5}'], spec)
    assert list(progress.history) == [{"step": 1, "loss": 0.5}]
