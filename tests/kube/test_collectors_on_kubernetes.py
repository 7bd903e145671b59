"""Katib's File and TensorFlowEvent collectors on the Kubernetes engine, through pipetune's
collector container (``pipetune collect``) beside the trial's primary container.

The manifests are checked as the launcher writes them and the emulator stores them. The
emulator runs no pods, so the tests play the pod: either by hand, running the real
collector here over a real folder while a stand-in primary writes its metrics file, with the
collector's printed lines fed into the pod's log as they come and its termination message
written into the pod's status (``kube/kubelet.py``); or through the scripted operator, whose
``Outcome(container=...)`` prints into the collector container's log, for a whole experiment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SCRIPTS
from kube.emulator import EmulatedCluster
from kube.kubelet import CollectorProcess, collect_once, collector_container, here
from kube.operator import Outcome
from pipetune.contract import REPORT_PREFIX, LogMetrics, follow_collector, read_tfevents
from pipetune.engines.base import Phase, Reason, RunRequest
from pipetune.engines.kubernetes import KubernetesEngine, Retry
from pipetune.errors import SpecError
from pipetune.experiment import experiment_from_dict
from pipetune.kinds import (
    COLLECTOR_CONTAINER,
    COLLECTOR_IMAGE,
    COLLECTOR_RESOURCES,
    COLLECTOR_VOLUME,
    EXPERIMENT_LABEL,
    TRIAL_LABEL,
)
from pipetune.store import RunStore
from pipetune.tuner.launchers import ExperimentLauncher
from pipetune.tuner.session import Session

NS = "ml"
PODS = "v1/pods"
JOBS = "batch/v1/jobs"
WRITER = SCRIPTS / "write_metrics.py"


def experiment(collector: dict[str, Any], trial_spec: dict[str, Any], **template: Any) -> Any:
    doc = {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": "coll", "namespace": NS},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy", "additionalMetricNames": ["loss"]},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
            "parallelTrialCount": 1, "maxTrialCount": 4,
            "metricsCollectorSpec": collector,
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.5"}}],
            "trialTemplate": {"trialParameters": [{"name": "learningRate", "reference": "lr"}],
                              "trialSpec": trial_spec, **template},
        },
    }
    return experiment_from_dict(json.loads(json.dumps(doc)), Path("/exp/coll.yaml"))


FILE = {"collector": {"kind": "File"}, "source": {"fileSystemPath": {"kind": "File", "path": "/katib/mnist.log"}}}
TFEVENT = {"collector": {"kind": "TensorFlowEvent"},
           "source": {"fileSystemPath": {"kind": "Directory", "path": "/logs/run"}}}


def container(name: str = "training-container", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "train:1",
            "command": ["python3", "/opt/train.py", "--log-path=/katib/mnist.log", "--lr=${trialParameters.learningRate}"],
            **extra}


def job(*containers: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "spec": {"template": {"spec": {"containers": list(containers) or [container()],
                                           "restartPolicy": "Never", **pod}}}}


def training(kind: str, roles: dict[str, str], main: str) -> dict[str, Any]:
    key = {"PyTorchJob": "pytorchReplicaSpecs", "TFJob": "tfReplicaSpecs"}[kind]
    specs = {role: {"replicas": 1 if role in ("Master", "Chief") else 2, "restartPolicy": "OnFailure",
                    "template": {"spec": {"containers": [container(main)]}}} for role in roles}
    return {"apiVersion": "kubeflow.org/v1", "kind": kind, "spec": {key: specs}}


def prepare(exp: Any) -> Any:
    return ExperimentLauncher(exp, local=False, namespace=NS).prepare(0, {"lr": 0.1}, Path("/x"))


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


# -- the manifest ---------------------------------------------------------------------------------

def test_a_job_gets_the_collector_beside_its_primary_container_sharing_the_metrics_folder() -> None:
    prepared = prepare(experiment({**FILE, "source": {**FILE["source"], "filter": {"metricsFormat": [r"(\w+):\s*(\S+)"]}}},
                                  job()))
    spec = pod_spec(prepared.resource.manifest)
    primary, sidecar = spec["containers"]
    assert spec["shareProcessNamespace"] is True
    assert spec["volumes"] == [{"name": COLLECTOR_VOLUME, "emptyDir": {}}]
    assert primary["volumeMounts"] == [{"name": COLLECTOR_VOLUME, "mountPath": "/katib"}]
    assert primary["command"][2] == "--log-path=/katib/mnist.log"  # the path as the trial gave it
    assert sidecar == {
        "name": COLLECTOR_CONTAINER, "image": COLLECTOR_IMAGE, "command": ["pipetune"],
        "args": ["collect", "--metric", "accuracy", "--metric", "loss", "--file", "/katib/mnist.log",
                 "--format", "TEXT", "--filter", r"(\w+):\s*(\S+)"],
        "volumeMounts": [{"name": COLLECTOR_VOLUME, "mountPath": "/katib"}],
        "resources": {"requests": {"cpu": "50m", "memory": "10Mi", "ephemeral-storage": "500Mi"},
                      "limits": {"cpu": "500m", "memory": "100Mi", "ephemeral-storage": "5Gi"}},
        "terminationMessagePolicy": "File",
    }
    assert prepared.log_metrics.file == "/katib/mnist.log" and not prepared.log_metrics.merged


def ours(collector: dict[str, Any], trial_spec: dict[str, Any]) -> Any:
    """The experiment as ``apiVersion: pipetune.dev/v1alpha1``, where extensions are allowed."""
    doc = json.loads(json.dumps({"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "coll", "namespace": NS}, "spec": {
                                     "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
                                     "algorithm": {"algorithmName": "random"}, "maxTrialCount": 2, "parallelTrialCount": 1,
                                     "metricsCollectorSpec": collector,
                                     "parameters": [{"name": "lr", "parameterType": "double",
                                                     "feasibleSpace": {"min": "0.01", "max": "0.5"}}],
                                     "trialTemplate": {"trialParameters": [{"name": "learningRate", "reference": "lr"}],
                                                       "trialSpec": trial_spec}}}))
    return experiment_from_dict(doc, Path("/exp/coll.yaml"))


def test_the_collectors_resources_are_katibs_defaults_with_the_experiments_over_them() -> None:
    given = {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi", "ephemeral-storage": "-1", "nvidia.com/gpu": 0}}
    for collector, where in ((FILE, ("spec", "template", "spec")),
                             (TFEVENT, ("spec", "pytorchReplicaSpecs", "Master", "template", "spec"))):
        trial = job() if collector is FILE else training("PyTorchJob", {"Master": "", "Worker": ""}, "pytorch")
        exp = ours({**collector, "collector": {**collector["collector"], "resources": given}}, trial)
        manifest = ExperimentLauncher(exp, local=False, namespace=NS).prepare(0, {"lr": 0.1}, Path("/x")).resource.manifest
        pod = manifest
        for key in where:
            pod = pod[key]
        sidecar = next(c for c in pod["containers"] if c["name"] == COLLECTOR_CONTAINER)
        # Katib's rule: an entry given replaces the default, a negative one removes it.
        assert sidecar["resources"] == {
            "requests": {"cpu": "100m", "memory": "10Mi", "ephemeral-storage": "500Mi"},
            "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "0"},
        }
    assert COLLECTOR_RESOURCES["limits"]["cpu"] == "500m"  # Katib's DefaultCPULimit


@pytest.mark.parametrize(("resources", "words"), [
    ({"limits": {"memory": "lots"}}, "collector.resources.limits.memory: expected a Kubernetes quantity"),
    ({"limit": {"memory": "1Gi"}}, "collector.resources: unknown field 'limit'"),
    ({"limits": ["1Gi"]}, "collector.resources.limits: expected a mapping"),
])
def test_bad_collector_resources_are_refused_naming_the_field(resources: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match="spec.metricsCollectorSpec." + words.replace(".", r"\.")):
        ours({**FILE, "collector": {"kind": "File", "resources": resources}}, job())


def test_collector_resources_in_a_katib_document_are_refused_as_pipetunes_extension() -> None:
    with pytest.raises(SpecError, match=r"collector\.resources: a pipetune extension; expected apiVersion pipetune.dev"):
        experiment({**FILE, "collector": {"kind": "File", "resources": {"limits": {"cpu": "1"}}}}, job())


def test_the_collector_reuses_a_volume_the_primary_mounts_over_the_folder() -> None:
    mounts = [{"name": "data", "mountPath": "/logs"}, {"name": "cache", "mountPath": "/cache"}]
    prepared = prepare(experiment(TFEVENT, job(container(volumeMounts=mounts),
                                               volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}])))
    spec = pod_spec(prepared.resource.manifest)
    sidecar = spec["containers"][1]
    assert sidecar["args"][-2:] == ["--tfevents", "/logs/run"]
    assert sidecar["volumeMounts"] == [{"name": "data", "mountPath": "/logs"}]
    assert [v["name"] for v in spec["volumes"]] == ["data"]  # no emptyDir over the user's volume


@pytest.mark.parametrize(("kind", "roles", "main", "amended"), [
    ("PyTorchJob", {"Master": "", "Worker": ""}, "pytorch", "Master"),
    ("TFJob", {"Chief": "", "Worker": "", "PS": ""}, "tensorflow", "Chief"),
    ("TFJob", {"Worker": "", "PS": ""}, "tensorflow", "Worker"),
])
def test_a_training_job_gets_it_in_its_primary_replica_only(kind: str, roles: dict[str, str], main: str,
                                                           amended: str) -> None:
    prepared = prepare(experiment(FILE, training(kind, roles, main)))
    replicas = next(v for k, v in prepared.resource.manifest["spec"].items() if k.endswith("ReplicaSpecs"))
    for role, replica in replicas.items():
        names = [c["name"] for c in replica["template"]["spec"]["containers"]]
        assert names == ([main, COLLECTOR_CONTAINER] if role == amended else [main]), role


def test_primary_pod_labels_naming_a_replica_type_choose_its_template() -> None:
    # Katib's TFJob example collects from the Worker pods (replica-type: worker), Chief or not.
    labels = {"training.kubeflow.org/replica-type": "worker"}
    prepared = prepare(experiment(TFEVENT, training("TFJob", {"Chief": "", "Worker": ""}, "tensorflow"),
                                  primaryPodLabels=labels))
    replicas = prepared.resource.manifest["spec"]["tfReplicaSpecs"]
    assert [c["name"] for c in replicas["Worker"]["template"]["spec"]["containers"]] == ["tensorflow", COLLECTOR_CONTAINER]
    assert [c["name"] for c in replicas["Chief"]["template"]["spec"]["containers"]] == ["tensorflow"]
    with pytest.raises(SpecError, match=r"no Evaluator replica with a pod template.*replica-type: Evaluator"):
        prepare(experiment(TFEVENT, training("TFJob", {"Worker": ""}, "tensorflow"),
                           primaryPodLabels={"training.kubeflow.org/replica-type": "Evaluator"}))


@pytest.mark.parametrize(("trial_spec", "template", "collector", "words"), [
    ({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
      "spec": {"runtimeRef": {"name": "torch"},
               "trainer": {"image": "t:1", "command": ["python", "${trialParameters.learningRate}"]}}},
     {}, FILE, "not add a container (Trainer refuses a container the runtime lacks) nor set shareProcessNamespace"),
    ({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
      "spec": {"entrypoint": "a", "arguments": {"parameters": [{"name": "lr", "value": "${trialParameters.learningRate}"}]}}},
     {}, FILE, "does not know which pod template of a Workflow"),
    (job(container("a"), container("b")), {}, FILE, "the pod has several containers (it has a, b)"),
    (job(), {"primaryContainerName": "main"}, FILE, "there is no container 'main'"),
    (job(initContainers=[{"name": "proxy", "image": "p", "restartPolicy": "Always"}]), {}, FILE,
     "proxy run beside the containers"),
    (job(container(COLLECTOR_CONTAINER)), {}, FILE, "is the name of pipetune's metrics collector"),
    (job(), {}, {**FILE, "source": {"fileSystemPath": {"kind": "File", "path": "/metrics.log"}}},
     "is directly under /"),
    (job(), {}, {"collector": {"kind": "PrometheusMetric"}}, "PrometheusMetric is not supported on the Kubernetes"),
])
def test_what_it_cannot_do_is_refused_before_any_trial_with_the_reason(
        trial_spec: dict[str, Any], template: dict[str, Any], collector: dict[str, Any], words: str) -> None:
    exp = experiment(collector, trial_spec, **template)
    launcher = ExperimentLauncher(exp, local=False, namespace=NS)
    with pytest.raises(SpecError, match="^/exp/coll.yaml: spec.") as raised:
        launcher.check(exp.space)
    assert words in str(raised.value)


# -- the engine, the pod played by hand with the real collector --------------------------------------

@pytest.fixture
def make_engine(cluster: EmulatedCluster) -> Iterator[Callable[..., KubernetesEngine]]:
    cluster.operator.outcome = None  # the test plays the Job controller and the kubelet
    made: list[KubernetesEngine] = []

    def make(**options: Any) -> KubernetesEngine:
        engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "coll"},
                                  retry=Retry(tries=2, base=0.01, cap=0.02), **options)
        made.append(engine)
        return engine
    yield make
    for engine in made:
        engine.close()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def submit(engine: KubernetesEngine, prepared: Any) -> Any:
    return engine.submit(RunRequest(run_id="r0", component=prepared.component, arguments={}, outputs_dir=Path("/x"),
                                    log_metrics=prepared.log_metrics, resource=prepared.resource,
                                    name=prepared.name, echo=False))


def container_status(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": "x", "imageID": "", "ready": "running" in state, "restartCount": 0, "state": state}


def seed_pod(cluster: EmulatedCluster, job_name: str) -> str:
    """The Job's pod, as the Job controller makes it from the stored template, both containers running."""
    stored = cluster.get(JOBS, NS, job_name)
    assert stored is not None
    template = stored["spec"]["template"]
    name = f"{job_name}-abcde"
    running = {"running": {"startedAt": "2026-12-04T10:00:00Z"}}
    cluster.seed(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {**template["metadata"]["labels"], "job-name": job_name}},
        "spec": template["spec"],
        "status": {"phase": "Running", "containerStatuses": [
            container_status(c["name"], running) for c in template["spec"]["containers"]]},
    })
    return name


