"""The Kubernetes engine: each run is one Kubernetes resource of any kind.

A run given as a ``ResourceRequest`` is created as it is (a Katib trial template's Job,
PyTorchJob, TFJob, TrainJob, Tekton run, Argo Workflow, or any kind); a component run becomes
a ``batch/v1 Job`` (``component_job``). Before it is created the engine adds the labels
``pipetune.dev/trial: <name>`` (and the engine's own, e.g. ``pipetune.dev/experiment``) to
the resource and to every pod template in it, and, to the primary container,
``terminationMessagePath: /outputs/results.yaml`` with ``FallbackToLogsOnError`` unless the
container sets its own path.

* Names are the caller's (deterministic for trials); a create answered 409 **adopts** the
  existing resource when it carries the same trial label, so a restarted tuner or bridge picks
  up its running children instead of duplicating them.
* Status comes from one watch per kind and namespace (``KindWatch``), never from polling a
  run: ``poll`` reads the cache. The success and failure conditions are JSONPath (Katib's GJSON
  translated), defaulting per kind (``pipetune.kinds``).
* Results come from the primary pod (the trial's pods with ``primaryPodLabels``, else the
  kind's): its primary container's termination message when that is a results document, else
  the container's log read for ``pipetune.report`` / Katib StdOut lines. A pod with pipetune's
  metrics collector container (``pipetune.kinds.COLLECTOR_CONTAINER``, added for Katib's File
  and TensorFlowEvent collectors) is read from that container instead: its termination
  message holds the results, and its log the ``pipetune.report`` lines of each entry (the
  history, when the message had no room for it). A primary container that started again
  after the collector ended is refused rather than read. One LIST of pods and at most one log
  read per finished run.
* Progress (``intermediate``, for early stopping) comes from the same pod and container (the
  collector's, when the pod has one) while the run runs: its log read with ``timestamps``
  from the last line already read on (``sinceTime``), at most once per ``progress_interval``
  seconds per run and at most ``progress_read_bytes`` a read, parsed as the final results
  are (``pipetune.report`` lines, else Katib StdOut lines). The pod is listed until it has started, and again when its log
  has been quiet for ``PODS_RELOOK_SECONDS`` (a newer pod starts the history over). Only the
  parsed history is kept, never the log text.
* A finished resource is deleted (background propagation) unless ``retain``; a cancelled or
  timed-out one always is. A resource deleted by someone else fails its run with reason
  ``Deleted``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kubernetes import client
from kubernetes.client.rest import ApiException

from pipetune.contract import (
    CHANNEL_LIMIT_BYTES,
    LogMetrics,
    LogReader,
    Results,
    parse_results,
)
from pipetune.engines.base import Engine, History, Phase, Reason, RunRequest, RunStatus
from pipetune.engines.kubernetes._api import KindWatch, Retry, call, describe
from pipetune.engines.kubernetes._manifests import (
    add_env,
    component_job,
    label_pod_templates,
    set_termination_message,
)
from pipetune.errors import ContractError, RunError, TransientError
from pipetune.kinds import (
    COLLECTOR_CONTAINER,
    RESULTS_RESULT,
    TRIAL_LABEL,
    Condition,
    ConditionError,
    Kind,
    check_training_job,
    compile_condition,
    default_plural,
    is_training_job,
    known_kind,
)

#: Seconds between looks for an echoed run's primary pod, until its log can be followed.
LOG_LOOK_SECONDS = 2.0
#: The most bytes of a finished run's log read at a time for its results.
LOG_PIECE_BYTES = 256 * 1024
REQUEST_TIMEOUT_CONNECT = 10.0
#: Seconds between two reads of one run's progress (its primary container's log), by default.
PROGRESS_INTERVAL = 5.0
#: The most bytes one progress read asks for (``limitBytes``), by default; a longer log is read
#: on from its last whole line at the next read. The log API starts a read at a whole second
#: (``sinceTime``), so a second of log longer than this is read this far and then skipped.
PROGRESS_READ_BYTES = 1 << 20
#: While a run's log brings nothing new, its pods are looked up again at most this often, so
#: progress follows a pod that replaced the one being read (a Job's next attempt).
PODS_RELOOK_SECONDS = 30.0
#: A line of a log read with ``timestamps=true``: RFC 3339 (nanoseconds, trailing zeros cut), a space.
_STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")
#: How a run's pods are found, per kind: the label the controller puts on them, valued with
#: the resource's name. Kinds not listed get the trial label copied into their pod templates.
POD_LABELS = {
    "TrainJob": "jobset.sigs.k8s.io/jobset-name",
    "TaskRun": "tekton.dev/taskRun",
    "PipelineRun": "tekton.dev/pipelineRun",
    "Workflow": "workflows.argoproj.io/workflow",
}


@dataclass
class KubernetesRun:
    """The Kubernetes engine's handle on one run."""

    run_id: str
    request: RunRequest
    argv: list[str]
    kind: Kind
    name: str
    namespace: str
    success: Condition
    failure: Condition
    watch: KindWatch | None = None
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))
    collected: Results | None = None
    seen: bool = False
    last_condition: str | None = None
    #: Echoed runs: when the primary pod was last looked for, and the thread following its log.
    log_looked_at: float = 0.0
    log_thread: threading.Thread | None = None
    #: What the run has reported while running, as read so far (``intermediate``).
    progress: LogProgress = field(default_factory=lambda: LogProgress())
    lock: threading.Lock = field(default_factory=threading.Lock)


