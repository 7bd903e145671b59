"""FakeOperator: a scripted stand-in for the controllers pipetune's cluster engines rely on.

It drives what a test creates, as these controllers would, through the emulator's HTTP API
(so watches see every change) from its own thread:

- batch/v1 Job (the Job controller): a pod ``<job>-<5 chars>`` labelled ``job-name``,
  ``batch.kubernetes.io/job-name``, ``controller-uid`` and ``batch.kubernetes.io/controller-uid``;
  status ``active``/``ready`` then ``succeeded``/``failed`` counts, ``startTime``,
  ``completionTime``, and conditions ``SuccessCriteriaMet`` + ``Complete`` or ``FailureTarget`` +
  ``Failed`` (reason ``BackoffLimitExceeded``) as Kubernetes 1.31+ writes them. A failing Job gets
  ``backoffLimit + 1`` pods (6 + 1 when unset), one after the other.
- kubeflow.org/v1 PyTorchJob, TFJob (also XGBoostJob, PaddleJob if declared), as the
  training-operator: pods ``<job>-<role>-<i>`` labelled ``training.kubeflow.org/job-name``,
  ``.../replica-type`` (lower case), ``.../replica-index``, ``.../operator-name`` and, on the
  Master/Chief pod (a TFJob without one: worker 0), ``training.kubeflow.org/job-role: master``;
  conditions ``Created`` -> ``Running`` -> ``Succeeded``/``Failed`` (reasons ``<Kind>Created``,
  ``<Kind>Running``, ``<Kind>Succeeded``, ``<Kind>Failed``; Running turns False at the end),
  ``replicaStatuses``, ``startTime``, ``completionTime``.
- trainer.kubeflow.org/v1alpha1 TrainJob, as Kubeflow Trainer with JobSet: pods
  ``<job>-node-0-<i>-<5 chars>`` for ``spec.trainer.numNodes`` labelled
  ``jobset.sigs.k8s.io/jobset-name``, ``jobset.sigs.k8s.io/replicatedjob-name: node``,
  ``jobset.sigs.k8s.io/job-index: "0"``, ``batch.kubernetes.io/job-completion-index``,
  ``job-name``/``batch.kubernetes.io/job-name: <job>-node-0``; conditions ``Complete``
  (``AllJobsCompleted``) or ``Failed`` (``FailedJobs``). No JobSet or Job object is created:
  the pods are owned by the TrainJob directly.
- tekton.dev/v1 TaskRun: a pod ``<run>-pod`` labelled ``tekton.dev/taskRun``,
  ``tekton.dev/taskRunUID``, ``app.kubernetes.io/managed-by: tekton-pipelines`` (and
  ``tekton.dev/task`` for a taskRef), one ``step-<name>`` container per ``taskSpec`` step;
  ``status.podName``; condition ``Succeeded`` Unknown (Pending, Running) -> True/False;
  ``status.results`` from the outcome; ``spec.status: TaskRunCancelled`` cancels it.
- tekton.dev/v1 PipelineRun: conditions only (no child TaskRuns, no pods); ``spec.status:
  Cancelled`` cancels it.

Every pod copies the labels and annotations of the pod template found in the resource (Job:
``spec.template``; training jobs: ``spec.<x>ReplicaSpecs.<Role>.template``) or, for TrainJob
and TaskRun, the resource's own labels; its spec is the template's. Pods get ``phase`` and
``containerStatuses``; the primary pod's main container ends with the scripted termination
message and holds the scripted logs, then the scripted ``progress`` lines one by one while it
runs, as a training prints its reports (``Outcome.container`` sends them to another container
of that pod instead, such as pipetune's metrics collector). Deleting a resource deletes its pods (the garbage
collector's part), also mid-lifecycle. ``Outcome`` scripts the rest.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from .emulator import (
    EmulatedCluster,
    Event,
    _api_version,
    _merge_patch,
    name_suffix,
    now_iso,
)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a driven resource ends.

    ``termination_message`` and ``logs`` go to the primary pod's main container; ``reason`` and
    ``message`` replace the resource's failure condition's defaults; ``exit_code`` defaults to 0
    on success and 1 on failure; ``delay`` is the time between lifecycle steps; ``hang`` stops at
    Running (until deleted or cancelled); ``results`` become a TaskRun's/PipelineRun's
    ``status.results``. ``progress`` lines are appended to the primary pod's main container log
    once it runs (after ``logs``), one every ``progress_delay`` seconds (None: ``delay``), before
    the pod goes on to terminate (or to hang); deleting the resource stops them.
    """

    succeed: bool = True
    termination_message: str | None = None
    logs: str = ""
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    delay: float = 0.02
    hang: bool = False
    results: Mapping[str, str] = dataclasses.field(default_factory=dict)
    progress: tuple[str, ...] = ()
    progress_delay: float | None = None
    #: The primary pod's container that gets ``logs``, ``progress`` and ``termination_message``
    #: (None: the main one), e.g. pipetune's metrics collector.
    container: str | None = None

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"Outcome: delay {self.delay} is negative")
        if self.progress_delay is not None and self.progress_delay < 0:
            raise ValueError(f"Outcome: progress_delay {self.progress_delay} is negative")
        if self.exit_code is not None and (self.exit_code == 0) != self.succeed:
            raise ValueError(f"Outcome: exit_code {self.exit_code} contradicts succeed={self.succeed}")

    @property
    def code(self) -> int:
        return self.exit_code if self.exit_code is not None else 0 if self.succeed else 1