def finish(cluster: EmulatedCluster, job_name: str, pod: str, collector_message: str,
           primary_started: str = "2026-12-04T10:00:00Z", collector_ended: str = "2026-12-04T10:05:00Z") -> None:
    """Both containers ended (the collector with its termination message), then the Job Complete."""
    cluster.patch_status(PODS, NS, pod, {"phase": "Succeeded", "containerStatuses": [
        container_status("training-container", {"terminated": {"exitCode": 0, "startedAt": primary_started,
                                                               "finishedAt": "2026-12-04T10:04:59Z"}}),
        container_status(COLLECTOR_CONTAINER, {"terminated": {"exitCode": 0, "message": collector_message,
                                                             "startedAt": "2026-12-04T10:00:00Z",
                                                             "finishedAt": collector_ended}})]})
    cluster.patch_status(JOBS, NS, job_name, {"conditions": [
        {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": ""}]})


def test_a_running_trials_entries_reach_the_engine_and_its_results_equal_the_local_reading(
        make_engine: Callable[..., KubernetesEngine], cluster: EmulatedCluster, tmp_path: Path) -> None:
    engine = make_engine(progress_interval=0.0)
    prepared = prepare(experiment(FILE, job()))
    handle = submit(engine, prepared)
    pod = seed_pod(cluster, prepared.name)
    stored = cluster.get(JOBS, NS, prepared.name)
    assert stored is not None
    # The engine's own amendments still reach the primary container, not the collector.
    primary, sidecar = stored["spec"]["template"]["spec"]["containers"]
    assert primary["terminationMessagePath"] == "/outputs/results.yaml"
    assert "terminationMessagePath" not in sidecar
    assert stored["spec"]["template"]["metadata"]["labels"][TRIAL_LABEL] == prepared.name

    # The pod's two containers, run here: the stand-in primary writes /katib/mnist.log (under
    # tmp_path) a step at a time; the collector's printed lines become its container's log.
    metrics, gate = here("/katib/mnist.log", tmp_path), tmp_path / "gate"
    gate.mkdir()
    writer = subprocess.Popen([sys.executable, str(WRITER), "--path", str(metrics), "--gate", str(gate)])
    collector = CollectorProcess(collector_container(stored), tmp_path, writer.pid,
                                 lambda line: cluster.append_log(NS, pod, COLLECTOR_CONTAINER, line))
    cluster.set_log(NS, pod, "training-container", "epoch 1: accuracy=0.99\n")  # not what the collector reads
    try:
        for step in (1, 2, 3):
            (gate / f"go-{step}").touch()
            wait_until(f"entry {step} on the engine", lambda n=step: len(engine.intermediate(handle)) == n)
        assert [dict(e) for e in engine.intermediate(handle)] == [
            {"accuracy": s / 10, "loss": round(1 - s / 10, 6)} for s in (1, 2, 3)]
        assert engine.poll(handle).phase is Phase.RUNNING
        (gate / "stop").touch()
        assert writer.wait(30) == 0
        code, stderr, message = collector.wait()
    finally:
        for process in (writer, collector.process):
            if process.poll() is None:
                process.kill()
    assert (code, stderr) == (0, "")
    finish(cluster, prepared.name, pod, message)
    assert engine.wait(handle, 20).phase is Phase.SUCCEEDED
    local = follow_collector(LogMetrics(names=("accuracy", "loss"), file=str(metrics)), str(metrics)).finish()
    assert engine.results(handle) == local


def test_a_history_cut_from_the_termination_message_is_read_from_the_collectors_log(
        make_engine: Callable[..., KubernetesEngine], cluster: EmulatedCluster) -> None:
    engine = make_engine()
    prepared = prepare(experiment(FILE, job()))
    handle = submit(engine, prepared)
    pod = seed_pod(cluster, prepared.name)
    lines = "".join(REPORT_PREFIX + json.dumps({"accuracy": i / 1000}) + "\n" for i in range(1, 301))
    cluster.set_log(NS, pod, COLLECTOR_CONTAINER, lines)
    finish(cluster, prepared.name, pod, "apiVersion: pipetune.dev/v1\nmetrics: {accuracy: 0.3, loss: 0.5}\n")
    assert engine.wait(handle, 20).phase is Phase.SUCCEEDED
    results = engine.results(handle)
    assert results is not None and results.metrics == {"accuracy": 0.3, "loss": 0.5}
    assert [e["accuracy"] for e in results.history] == [i / 1000 for i in range(1, 301)]


def test_a_primary_restarted_after_the_collector_ended_is_not_taken_for_its_results(
        make_engine: Callable[..., KubernetesEngine], cluster: EmulatedCluster) -> None:
    engine = make_engine()
    prepared = prepare(experiment(FILE, job()))
    handle = submit(engine, prepared)
    pod = seed_pod(cluster, prepared.name)
    finish(cluster, prepared.name, pod, "apiVersion: pipetune.dev/v1\nmetrics: {accuracy: 0.3}\nhistory: [{accuracy: 0.3}]\n",
           primary_started="2026-12-04T10:06:00Z", collector_ended="2026-12-04T10:05:00Z")
    status = engine.wait(handle, 20)
    assert (status.phase, status.reason) == (Phase.FAILED, Reason.RESULTS_INVALID)
    assert "primary container started again at 2026-12-04T10:06:00Z" in (status.message or "")
    assert "restartPolicy Never" in (status.message or "")


def test_a_tfjobs_event_files_through_the_collector_of_its_primary_worker(cluster: EmulatedCluster,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    prepared = prepare(experiment(TFEVENT, training("TFJob", {"Worker": "", "PS": ""}, "tensorflow")))
    manifest = prepared.resource.manifest
    # The trial's event files (write_metrics.py writes <folder>/train/...), read by the real
    # collector over a copy of the folder; the scripted operator hands its output to worker 0.
    events = here("/logs/run", tmp_path)
    done = subprocess.run([sys.executable, str(WRITER), "--format", "TFEVENT", "--path", str(events)], timeout=60)
    assert done.returncode == 0
    printed, message = collect_once(collector_container(manifest), tmp_path)
    assert printed.count(REPORT_PREFIX) == 3
    cluster.operator.outcome = lambda obj: Outcome(logs=printed, termination_message=message,
                                                   container=COLLECTOR_CONTAINER)
    engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "coll"}, retry=Retry(tries=3, base=0.01))
    try:
        handle = submit(engine, prepared)
        assert engine.wait(handle, 20).phase is Phase.SUCCEEDED
        results = engine.results(handle)
    finally:
        engine.close()
    assert results == read_tfevents(events, ("accuracy", "loss"))
    assert results is not None and len(results.history) == 3


def test_a_pod_without_the_collector_is_not_read_as_if_its_log_were_the_metrics_file(
        make_engine: Callable[..., KubernetesEngine], cluster: EmulatedCluster) -> None:
    """Say the primaryPodLabels pick a pod the collector was not added to: the primary's own
    log (accuracy as a percentage, as tf-mnist-with-summaries prints it) is no File collector's."""
    engine = make_engine(progress_interval=0.0)
    prepared = prepare(experiment(FILE, job()))
    handle = submit(engine, prepared)
    stored = cluster.get(JOBS, NS, prepared.name)
    assert stored is not None
    labels = stored["spec"]["template"]["metadata"]["labels"]
    running = {"running": {"startedAt": "2026-12-04T10:00:00Z"}}
    cluster.seed(PODS, {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": "other", "namespace": NS, "labels": labels},
                        "spec": {"containers": [container()]},
                        "status": {"phase": "Running",
                                   "containerStatuses": [container_status("training-container", running)]}})
    cluster.set_log(NS, "other", "training-container", "accuracy=96.55\n")
    wait_until("a look at the pod", lambda: engine.intermediate(handle) == () and
               cluster.emulator.requests()[("list", "pods")] >= 1)
    assert cluster.emulator.requests()[("get", "pods/log")] == 0
    cluster.patch_status(PODS, NS, "other", {"phase": "Succeeded", "containerStatuses": [
        container_status("training-container", {"terminated": {"exitCode": 0}})]})
    cluster.patch_status(JOBS, NS, prepared.name, {"conditions": [
        {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": ""}]})
    status = engine.wait(handle, 20)
    assert (status.phase, status.reason) == (Phase.FAILED, Reason.RESULTS_INVALID)
    assert f"pod other has no container {COLLECTOR_CONTAINER}" in (status.message or "")
    assert engine.results(handle) is None


# -- a whole experiment: medianstop on what the collector prints ------------------------------------

EARLY = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: fstop, namespace: ml}
spec:
  objective: {type: maximize, objectiveMetricName: accuracy}
  algorithm: {algorithmName: random, algorithmSettings: [{name: random_state, value: "7"}]}
  earlyStopping:
    algorithmName: medianstop
    algorithmSettings: [{name: min_trials_required, value: "2"}, {name: start_step, value: "2"}]
  parallelTrialCount: 1
  maxTrialCount: 4
  metricsCollectorSpec:
    source: {fileSystemPath: {path: /katib/mnist.json, kind: File, format: JSON}}
    collector: {kind: File}
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.01", max: "0.5"}}
  trialTemplate:
    primaryContainerName: training-container
    trialParameters: [{name: learningRate, reference: lr}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training-container
                image: "train:1"
                command: [python3, /opt/train.py, "--log-path=/katib/mnist.json", "--lr=${trialParameters.learningRate}"]
"""
BAD = "fstop-0002"


def through_the_collector(resource: dict[str, Any]) -> Outcome:
    """What the collector container prints while the trial writes its JSON lines, and its
    termination message at the end; the bad trial would print 200 steps if not stopped."""
    spec = resource["spec"]["template"]["spec"]
    assert spec["shareProcessNamespace"] and [c["name"] for c in spec["containers"]] == [
        "training-container", COLLECTOR_CONTAINER]
    if resource["metadata"]["name"] == BAD:
        curve = [(step, round(0.1 + step / 1000, 3)) for step in range(1, 201)]
    else:
        curve = [(1, 0.6), (2, 0.7), (3, 0.8)]
    history = "".join(f"- {{step: {step}, accuracy: {value}}}\n" for step, value in curve)
    message = f"apiVersion: pipetune.dev/v1\nmetrics: {{accuracy: {curve[-1][1]}}}\nhistory:\n{history}"
    return Outcome(progress=tuple(REPORT_PREFIX + json.dumps({"step": s, "accuracy": v}) for s, v in curve),
                   progress_delay=0.05, termination_message=message, container=COLLECTOR_CONTAINER)


def test_medianstop_stops_a_trial_on_what_its_collector_reports(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = through_the_collector
    exp = experiment_from_dict(yaml.safe_load(EARLY), tmp_path / "exp.yaml")
    engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "fstop"},
                              retry=Retry(tries=3, base=0.01), progress_interval=0.1)
    try:
        tuner = Session.for_experiment(exp, local=False, namespace=NS).tuner(
            engine, RunStore(tmp_path / "state"), tmp_path / "exp", poll_interval=0.05)
        result = tuner.run()
    finally:
        engine.close()
    statuses = {t.index: t.status.value for t in result.trials}
    assert statuses == {0: "Succeeded", 1: "Succeeded", 2: "EarlyStopped", 3: "Succeeded"}
    stopped = result.trials[2]
    assert stopped.objective is not None and 0.1 < stopped.objective < 0.3
    assert {t.index: t.objective for t in result.trials if t.index != 2} == {0: 0.8, 1: 0.8, 3: 0.8}
    assert cluster.objects(JOBS, NS) == []