#: A log line's timestamp: whole seconds since the epoch, nanoseconds.
_Stamp = tuple[int, int]


@dataclass
class LogProgress:
    """A running run's reports, read from its primary container's log one slice at a time.

    The cursor is the timestamp of the last line parsed and how many lines carried it, so the
    next read starts at that second (``sinceTime`` has whole seconds) and skips what it has
    seen. A new pod (another uid) starts it over: its run started over. The lines read go to
    one reader for the whole run, which keeps the history bounded (thinned past
    ``pipetune.contract._log.MAX_HISTORY`` entries) and reads each line once.
    """

    reader: LogReader | None = None
    #: ``time.monotonic()`` of the last read, and of the last look for the pod.
    read_at: float | None = None
    looked_at: float = 0.0
    pod: str | None = None
    uid: str | None = None
    container: str | None = None
    last: _Stamp | None = None
    at_last: int = 0
    #: The last read brought no new line.
    idle: bool = False
    #: How the log read is parsed when it is not the run's own (pipetune's collector's).
    metrics: LogMetrics | None = None

    @property
    def history(self) -> History:
        """The run's reports as read so far, oldest first."""
        found = self.reader.results() if self.reader is not None else None
        return found.history if found is not None else ()

    def restart(self, pod: str, uid: str, container: str | None) -> None:
        self.reader, self.pod, self.uid, self.container = None, pod, uid, container
        self.last, self.at_last, self.idle = None, 0, False

    def since(self) -> str | None:
        """``sinceTime`` for the next read: the last line's second, or None (from the start)."""
        if self.last is None:
            return None
        moment = datetime.datetime.fromtimestamp(self.last[0], datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def take(self, text: str, cut: bool) -> list[str]:
        """The lines of a read not seen before, without their timestamps; only whole lines
        (a line still being written is read again next time). ``cut``: the read stopped at
        ``limitBytes``; if it held nothing new, the cursor skips that second rather than
        reading it again forever."""
        lines = text.split("\n")[:-1]
        skipped = 0
        taken = []
        for line in lines:
            stamp, message = _stamp(line)
            if stamp is not None and self.last is not None:
                if stamp < self.last:
                    continue
                if stamp == self.last and skipped < self.at_last:
                    skipped += 1
                    continue
            if stamp is not None:
                if stamp == self.last:
                    self.at_last += 1
                    skipped += 1
                else:
                    self.last, self.at_last, skipped = stamp, 1, 1
            taken.append(message)
        if cut and not taken:
            first, _ = _stamp(text)
            if first is not None:
                self.last, self.at_last = (first[0] + 1, 0), 0
        self.idle = not taken
        return taken

    def add(self, lines: list[str], log_metrics: LogMetrics) -> None:
        """Parse new lines into the history, as the final results are parsed (``pipetune.report``
        lines win over Katib StdOut lines): each line once, however many reads there are."""
        if self.reader is None:
            self.reader = log_metrics.reader()
        self.reader.feed(lines)


class KubernetesEngine:
    """Runs resources on a cluster through the official client.

    ``labels`` go on every resource this engine creates (the tuner passes the experiment
    label) and select what its watches see. ``owner`` (an ownerReference) goes on every
    resource too, so the cluster deletes the children with their parent (the controller's
    CustomRun or Experiment). ``on_change`` is called from a watch thread after any change
    to a watched resource. ``log`` receives condition changes and, with a request's
    ``echo``, the primary container's log lines. ``progress_interval`` is the least time
    between two reads of one run's progress (``intermediate``), ``progress_read_bytes`` the
    most one such read fetches.
    """

    name = "kubernetes"
    local = False

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str = "default",
        labels: Mapping[str, str] | None = None,
        retry: Retry | None = None,
        log: TextIO | None = None,
        owner: Mapping[str, Any] | None = None,
        on_change: Callable[[], None] | None = None,
        progress_interval: float = PROGRESS_INTERVAL,
        progress_read_bytes: int = PROGRESS_READ_BYTES,
    ) -> None:
        self.api = api
        self.progress_interval = progress_interval
        self.progress_read_bytes = progress_read_bytes
        self.owner = dict(owner) if owner else None
        self.on_change = on_change
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.retry = retry or Retry()
        self.log = log
        self._watches: dict[tuple[str, str, str], KindWatch] = {}
        self._plurals: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()

    # -- the engine protocol -------------------------------------------------------------------

    def _identify(self, request: RunRequest) -> tuple[dict[str, Any], KubernetesRun]:
        """The manifest ``request`` creates and its run, named and of its kind, judged by
        nothing yet."""
        resource = request.resource
        manifest = copy.deepcopy(dict(resource.manifest)) if resource else None
        if manifest is None:
            name = request.name or f"run-{request.run_id}".lower()
            manifest = component_job(request, name, self.namespace)
        metadata = manifest.setdefault("metadata", {})
        metadata.setdefault("namespace", self.namespace)
        name, namespace = str(metadata.get("name") or ""), str(metadata["namespace"])
        api_version, kind_name = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        kind = known_kind(api_version, kind_name) or self._unknown_kind(api_version, kind_name)
        never = compile_condition("$[?(@.never)]")
        return manifest, KubernetesRun(
            request.run_id,
            request,
            [f"{kind.kind.lower()}/{name}", "-n", namespace],
            kind,
            name,
            namespace,
            success=never,
            failure=never,
        )

    def stop_existing(self, request: RunRequest) -> str | None:
        """Stop the resource ``request`` names when the cluster holds one made for this trial
        (its trial label), creating nothing; what was done, or None when there was none.

        For a run never submitted through this engine whose predecessor's may be running: a
        restarted tuner re-submits its running trials, and one cancelled before that submit is
        released must still stop what the last tuner started."""
        _manifest, run = self._identify(request)
        kind = run.kind
        if not run.name:
            return None
        try:
            found = call(f"get {kind.kind} {run.name}", self.custom.get_namespaced_custom_object,
                         kind.group, kind.version, run.namespace, kind.plural, run.name, retry=self.retry)
        except ApiException as exc:
            if exc.status == 404:
                return None
            self._say(f"{kind.kind} {run.name}: could not read it to stop it: {describe(exc)}")
            return None
        if ((found.get("metadata") or {}).get("labels") or {}).get(TRIAL_LABEL) != run.name:
            return None  # someone else's resource of that name: never ours to stop
        return self._stop(run)

    def submit(self, request: RunRequest) -> KubernetesRun:
        resource = request.resource
        manifest, run = self._identify(request)
        metadata = manifest["metadata"]
        name, namespace, kind = run.name, run.namespace, run.kind
        given = {
            "successCondition": (resource.success_condition if resource else None) or kind.success_condition,
            "failureCondition": (resource.failure_condition if resource else None) or kind.failure_condition,
        }
        for field_name, text in given.items():
            if not text:
                return _refused(run, f"trialTemplate.{field_name}: required for kind {kind.kind} "
                                     f"({kind.api_version}), which pipetune has no default for")
            try:
                compiled = compile_condition(text)
            except ConditionError as exc:
                return _refused(run, f"trialTemplate.{field_name}: {exc}")
            if field_name == "successCondition":
                run.success = compiled
            else:
                run.failure = compiled
        if not name:
            return _refused(run, "metadata.name: required")
        if is_training_job(manifest):
            problems = check_training_job(manifest)
            if problems:
                return _refused(run, f"{kind.kind} {name}: " + "; ".join(problems))
        labels = {**self.labels, TRIAL_LABEL: name}
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        if self.owner is not None:
            metadata["ownerReferences"] = [*(metadata.get("ownerReferences") or []), self.owner]
        label_pod_templates(manifest, labels)
        set_termination_message(manifest, self._primary_container(run))
        if resource is not None:
            add_env(manifest, self._primary_container(run), request.env)
        run.watch = self._watch(kind, namespace)
        self._create(run, manifest)
        run.status = RunStatus(Phase.RUNNING, started_at=time.time())
        return run

    def poll(self, handle: KubernetesRun) -> RunStatus:
        with handle.lock:
            if handle.status.phase.final or handle.watch is None:
                return handle.status
            obj = handle.watch.get(handle.name)
            timeout = handle.request.timeout
            if obj is None:
                if handle.name in handle.watch.deleted or handle.seen:
                    self._finish(handle, Phase.FAILED, Reason.DELETED,
                                 f"{handle.kind.kind} {handle.name} was deleted before it finished")
                return handle.status
            handle.seen = True
            self._report_condition(handle, obj)
            if handle.request.echo and self.log is not None and handle.log_thread is None:
                self._follow_log(handle)
            failed = handle.failure.holds(obj)
            succeeded = not failed and handle.success.holds(obj)
            if failed or succeeded:
                self._log_tail(handle)
            if failed:
                self._collect(handle, obj, failed=True)
                self._finish(handle, Phase.FAILED, _condition_reason(obj, "Failed"),
                             _condition_message(obj) or f"{handle.kind.kind} {handle.name} failed")
                self._clean_up(handle)
            elif succeeded:
                error = self._collect(handle, obj, failed=False)
                if error:
                    self._finish(handle, Phase.FAILED, Reason.RESULTS_INVALID, error)
                else:
                    message = None if handle.collected is not None else "reported no results"
                    self._finish(handle, Phase.SUCCEEDED, Reason.COMPLETED, message)
                self._clean_up(handle)
            elif timeout is not None and time.time() - (handle.status.started_at or 0) > timeout:
                done = self._stop(handle)
                self._finish(handle, Phase.FAILED, Reason.TIMEOUT,
                             f"exceeded its timeout of {timeout:g}s; {handle.kind.kind} {handle.name} was {done}")
            return handle.status

    def wait(self, handle: KubernetesRun, timeout: float | None = None) -> RunStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.poll(handle)
            if status.phase.final:
                return status
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                return status
            self.wait_any(left)

    def results(self, handle: KubernetesRun) -> Results | None:
        return handle.collected

    def intermediate(self, handle: KubernetesRun) -> History:
        """What the run has reported so far, from its primary container's log; read at most
        every ``progress_interval`` seconds, the cached history in between. A pod not there or
        not started yet, or an API error, leaves the cache as it was: this never raises. Once
        the run has ended: its results' history, else the cache."""
        progress = handle.progress
        if handle.status.phase.final:
            if handle.collected is not None and handle.collected.history:
                return handle.collected.history
            return progress.history
        now = time.monotonic()
        if progress.read_at is not None and now - progress.read_at < self.progress_interval:
            return progress.history
        with handle.lock:
            if progress.read_at is not None and now - progress.read_at < self.progress_interval:
                return progress.history
            progress.read_at = now
            if not handle.status.phase.final:
                try:
                    self._read_progress(handle, progress, now)
                except (ApiException, TransientError, ContractError) as exc:
                    if isinstance(exc, ApiException) and exc.status in (400, 404):
                        progress.pod = None  # gone, or not the pod's container: look again
        return progress.history

    def wait_any(self, timeout: float) -> None:
        if self._changed.wait(timeout):
            self._changed.clear()

    def cancel(self, handle: KubernetesRun) -> None:
        with handle.lock:
            if handle.status.phase.final:
                return
            done = self._stop(handle)
            self._finish(handle, Phase.CANCELLED, Reason.CANCELLED,
                         f"cancelled; {handle.kind.kind} {handle.name} was {done}")

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """Nothing to do: a resubmitted run adopts its resource by name in ``submit`` (found
        in the listing, or its create answered 409), so nothing of a predecessor's is left to end."""

    def close(self) -> None:
        """Stop every watch this engine opened."""
        for kind_watch in self._watches.values():
            kind_watch.stop()

    # -- creating and adopting -----------------------------------------------------------------

    def _create(self, run: KubernetesRun, manifest: dict[str, Any]) -> None:
        kind = run.kind
        assert run.watch is not None
        cached = run.watch.get(run.name)
        if cached is not None and ((cached.get("metadata") or {}).get("labels") or {}).get(TRIAL_LABEL) == run.name:
            # Listed by our labels: a restarted tuner's running trial. Adopt it without a request.
            self._say(f"{kind.kind} {run.name}: adopted the existing resource")
            return
        try:
            created = call(
                f"create {kind.kind} {run.name}",
                self.custom.create_namespaced_custom_object,
                kind.group, kind.version, run.namespace, kind.plural, manifest,
                retry=self.retry,
            )
        except ApiException as exc:
            if exc.status != 409:
                raise RunError(f"Kubernetes API: create {kind.kind} {run.name} in {run.namespace}: "
                               f"{describe(exc)}") from None
            existing = call(
                f"get {kind.kind} {run.name}",
                self.custom.get_namespaced_custom_object,
                kind.group, kind.version, run.namespace, kind.plural, run.name,
                retry=self.retry,
            )
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(TRIAL_LABEL) != run.name:
                raise RunError(
                    f"{kind.kind} {run.name} already exists in {run.namespace} and is not pipetune's "
                    f"(no label {TRIAL_LABEL}={run.name}); delete it or choose another name"
                ) from None
            created = existing
            self._say(f"{kind.kind} {run.name}: adopted the existing resource")
        if isinstance(created, dict) and created.get("metadata"):
            assert run.watch is not None
            run.watch.put(created)

    def _watch(self, kind: Kind, namespace: str) -> KindWatch:
        key = (kind.api_version, kind.plural, namespace)
        with self._lock:
            found = self._watches.get(key)
            if found is None:
                selector = ",".join(f"{k}={v}" for k, v in self.labels.items()) or TRIAL_LABEL
                found = KindWatch(self.custom, kind, namespace, selector, self._notify, self.retry)
                self._watches[key] = found
        found.wait_listed()
        return found

    def _notify(self) -> None:
        self._changed.set()
        if self.on_change is not None:
            self.on_change()

    def _unknown_kind(self, api_version: str, kind_name: str) -> Kind:
        """A kind outside the table: its plural from discovery; its conditions must be given."""
        group, _, version = api_version.rpartition("/")
        key = (api_version, kind_name)
        if key not in self._plurals:
            plural = default_plural(kind_name)
            try:
                resources = call(
                    f"discover {api_version}", self.api.call_api,
                    f"/apis/{group}/{version}", "GET", response_type="object", _return_http_data_only=True,
                    retry=self.retry,
                )
                for item in (resources or {}).get("resources", []):
                    if item.get("kind") == kind_name and "/" not in item.get("name", ""):
                        plural = item["name"]
                        break
            except (ApiException, TransientError):
                pass
            self._plurals[key] = plural
        return Kind(api_version, kind_name, self._plurals[key], "", "")

    # -- finishing -------------------------------------------------------------------------------

    def _primary_container(self, run: KubernetesRun) -> str | None:
        resource = run.request.resource
        if resource is not None and resource.primary_container:
            return resource.primary_container
        return run.kind.primary_container

    def _primary_pod(self, run: KubernetesRun, retry: Retry | None = None) -> dict[str, Any] | None:
        resource = run.request.resource
        label = POD_LABELS.get(run.kind.kind, TRIAL_LABEL)
        wanted = {label: run.name}
        extra = resource.primary_pod_labels if resource and resource.primary_pod_labels else run.kind.primary_pod_labels
        wanted.update(extra)
        pods = call(
            f"list pods of {run.kind.kind} {run.name}",
            self.core.list_namespaced_pod,
            run.namespace,
            label_selector=",".join(f"{k}={v}" for k, v in wanted.items()),
            retry=retry or self.retry,
        )
        items = [self.api.sanitize_for_serialization(pod) for pod in pods.items]
        # Latest first: a restarted replica's newest pod holds the final results.
        items.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
        return items[0] if items else None

    def _collect(self, run: KubernetesRun, obj: Mapping[str, Any], failed: bool) -> str | None:
        """Read the run's results into ``run.collected``: a Tekton run's ``results`` result,
        else the primary pod's. An error message or None."""
        if run.kind.status_results:
            text = _status_result(obj, RESULTS_RESULT)
            if text is not None:
                if failed:
                    return None
                try:
                    run.collected = parse_results(text, f"{run.kind.kind} {run.name} result {RESULTS_RESULT!r}")
                    return None
                except ContractError as exc:
                    return f"results: {exc}"
        try:
            pod = self._primary_pod(run)
        except (ApiException, TransientError) as exc:
            return f"results: could not list the pods of {run.kind.kind} {run.name}: {describe(exc)}"
        if pod is None:
            # A kind without pods of its own (or pods already cleaned up): no results, which
            # the tuner records as MetricsUnavailable.
            return None
        pod_name = pod["metadata"]["name"]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        container = self._primary_container(run)
        status = _primary_status(statuses, container)
        if status is None:
            return None if failed else f"results: pod {pod_name} has no container {container!r}"
        terminated = _terminated(status)
        message = terminated.get("message") or ""
        if message and not failed:
            if len(message.encode("utf-8")) >= CHANNEL_LIMIT_BYTES:
                return (
                    f"results: pod {pod_name}'s termination message is {CHANNEL_LIMIT_BYTES} bytes or "
                    f"more, the kubelet's limit, so results.yaml was cut; keep results small and "
                    "write large values as artifacts (results.yaml `artifacts:`)"
                )
            if message.lstrip().startswith(("apiVersion", "metrics", "{")):
                try:
                    run.collected = parse_results(message, f"pod {pod_name} termination message")
                    return None
                except ContractError as exc:
                    return f"results: {exc}"
        collector = next((s for s in statuses if s.get("name") == COLLECTOR_CONTAINER), None)
        if collector is not None:
            return self._collect_collector(run, pod_name, collector, terminated, failed)
        if _expects_collector(run):
            # Never the primary's own log read as if it were the metrics file.
            return None if failed else (
                f"results: pod {pod_name} has no container {COLLECTOR_CONTAINER}, which reads the "
                "File or TensorFlowEvent collector's metrics; the primaryPodLabels select a pod it "
                "was not added to"
            )
        try:
            found, error = self._read_log(run, pod_name, str(status.get("name")),
                                          run.request.log_metrics or LogMetrics(), message)
        except ContractError as exc:
            return f"results: {exc}"
        if error is not None:
            return None if failed else error
        run.collected = found
        return None

    def _collect_collector(self, run: KubernetesRun, pod_name: str, status: Mapping[str, Any],
                           primary: Mapping[str, Any], failed: bool) -> str | None:
        """Results from pipetune's collector container (``pipetune collect``): its termination
        message holds them; when that held the metrics alone (the history did not fit), the
        history is read from the report lines it printed. An error message or None."""
        terminated = _terminated(status)
        started, ended = _moment(primary.get("startedAt")), _moment(terminated.get("finishedAt"))
        if started is not None and ended is not None and started > ended and not failed:
            return (
                f"results: in pod {pod_name} the primary container started again at {started:%Y-%m-%dT%H:%M:%SZ}, "
                f"after {COLLECTOR_CONTAINER} had ended at {ended:%Y-%m-%dT%H:%M:%SZ} (a restart in place, restartPolicy "
                "OnFailure), so its last run's metrics were not collected; expected restartPolicy Never "
                "with a File or TensorFlowEvent collector, or a run that does not fail"
            )
        message = terminated.get("message") or ""
        found: Results | None = None
        if message.lstrip().startswith(("apiVersion", "metrics", "{")):
            try:
                found = parse_results(message, f"pod {pod_name} container {COLLECTOR_CONTAINER} termination message")
            except ContractError as exc:
                return f"results: {exc}"
            if found.history:
                run.collected = found
                return None
        try:
            logged, error = self._read_log(run, pod_name, COLLECTOR_CONTAINER, _collector_metrics(run), "")
        except ContractError as exc:
            return f"results: {exc}"
        if error is not None:
            return None if failed else error
        if found is None:
            run.collected = logged
        else:
            run.collected = dataclasses.replace(found, history=list(logged.history) if logged else [])
        return None

    def _read_log(self, run: KubernetesRun, pod_name: str, container: str, log_metrics: LogMetrics,
                  message: str) -> tuple[Results | None, str | None]:
        """The results a container's log holds, streamed; ``message`` (a failed container's
        termination message, with FallbackToLogsOnError its log's tail) is read when the log
        is empty. The results, or why the log could not be read; ``ContractError`` for
        invalid results."""
        try:
            response = call(
                f"read log of pod {pod_name}",
                self.core.read_namespaced_pod_log,
                pod_name, run.namespace, container=container,
                _preload_content=False,
                retry=self.retry,
            )
        except (ApiException, TransientError) as exc:
            return None, f"results: could not read the log of pod {pod_name}: {describe(exc)}"
        # Streamed: a log of any size is read in pieces, never held whole (``LogStream``).
        stream = log_metrics.stream()
        empty = True
        try:
            for piece in response.stream(LOG_PIECE_BYTES):
                empty = empty and not piece
                stream.feed(piece)
        except Exception as exc:  # noqa: BLE001 - urllib3 raises its own errors mid-stream
            return None, f"results: the log of pod {pod_name} broke off: {exc}"
        finally:
            response.release_conn()
        if empty and message:
            stream.feed(message.encode("utf-8"))
        return stream.finish(), None

    def _read_progress(self, run: KubernetesRun, progress: LogProgress, now: float) -> None:
        """One progress read: the primary pod looked up when none is known yet, or when the
        last read brought nothing and the last look is ``PODS_RELOOK_SECONDS`` old; then one
        log read from the cursor on. One try each: a missed read is made up at the next."""
        once = Retry(tries=1, timeout=self.retry.timeout)
        if progress.pod is None or (progress.idle and now - progress.looked_at >= PODS_RELOOK_SECONDS):
            progress.looked_at = now
            pod = self._primary_pod(run, retry=once)
            statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
            # With pipetune's collector beside the primary, its report lines are the progress.
            collected = _expects_collector(run)
            found = _primary_status(statuses, COLLECTOR_CONTAINER if collected else self._primary_container(run))
            container = str(found.get("name")) if found is not None else None
            state = (found or {}).get("state") or {}
            if pod is None or not ({"running", "terminated"} & set(state)):
                return
            metadata = pod.get("metadata") or {}
            name = str(metadata.get("name"))
            uid = str(metadata.get("uid") or name)
            if uid != progress.uid:
                progress.restart(name, uid, container)
                progress.metrics = _collector_metrics(run) if collected else None
        assert progress.pod is not None
        query: list[tuple[str, Any]] = [("timestamps", "true"), ("limitBytes", self.progress_read_bytes)]
        if progress.container:
            query.append(("container", progress.container))
        since = progress.since()
        if since is not None:
            query.append(("sinceTime", since))
        response = call(
            f"read log of pod {progress.pod}",
            self.api.call_api,
            f"/api/v1/namespaces/{run.namespace}/pods/{progress.pod}/log", "GET",
            query_params=query, header_params={"Accept": "*/*"}, auth_settings=["BearerToken"],
            _return_http_data_only=True, _preload_content=False,
            retry=once,
        )
        try:
            data = bytes(response.data or b"")
        finally:
            response.release_conn()
        lines = progress.take(data.decode("utf-8", errors="replace"), cut=len(data) >= self.progress_read_bytes)
        if lines:
            progress.add(lines, progress.metrics or run.request.log_metrics or LogMetrics())

    def _log_tail(self, run: KubernetesRun) -> None:
        """At the end of an echoed run: let the followed log finish, or print it whole if it
        was never followed (the run ended between two looks)."""
        if not run.request.echo or self.log is None:
            return
        if run.log_thread is not None:
            run.log_thread.join(5.0)
            return
        run.log_looked_at = 0.0
        self._follow_log(run)
        if run.log_thread is not None:
            run.log_thread.join(5.0)

    def _follow_log(self, run: KubernetesRun) -> None:
        """Start printing the primary container's log once its pod has started; the pods are
        looked for at most every ``LOG_LOOK_SECONDS`` while none has."""
        now = time.monotonic()
        if now - run.log_looked_at < LOG_LOOK_SECONDS:
            return
        run.log_looked_at = now
        try:
            pod = self._primary_pod(run)
        except (ApiException, TransientError):
            return
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
        found = _primary_status(statuses, self._primary_container(run))
        container = str(found.get("name")) if found is not None else None
        state = (found or {}).get("state") or {}
        if pod is None or container is None or not ({"running", "terminated"} & set(state)):
            return
        name = pod["metadata"]["name"]

        def follow() -> None:
            try:
                response = self.core.read_namespaced_pod_log(
                    name, run.namespace, container=container, follow=True, _preload_content=False,
                    _request_timeout=(REQUEST_TIMEOUT_CONNECT, None),
                )
                for line in response.stream():
                    for text in line.decode("utf-8", errors="replace").splitlines():
                        self._say(f"[{name}] {text}")
            except Exception as exc:  # noqa: BLE001 - the log is a courtesy; results don't depend on it
                self._say(f"{run.kind.kind} {run.name}: stopped following the log of {name}: {describe(exc)}")

        run.log_thread = threading.Thread(target=follow, name=f"log-{name}", daemon=True)
        run.log_thread.start()

    def _report_condition(self, run: KubernetesRun, obj: Mapping[str, Any]) -> None:
        conditions = (obj.get("status") or {}).get("conditions") or []
        if not conditions or not isinstance(conditions[-1], dict):
            return
        last = conditions[-1]
        text = f"{last.get('type')}={last.get('status')}"
        if last.get("reason"):
            text += f" ({last.get('reason')})"
        if text != run.last_condition:
            run.last_condition = text
            message = f": {last['message']}" if last.get("message") else ""
            self._say(f"{run.kind.kind} {run.name}: {text}{message}")

    def _stop(self, run: KubernetesRun) -> str:
        """Stop a running resource: cancel it in place where its kind says how (a TaskRun keeps
        its record, as Tekton's own cancel does), else delete it. Says which it did."""
        patch = run.kind.cancel_patch
        if patch is None:
            self._delete(run)
            return "deleted"
        kind = run.kind
        self._best_effort(run, "cancel", self.custom.patch_namespaced_custom_object,
                          kind.group, kind.version, run.namespace, kind.plural, run.name, copy.deepcopy(dict(patch)))
        return "cancelled"

    def _clean_up(self, run: KubernetesRun) -> None:
        resource = run.request.resource
        if resource is None or not resource.retain:
            self._delete(run)

    def _delete(self, run: KubernetesRun) -> None:
        kind = run.kind
        self._best_effort(run, "delete", self.custom.delete_namespaced_custom_object,
                          kind.group, kind.version, run.namespace, kind.plural, run.name,
                          propagation_policy="Background")

    def _best_effort(self, run: KubernetesRun, verb: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Stop or remove a run's resource; one already gone is fine, other trouble is said, not
        raised: the run's outcome is decided already."""
        try:
            call(f"{verb} {run.kind.kind} {run.name}", fn, *args, retry=self.retry, **kwargs)
        except ApiException as exc:
            if exc.status != 404:
                self._say(f"{run.kind.kind} {run.name}: could not {verb} it: {describe(exc)}")
        except TransientError as exc:
            self._say(f"{run.kind.kind} {run.name}: could not {verb} it: {exc}")

    def _finish(self, run: KubernetesRun, phase: Phase, reason: str, message: str | None) -> None:
        run.status = RunStatus(phase, reason, message, started_at=run.status.started_at, finished_at=time.time())

    def _say(self, text: str) -> None:
        if self.log is not None:
            print(text, file=self.log, flush=True)


def _stamp(line: str) -> tuple[_Stamp | None, str]:
    """A ``timestamps=true`` log line's timestamp and message; (None, line) without one."""
    match = _STAMPED.match(line)
    if match is None:
        return None, line
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        seconds = int(datetime.datetime.fromisoformat(match.group(1) + zone).timestamp())
    except ValueError:  # digits in the shape of a time that is none (month 13)
        return None, line
    return (seconds, int((match.group(2) or "").ljust(9, "0"))), line[match.end():]


def _primary_status(statuses: list[dict[str, Any]], container: str | None) -> dict[str, Any] | None:
    """The primary container's status: the one named ``container``, else the pod's only
    container besides pipetune's collector."""
    status = next((s for s in statuses if s.get("name") == container), None)
    if status is None and container is None:
        own = [s for s in statuses if s.get("name") != COLLECTOR_CONTAINER]
        status = own[0] if len(own) == 1 else None
    return status


def _moment(value: Any) -> datetime.datetime | None:
    """A container status's time (the client gives a datetime, or RFC 3339 text), in UTC."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def _terminated(status: Mapping[str, Any]) -> dict[str, Any]:
    """A container's last termination (its current state, else its last state), or {}."""
    return dict((status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated") or {})


def _expects_collector(run: KubernetesRun) -> bool:
    """Whether the run's metrics are a file or event folder in its pod, which pipetune's
    collector container reads (and its log, not the primary's, holds the progress)."""
    spec = run.request.log_metrics
    return spec is not None and bool(spec.file or spec.tfevents)


def _collector_metrics(run: KubernetesRun) -> LogMetrics:
    """How the collector container's log is read: its ``pipetune.report`` lines, the run's names."""
    return LogMetrics(names=run.request.log_metrics.names if run.request.log_metrics else None)


def _refused(run: KubernetesRun, problem: str) -> KubernetesRun:
    now = time.time()
    run.status = RunStatus(Phase.FAILED, "InvalidResource", problem, started_at=now, finished_at=now)
    return run


def _status_result(obj: Mapping[str, Any], name: str) -> str | None:
    """A Tekton run's string result (``status.results``; v1beta1 TaskRuns: ``taskResults``)."""
    status = obj.get("status") or {}
    for item in (status.get("results") or status.get("taskResults") or []):
        if isinstance(item, Mapping) and item.get("name") == name and isinstance(item.get("value"), str):
            return item["value"]
    return None


def _condition_reason(obj: Mapping[str, Any], default: str) -> str:
    for condition in reversed((obj.get("status") or {}).get("conditions") or []):
        if isinstance(condition, dict) and condition.get("reason"):
            return str(condition["reason"])
    return default


def _condition_message(obj: Mapping[str, Any]) -> str | None:
    for condition in reversed((obj.get("status") or {}).get("conditions") or []):
        if isinstance(condition, dict) and condition.get("message"):
            return str(condition["message"])
    status = obj.get("status") or {}
    return str(status["message"]) if status.get("message") else None



def _conforms(engine: KubernetesEngine) -> Engine[KubernetesRun]:
    """For the type checker: the engine meets the engine protocol with its own handle."""
    return engine