OutcomeFn = Callable[[dict[str, Any]], "Outcome | None"]


def by_name(outcomes: Mapping[str, Outcome], default: Outcome | None = Outcome()) -> OutcomeFn:
    """An outcome function: ``outcomes[metadata.name]``, else ``default`` (None: leave it alone)."""
    return lambda resource: outcomes.get(resource["metadata"]["name"], default)


#: The resources the operator drives, and how.
DRIVEN = {
    "batch/v1/jobs": "_job",
    "kubeflow.org/v1/pytorchjobs": "_training",
    "kubeflow.org/v1/tfjobs": "_training",
    "kubeflow.org/v1/xgboostjobs": "_training",
    "kubeflow.org/v1/paddlejobs": "_training",
    "trainer.kubeflow.org/v1alpha1/trainjobs": "_trainjob",
    "tekton.dev/v1/taskruns": "_taskrun",
    "tekton.dev/v1/pipelineruns": "_pipelinerun",
}
_ROLE_ORDER = {"master": 0, "chief": 1, "launcher": 2, "ps": 3, "worker": 4, "evaluator": 5}
_MAIN_CONTAINERS = ("pytorch", "tensorflow", "xgboost", "paddle", "node")
_TERMINAL = {"Complete", "Failed", "Succeeded"}


class _ResourceGone(Exception):
    """The driven resource is gone (404 on its status)."""


@dataclasses.dataclass(eq=False)
class _Run:
    resource: str
    namespace: str
    name: str
    uid: str
    kind: str
    api_version: str
    body: dict[str, Any]
    outcome: Outcome
    status: dict[str, Any] = dataclasses.field(default_factory=dict)
    pods: list[str] = dataclasses.field(default_factory=list)
    steps: Generator[float, None, None] | None = None
    finished: bool = False


class FakeOperator:
    """Drives Jobs, training jobs, TrainJobs, TaskRuns and PipelineRuns; see the module docstring.

    ``outcome(resource)`` (settable at any time) scripts each new resource: an ``Outcome``, or
    None to leave it alone; ``outcome = None`` leaves every resource alone. A resource created
    with a terminal condition already is left alone.
    ``seen[kind]`` lists the names taken on, in order. ``errors`` holds what went wrong in the
    operator's thread (the ``cluster`` fixture fails the test with it).
    """

    def __init__(self, cluster: EmulatedCluster, outcome: OutcomeFn | None = None, *,
                 resources: Iterable[str] = DRIVEN) -> None:
        unknown = set(resources) - set(DRIVEN)
        if unknown:
            raise ValueError(f"FakeOperator: cannot drive {sorted(unknown)}; it drives {sorted(DRIVEN)}")
        self.cluster = cluster
        self.outcome: OutcomeFn | None = outcome or (lambda resource: Outcome())
        self.seen: dict[str, list[str]] = collections.defaultdict(list)
        self.errors: list[tuple[str, BaseException]] = []
        self._driven = frozenset(resources)
        self._events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Lock()
        self._queued = 0      # events put and not yet handled
        self._scheduled = 0   # live steps in the heap
        self._heap: list[tuple[float, int, _Run, Any]] = []
        self._order = itertools.count()
        self._runs: dict[tuple[str, str, str], _Run] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unlisten: Callable[[], None] | None = None

    # -- public ----------------------------------------------------------------------------------

    def start(self) -> FakeOperator:
        if self._thread is not None:
            raise RuntimeError("FakeOperator.start(): already started")
        self._unlisten = self.cluster.emulator.add_listener(self._on_event)
        self._thread = threading.Thread(target=self._main, name="fake-operator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def idle(self) -> bool:
        """Whether every event is handled and no lifecycle step is pending (hanging ones are idle)."""
        with self._lock:
            return self._queued == 0 and self._scheduled == 0

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until ``idle()``; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                raise TimeoutError(f"FakeOperator: still busy after {timeout} s "
                                   f"({self._queued} events, {self._scheduled} steps pending)")
            time.sleep(0.005)

    # -- the thread ------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:  # on the emulator's loop: quick, never blocks
        if f"{_api_version(event.resource)}/{event.resource.plural}" in self._driven:
            with self._lock:
                self._queued += 1
            self._events.put(event)

    def _main(self) -> None:
        while not self._stopping.is_set():
            wait = 0.05
            if self._heap:
                wait = max(0.0, min(wait, self._heap[0][0] - time.monotonic()))
            try:
                event = self._events.get(timeout=wait)
            except queue.Empty:
                event = None
            while event is not None:
                self._guard(f"{event.type} {event.object['metadata'].get('name')}", self._handle, event)
                with self._lock:
                    self._queued -= 1
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    event = None
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                _, _, run, steps = heapq.heappop(self._heap)
                if run.steps is steps:
                    self._step(run)
                with self._lock:
                    self._scheduled -= 1

    def _guard(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - kept for the test to see
            self.errors.append((what, exc))

    def _handle(self, event: Event) -> None:
        obj = event.object
        meta = obj["metadata"]
        resource = f"{_api_version(event.resource)}/{event.resource.plural}"
        key = (resource, meta.get("namespace") or "", meta["name"])
        run = self._runs.get(key)
        if run is not None and run.uid != meta.get("uid"):
            run = None  # an older object of that name
        if event.type == "ADDED":
            if run is not None or _terminal(obj):
                return
            outcome = None if self.outcome is None else self.outcome(copy.deepcopy(obj))
            if outcome is None:
                return
            if not isinstance(outcome, Outcome):
                raise TypeError(f"outcome() returned {outcome!r}, not an Outcome or None")
            run = _Run(resource, key[1], key[2], meta.get("uid", ""), obj.get("kind", ""), obj.get("apiVersion", ""),
                       copy.deepcopy(obj), outcome)
            self._runs[key] = run
            self.seen[run.kind].append(run.name)
            run.steps = getattr(self, DRIVEN[resource])(run)
            self._step(run)
        elif event.type == "DELETED" and run is not None:
            del self._runs[key]
            self._stop_run(run)
            self._delete_pods(run)
        elif event.type == "MODIFIED" and run is not None and not run.finished:
            spec_status = (obj.get("spec") or {}).get("status")
            if resource == "tekton.dev/v1/taskruns" and spec_status == "TaskRunCancelled":
                self._cancel(run, "TaskRunCancelled", f'TaskRun "{run.name}" was cancelled. ')
            elif resource == "tekton.dev/v1/pipelineruns" and spec_status in (
                    "Cancelled", "CancelledRunFinally", "StoppedRunFinally"):
                self._cancel(run, "Cancelled", f'PipelineRun "{run.name}" was cancelled')

    def _step(self, run: _Run) -> None:
        steps = run.steps
        if steps is None:
            return
        try:
            delay = next(steps)
        except StopIteration:
            run.steps = None
            return
        except _ResourceGone:
            self._stop_run(run)
            self._delete_pods(run)
            return
        except Exception as exc:  # noqa: BLE001 - kept for the test to see
            run.steps = None
            self.errors.append((f"{run.kind} {run.namespace}/{run.name}", exc))
            return
        with self._lock:
            self._scheduled += 1
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), run, steps))

    def _stop_run(self, run: _Run) -> None:
        if run.steps is not None:
            run.steps.close()
            run.steps = None
        run.finished = True

    def _cancel(self, run: _Run, reason: str, message: str) -> None:
        self._stop_run(run)
        self._delete_pods(run)
        run.status["conditions"] = [_tekton_condition("False", reason, message)]
        run.status["completionTime"] = now_iso()
        try:
            self.cluster.patch_status(run.resource, run.namespace, run.name, run.status, actor="operator")
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- API writes --------------------------------------------------------------------------------

    def _set_status(self, run: _Run, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` (None deletes a key) into the resource's status."""
        run.status = _merge_patch(run.status, dict(changes))
        try:
            self.cluster.patch(run.resource, run.namespace, run.name, {"status": dict(changes)},
                               subresource="status", actor="operator")
        except ApiException as exc:
            if exc.status == 404:
                raise _ResourceGone() from None
            raise

    def _create_pod(self, run: _Run, name: str, labels: Mapping[str, str], template: Mapping[str, Any],
                    annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        template_meta = template.get("metadata") or {}
        spec = copy.deepcopy(template.get("spec") or {})
        containers = spec.get("containers") or [{"name": "main", "image": "busybox"}]
        for index, container in enumerate(containers):
            container.setdefault("name", f"container-{index}")
            container.setdefault("image", "busybox")
        spec["containers"] = containers
        spec.setdefault("restartPolicy", "Never")
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": run.namespace,
                "labels": {**(template_meta.get("labels") or {}), **labels},
                "annotations": {**(template_meta.get("annotations") or {}), **(annotations or {})},
                "ownerReferences": [{"apiVersion": run.api_version, "kind": run.kind, "name": run.name,
                                     "uid": run.uid, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": spec,
        }
        pod = self.cluster.create("v1/pods", body, namespace=run.namespace, actor="operator")
        run.pods.append(name)
        return pod

    def _pod_running(self, run: _Run, pod: dict[str, Any], logs: Mapping[str, str] | None = None) -> None:
        started = now_iso()
        statuses = [{
            "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
            "started": True, "containerID": f"containerd://{name_suffix(pod['metadata']['uid'], c['name'], length=12)}",
            "state": {"running": {"startedAt": started}},
        } for c in pod["spec"]["containers"]]
        self._pod_status(run, pod, {
            "phase": "Running", "startTime": started, "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
            "conditions": _pod_conditions("True"), "containerStatuses": statuses})
        for container, text in (logs or {}).items():
            self.cluster.set_log(run.namespace, pod["metadata"]["name"], container, text)

    def _pod_terminated(self, run: _Run, pod: dict[str, Any], main: str | None) -> None:
        outcome = run.outcome
        finished = now_iso()
        statuses = []
        for c in pod["spec"]["containers"]:
            terminated: dict[str, Any] = {
                "exitCode": outcome.code if c["name"] == main or not outcome.succeed else 0,
                "reason": "Completed" if outcome.succeed else "Error",
                "startedAt": finished, "finishedAt": finished,
                "containerID": f"containerd://{name_suffix(pod['metadata']['uid'], c['name'], length=12)}",
            }
            if main is not None and c["name"] == (outcome.container or main) and outcome.termination_message is not None:
                terminated["message"] = outcome.termination_message
            statuses.append({"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                             "restartCount": 0, "started": False, "state": {"terminated": terminated}})
        self._pod_status(run, pod, {
            "phase": "Succeeded" if outcome.succeed else "Failed",
            "conditions": _pod_conditions("False", "PodCompleted"), "containerStatuses": statuses})

    def _pod_status(self, run: _Run, pod: dict[str, Any], status: dict[str, Any]) -> None:
        try:
            self.cluster.patch("v1/pods", run.namespace, pod["metadata"]["name"], {"status": status},
                               subresource="status", actor="operator")
        except ApiException as exc:
            if exc.status != 404:  # a pod deleted under us: the controller moves on
                raise

    def _delete_pods(self, run: _Run) -> None:
        for name in run.pods:
            try:
                self.cluster.delete("v1/pods", run.namespace, name, actor="operator")
            except ApiException as exc:
                if exc.status != 404:
                    raise
        run.pods.clear()

    def _logs_for(self, run: _Run, main: str | None) -> dict[str, str]:
        target = run.outcome.container or main
        return {target: run.outcome.logs} if main is not None and run.outcome.logs else {}

    def _progress(self, run: _Run, pod: Mapping[str, Any], main: str | None) -> Generator[float, None, None]:
        """Print the scripted progress lines into the running pod's main container log, one a step."""
        outcome = run.outcome
        if main is None:
            return
        delay = outcome.delay if outcome.progress_delay is None else outcome.progress_delay
        for line in outcome.progress:
            yield delay
            self.cluster.append_log(run.namespace, pod["metadata"]["name"], outcome.container or main,
                                    line if line.endswith("\n") else line + "\n")

    # -- lifecycles: generators yielding the seconds to the next step ------------------------------

    def _job(self, run: _Run) -> Generator[float, None, None]:
        outcome = run.outcome
        spec = run.body.get("spec") or {}
        template = spec.get("template") or {}
        attempts = 1 if outcome.succeed else int(spec.get("backoffLimit", 6)) + 1
        labels = {"batch.kubernetes.io/controller-uid": run.uid, "batch.kubernetes.io/job-name": run.name,
                  "controller-uid": run.uid, "job-name": run.name}
        self._set_status(run, {"startTime": now_iso(), "active": 0, "ready": 0})
        for attempt in range(attempts):
            pod = self._create_pod(run, f"{run.name}-{name_suffix(run.namespace, run.name, attempt)}", labels, template)
            main = _main_container(pod)
            self._set_status(run, {"active": 1, "ready": 0})
            yield outcome.delay
            self._pod_running(run, pod, self._logs_for(run, main))
            self._set_status(run, {"ready": 1})
            yield from self._progress(run, pod, main)
            if outcome.hang:
                return
            yield outcome.delay
            self._pod_terminated(run, pod, main)
            if not outcome.succeed:
                self._set_status(run, {"active": 0, "ready": 0, "failed": attempt + 1})
                yield outcome.delay
        yield outcome.delay
        if outcome.succeed:
            reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
            conditions = [_job_condition("SuccessCriteriaMet", reason, message), _job_condition("Complete", reason, message)]
            self._set_status(run, {"active": None, "ready": 0, "succeeded": 1, "conditions": conditions,
                                   "completionTime": now_iso()})
        else:
            reason = outcome.reason or "BackoffLimitExceeded"
            message = outcome.message or "Job has reached the specified backoff limit"
            conditions = [_job_condition("FailureTarget", reason, message), _job_condition("Failed", reason, message)]
            self._set_status(run, {"active": None, "ready": 0, "conditions": conditions})
        run.finished = True

    def _training(self, run: _Run) -> Generator[float, None, None]:
        outcome, kind = run.outcome, run.kind
        spec = run.body.get("spec") or {}
        replica_key = next((k for k in spec if k.endswith("ReplicaSpecs") and isinstance(spec[k], dict)), None)
        replica_specs: dict[str, Any] = (spec.get(replica_key) or {}) if replica_key else {}
        roles = sorted(replica_specs, key=lambda role: (_ROLE_ORDER.get(role.lower(), 9), role))
        has_master = any(role.lower() in ("master", "chief") for role in roles)
        created = [_condition("Created", "True", f"{kind}Created", f"{kind} {run.name} is created.")]
        self._set_status(run, {"conditions": created, "replicaStatuses": {role: {} for role in roles}})
        pods: list[tuple[dict[str, Any], str]] = []
        primary: dict[str, Any] | None = None
        fallback: dict[str, Any] | None = None
        for role in roles:
            replica = replica_specs[role] or {}
            template = replica.get("template") or {}
            for index in range(int(replica.get("replicas", 1))):
                is_master = role.lower() in ("master", "chief") if has_master else (
                    kind == "TFJob" and role.lower() == "worker" and index == 0)
                labels = {
                    "training.kubeflow.org/job-name": run.name,
                    "training.kubeflow.org/operator-name": f"{kind.lower()}-controller",
                    "training.kubeflow.org/replica-type": role.lower(),
                    "training.kubeflow.org/replica-index": str(index),
                }
                if is_master:
                    labels["training.kubeflow.org/job-role"] = "master"
                pod = self._create_pod(run, f"{run.name}-{role.lower()}-{index}", labels, template)
                pods.append((pod, role))
                if is_master and primary is None:
                    primary = pod
                elif fallback is None and not has_master:
                    fallback = pod
        # The master-labelled pod (a TFJob's worker 0 even after its PS pods), else the first.
        primary = primary or fallback
        yield outcome.delay
        for pod, _ in pods:
            main = _main_container(pod)
            self._pod_running(run, pod, self._logs_for(run, main) if pod is primary else None)
        running = _condition("Running", "True", f"{kind}Running", f"{kind} {run.namespace}/{run.name} is running.")
        counts = collections.Counter(role for _, role in pods)
        self._set_status(run, {"conditions": created + [running], "startTime": now_iso(),
                               "replicaStatuses": {role: {"active": n} for role, n in counts.items()}})
        if primary is not None:
            yield from self._progress(run, primary, _main_container(primary))
        if outcome.hang:
            return
        yield outcome.delay
        for pod, _ in pods:
            self._pod_terminated(run, pod, _main_container(pod) if pod is primary else None)
        yield outcome.delay
        running = {**running, "status": "False", "lastTransitionTime": now_iso()}
        if outcome.succeed:
            final = _condition("Succeeded", "True", f"{kind}Succeeded",
                               f"{kind} {run.namespace}/{run.name} successfully completed.")
            replicas = {role: {"active": None, "succeeded": n} for role, n in counts.items()}
        else:
            primary_role = next((role for pod, role in pods if pod is primary), roles[0] if roles else "Master")
            final = _condition("Failed", "True", outcome.reason or f"{kind}Failed", outcome.message or (
                f"{kind} {run.namespace}/{run.name} is failed because 1 {primary_role} replica(s) failed."))
            replicas = {role: {"active": None, "failed": n} for role, n in counts.items()}
        self._set_status(run, {"conditions": created + [running, final], "replicaStatuses": replicas,
                               "completionTime": now_iso()})
        run.finished = True

    def _trainjob(self, run: _Run) -> Generator[float, None, None]:
        outcome = run.outcome
        trainer = (run.body.get("spec") or {}).get("trainer") or {}
        container: dict[str, Any] = {"name": "node", "image": trainer.get("image") or "trainer-runtime"}
        for field in ("command", "args", "env"):
            if trainer.get(field):
                container[field] = copy.deepcopy(trainer[field])
        if trainer.get("resourcesPerNode"):
            container["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
        template = {"metadata": {"labels": dict(run.body["metadata"].get("labels") or {})},
                    "spec": {"containers": [container], "restartPolicy": "OnFailure"}}
        job = f"{run.name}-node-0"
        pods = []
        for index in range(int(trainer.get("numNodes") or 1)):
            labels = {
                "jobset.sigs.k8s.io/jobset-name": run.name,
                "jobset.sigs.k8s.io/replicatedjob-name": "node",
                "jobset.sigs.k8s.io/job-index": "0",
                "batch.kubernetes.io/job-completion-index": str(index),
                "batch.kubernetes.io/job-name": job,
                "job-name": job,
            }
            name = f"{job}-{index}-{name_suffix(run.namespace, run.name, index)}"
            pods.append(self._create_pod(run, name, labels, template,
                                         {"batch.kubernetes.io/job-completion-index": str(index)}))
        yield outcome.delay
        for pod in pods:
            self._pod_running(run, pod, self._logs_for(run, "node") if pod is pods[0] else None)
        if pods:
            yield from self._progress(run, pods[0], "node")
        if outcome.hang:
            return
        yield outcome.delay
        for pod in pods:
            self._pod_terminated(run, pod, "node" if pod is pods[0] else None)
        yield outcome.delay
        if outcome.succeed:
            final = _condition("Complete", "True", "AllJobsCompleted", "jobset completed successfully")
        else:
            final = _condition("Failed", "True", outcome.reason or "FailedJobs",
                               outcome.message or "jobset failed due to one or more job failures")
        self._set_status(run, {"conditions": [final]})
        run.finished = True

    def _taskrun(self, run: _Run) -> Generator[float, None, None]:
        outcome = run.outcome
        spec = run.body.get("spec") or {}
        steps = (spec.get("taskSpec") or {}).get("steps") or [{"name": "main", "image": "busybox"}]
        containers = []
        for index, step in enumerate(steps):
            container = {k: copy.deepcopy(v) for k, v in step.items() if k in ("image", "command", "args", "env",
                                                                                "workingDir", "resources")}
            container["name"] = f"step-{step.get('name') or f'unnamed-{index}'}"
            container.setdefault("image", "busybox")
            containers.append(container)
        labels = {"tekton.dev/taskRun": run.name, "tekton.dev/taskRunUID": run.uid,
                  "app.kubernetes.io/managed-by": "tekton-pipelines"}
        if (spec.get("taskRef") or {}).get("name"):
            labels["tekton.dev/task"] = spec["taskRef"]["name"]
        template = {"metadata": {"labels": dict(run.body["metadata"].get("labels") or {}),
                                 "annotations": dict(run.body["metadata"].get("annotations") or {})},
                    "spec": {"containers": containers, "restartPolicy": "Never"}}
        pod = self._create_pod(run, f"{run.name}-pod", labels, template)
        main = containers[-1]["name"]
        self._set_status(run, {"podName": pod["metadata"]["name"], "startTime": now_iso(),
                               "conditions": [_tekton_condition("Unknown", "Pending", "Pending")]})
        yield outcome.delay
        self._pod_running(run, pod, self._logs_for(run, main))
        self._set_status(run, {"conditions": [_tekton_condition(
            "Unknown", "Running", "Not all Steps in the Task have finished executing")]})
        yield from self._progress(run, pod, main)
        if outcome.hang:
            return
        yield outcome.delay
        self._pod_terminated(run, pod, main)
        yield outcome.delay
        if outcome.succeed:
            condition = _tekton_condition("True", "Succeeded", "All Steps have completed executing")
        else:
            condition = _tekton_condition("False", outcome.reason or "Failed", outcome.message or (
                f'"{main}" exited with code {outcome.code}'))
        changes: dict[str, Any] = {"conditions": [condition], "completionTime": now_iso()}
        if outcome.results:
            changes["results"] = [{"name": k, "type": "string", "value": v} for k, v in outcome.results.items()]
        self._set_status(run, changes)
        run.finished = True

    def _pipelinerun(self, run: _Run) -> Generator[float, None, None]:
        outcome = run.outcome
        self._set_status(run, {"startTime": now_iso(), "conditions": [_tekton_condition(
            "Unknown", "Started", "")]})
        yield outcome.delay
        self._set_status(run, {"conditions": [_tekton_condition(
            "Unknown", "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0")]})
        if outcome.hang:
            return
        yield outcome.delay
        yield outcome.delay
        if outcome.succeed:
            condition = _tekton_condition("True", "Succeeded", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0")
        else:
            condition = _tekton_condition("False", outcome.reason or "Failed", outcome.message or (
                "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0"))
        changes: dict[str, Any] = {"conditions": [condition], "completionTime": now_iso()}
        if outcome.results:
            changes["results"] = [{"name": k, "value": v} for k, v in outcome.results.items()]
        self._set_status(run, changes)
        run.finished = True


def _terminal(obj: Mapping[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(isinstance(c, Mapping) and (
        (c.get("type") in _TERMINAL and c.get("status") == "True")
        or (c.get("type") == "Succeeded" and c.get("status") == "False")) for c in conditions)


def _main_container(pod: Mapping[str, Any]) -> str | None:
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    return next((n for n in names if n in _MAIN_CONTAINERS), names[0] if names else None)


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    now = now_iso()
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now}


def _job_condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    now = now_iso()
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": now, "lastTransitionTime": now}


def _tekton_condition(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Succeeded", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now_iso()}


def _pod_conditions(ready: str, reason: str | None = None) -> list[dict[str, Any]]:
    now = now_iso()
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                  {"type": "Initialized", "status": "True", "lastTransitionTime": now}]
    for kind in ("ContainersReady", "Ready"):
        condition = {"type": kind, "status": ready, "lastTransitionTime": now}
        if reason:
            condition["reason"] = reason
        conditions.append(condition)
    return conditions


def started_pod(cluster: EmulatedCluster, namespace: str, labels: Mapping[str, str], timeout: float = 20.0) -> dict[str, Any]:
    """The first pod with ``labels`` whose containers the operator has started (it has
    ``containerStatuses``): a test that finishes a hanging job by hand waits for it."""
    deadline = time.monotonic() + timeout
    while True:
        for pod in cluster.objects("v1/pods", namespace):
            have = pod["metadata"].get("labels") or {}
            if all(have.get(k) == v for k, v in labels.items()) and (pod.get("status") or {}).get("containerStatuses"):
                return pod
        if time.monotonic() > deadline:
            raise TimeoutError(f"no started pod with labels {dict(labels)} in {timeout} s")
        time.sleep(0.02)
