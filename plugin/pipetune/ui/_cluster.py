"""``pipetune ui --engine kubernetes``: the dashboard's ``Source`` over one namespace of a
cluster, read through the official ``kubernetes`` client and never written.

What it reads, and nothing more (``manifests/dashboard-rbac.yaml`` grants exactly this):

* ``tekton.dev/v1beta1`` CustomRuns of pipetune's Experiment and standalone
  ``pipetune.dev/v1alpha1`` Experiments (templates left out), LISTed at most once every
  ``ttl`` seconds however many pages poll: the controller keeps each one's journal in its
  ``status.extraFields`` (``pipetune.controller``), so the journal there is the experiment, as
  a journal file is locally. A journal is decoded once per resourceVersion.
* The trials' intermediate values, when the journal holds no curve (it does only where early
  stopping needed one): a finished TaskRun trial's from the ``results`` result it published
  (its results.yaml: one LIST of the experiment's TaskRuns by ``pipetune.dev/experiment``),
  else from its pod's log (``pipetune.report`` / Katib StdOut lines, as the engine reads them).
  A finished trial's is read once, a running one's at most every ``ttl`` seconds, and at most
  ``MAX_CURVE_READS`` logs a request, so an experiment of thousands fills its curves over a
  few polls.
* Pods, LISTed by label: a trial's (``pipetune.dev/trial``) for its logs, an experiment's
  (``pipetune.dev/experiment``) for the curves; ``pods/log``: a container's log.
* A finished TaskRun trial's outputs and artifacts, from the same published results (one
  LIST of its TaskRun by ``pipetune.dev/trial``, once). An artifact named by a URI an fsspec
  filesystem installed here reads (``file://``, ``s3://``, ``gs://``, ...) is served from
  there, read-only, with the credentials of the dashboard's own process (the cluster is not
  asked); a path inside the trial's pod, or a scheme with no filesystem here, is listed with
  why it is not read.

Trials become run records in a scratch run store (a temporary directory, removed by
``close``): the runs list's filters, search and sorting are the run store's own, the same as
locally. A trial's run id is the name of its resource (``<experiment>-<index>``), which is
also how its pods are found.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import fsspec
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from pipetune.contract import LogMetrics, Results, parse_results
from pipetune.controller import (
    CANCELLED,
    STATE_FIELD,
    child_base,
    condition_of,
    is_ours,
    is_template,
    journal_records,
    read_archive,
)
from pipetune.engines.kubernetes import api_client
from pipetune.errors import PipetuneError, RunError
from pipetune.kinds import EXPERIMENT_LABEL, RESULTS_RESULT, TASK_RUN, TRIAL_LABEL
from pipetune.names import trial_name
from pipetune.store import RunRecord, RunStore
from pipetune.tracking import (
    EXPERIMENT_PREFIX,
    MAX_FILES,
    ExperimentView,
    NotFound,
    Refused,
    curve_of,
    last_lines,
    relative_name,
)
from pipetune.tuner.config import DEFAULT_ALGORITHM
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import ExperimentState, MemoryJournal, TrialState

CUSTOMRUNS = ("tekton.dev", "v1beta1", "customruns")
EXPERIMENTS = ("pipetune.dev", "v1alpha1", "experiments")
#: Seconds a listing of the cluster serves every request before it is read again.
TTL_SECONDS = 2.0
#: The most bytes of one log a page is sent (the rest is on the cluster: `kubectl logs`).
MAX_LOG_BYTES = 16 * 2**20
#: The most trial logs one request reads for intermediate values: a page opened on an
#: experiment of 2,000 finished trials fills its curves over a few polls, never in one.
MAX_CURVE_READS = 200
#: The most bytes of one artifact the dashboard serves (a bigger one is read where it is).
MAX_ARTIFACT_BYTES = 64 * 2**20
#: Schemes fsspec reads that are not storage: never fetched for a trial (see ``unreadable``).
WEB_PROTOCOLS = frozenset({"http", "https"})
#: fsspec's names for this machine's own files: read only under ``--artifact-root``.
LOCAL_PROTOCOLS = frozenset({"file", "local"})
#: Pod logs read side by side (each read waits on the API server, not on this process).
LOG_READERS = 8
#: How a trial's status shows as a run's (the trial resource's end, as the tuner saw it).
RUN_STATUS = {
    TrialStatus.PENDING: "Pending", TrialStatus.RUNNING: "Running", TrialStatus.SUCCEEDED: "Succeeded",
    TrialStatus.METRICS_UNAVAILABLE: "Succeeded", TrialStatus.FAILED: "Failed",
    TrialStatus.EARLY_STOPPED: "Cancelled", TrialStatus.KILLED: "Cancelled",
}
_READ_ONLY = ("the dashboard only reads the cluster: change an experiment with kubectl "
              "(`kubectl patch customrun NAME --type merge -p '{\"spec\":{\"status\":\"RunCancelled\"}}'` "
              "cancels one), or with `tkn`")


@dataclass
class _Experiment:
    """One parent as last read: its view, its trials' run records by index, and its trials'
    names (the resource each ran as) to their state."""

    view: ExperimentView
    version: str
    base: str
    #: Whether its trials are TaskRuns, which publish their results (and history).
    published: bool = False
    records: dict[int, RunRecord] = field(default_factory=dict)
    by_name: dict[str, TrialState] = field(default_factory=dict)


class ClusterSource:
    """A namespace's experiments, as ``tracking.Source`` (see the module docstring)."""

    engine = "kubernetes"
    read_only = _READ_ONLY

    def __init__(self, api: client.ApiClient, namespace: str, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic, artifact_roots: Sequence[str | Path] = ()) -> None:
        #: Folders of this machine whose files (``file://``) a trial's artifact may be served
        #: from (``--artifact-root``): none by default, so a trial's results can't make the
        #: dashboard serve its host's files (a token, a kubeconfig).
        self.artifact_roots = tuple(Path(r).resolve() for r in artifact_roots)
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.where = f"namespace {namespace} on {api.configuration.host}"
        self.ttl = ttl
        self.clock = clock
        self._scratch = tempfile.TemporaryDirectory(prefix="pipetune-ui-")
        self.store = RunStore(self._scratch.name)
        self._lock = threading.RLock()
        self._read_at: float | None = None
        self._experiments: dict[str, _Experiment] = {}
        #: Each parent as built, by (uid, resourceVersion): the journal is decoded once a version.
        self._built: dict[tuple[str, str], _Experiment] = {}
        self._written: dict[str, RunRecord] = {}
        #: Trial name -> (when read, the history its log gave); a finished trial's is final.
        self._histories: dict[str, tuple[float, list[dict[str, float]], bool]] = {}
        self._pods: dict[tuple[str, str], tuple[float, list[Any]]] = {}
        #: TaskRun name -> the results document it published (final: Tekton writes it at the
        #: end), None once a finished one's was looked for and not there.
        self._results: dict[str, Results | None] = {}
        #: A folder artifact's URI -> its files (relative paths), or why they can't be listed;
        #: listed once (a finished trial's artifacts do not change).
        self._folders: dict[str, list[str] | str] = {}

    def close(self) -> None:
        """Remove the scratch store."""
        self.store.close()
        self._scratch.cleanup()

    # -- reading the cluster -----------------------------------------------------------------

    def refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if self._read_at is not None and now - self._read_at < self.ttl:
                return
            parents = [("CustomRun", b) for b in self._list(CUSTOMRUNS) if is_ours(b)]
            parents += [("Experiment", b) for b in self._list(EXPERIMENTS) if not is_template(b)]
            found: dict[str, _Experiment] = {}
            built: dict[tuple[str, str], _Experiment] = {}
            for kind, body in parents:
                metadata = body.get("metadata") or {}
                # A parent is built again only when it changed (a new resourceVersion).
                key = (str(metadata.get("uid") or metadata.get("name")), str(metadata.get("resourceVersion") or ""))
                experiment = self._built.get(key) or self._experiment(kind, body)
                built[key] = experiment
                found[experiment.view.id] = experiment
            self._built = built
            self._experiments = found
            self._mirror()
            self._read_at = now

    def _list(self, resource: tuple[str, str, str]) -> list[dict[str, Any]]:
        group, version, plural = resource
        try:
            answer = self.custom.list_namespaced_custom_object(group, version, self.namespace, plural)
        except ApiException as exc:
            if exc.status == 404:
                return []  # the resource is not installed (no Tekton, or no pipetune CRD): none
            raise RunError(f"can't list {plural}.{group} in namespace {self.namespace}: {_describe(exc)}"
                           + (" (manifests/dashboard-rbac.yaml grants what the dashboard reads)"
                              if exc.status == 403 else "")) from None
        except OSError as exc:  # urllib3's connection errors are OSErrors
            raise RunError(f"can't reach the cluster at {self.where}: {exc}") from None
        items = answer.get("items") or [] if isinstance(answer, Mapping) else []
        return [dict(i) for i in items if isinstance(i, Mapping)]

    def _experiment(self, kind: str, body: Mapping[str, Any]) -> _Experiment:
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        status = body.get("status") or {}
        state_field = status.get(STATE_FIELD) or {}
        version = str(metadata.get("resourceVersion") or "")
        state, problem, records = self._journal(state_field)
        attempt = int(state_field.get("attempt", 0) or 0) if kind == "CustomRun" else 0
        base = child_base(name, attempt) if kind == "CustomRun" else name
        spec = _spec(kind, body, state_field)
        record = RunRecord(
            id=f"{kind.lower()}.{name}", component=EXPERIMENT_PREFIX + name, engine="kubernetes",
            status=_parent_status(kind, status), parameters=_algorithm(spec),
            reason=_parent_condition(kind, status).get("reason"),
            message=_parent_condition(kind, status).get("message"),
            created_at=_stamp(metadata.get("creationTimestamp")) or 0.0,
            started_at=_stamp(status.get("startTime")), finished_at=_stamp(status.get("completionTime")),
        )
        view = ExperimentView(record, state, problem, resource=f"{kind} {self.namespace}/{name}")
        component = _trial_component(spec)
        experiment = _Experiment(view, version, base, published=_trial_kind(spec) == TASK_RUN.kind)
        times = _trial_times(records)
        for trial in view.trials:
            run_name = trial_name(base, trial.index, trial.attempt)
            started, finished = times.get(trial.index, (None, None))
            experiment.records[trial.index] = RunRecord(
                id=run_name, parent_id=record.id, component=component, engine="kubernetes",
                status=RUN_STATUS[trial.status], parameters=dict(trial.assignment), reason=trial.reason,
                message=trial.message, created_at=started or record.created_at, started_at=started,
                finished_at=finished if trial.status.final else None, metrics=dict(trial.metrics) or None,
            )
            experiment.by_name[run_name] = trial
        return experiment

    def _journal(self, state: Mapping[str, Any]) -> tuple[ExperimentState | None, str | None, list[Mapping[str, Any]]]:
        """The experiment state a parent's status holds (its older records read from the
        ConfigMaps they are archived in), with why it can't be read when it can't."""
        try:
            records = journal_records(state, read_archive(self.core, self.namespace, state))
            return MemoryJournal(records).state(), None, records
        except PipetuneError as exc:
            return None, f"status.{STATE_FIELD}: {exc}", []
        except ApiException as exc:
            return None, f"status.{STATE_FIELD}: can't read the journal's ConfigMaps: {_describe(exc)}", []

    def _mirror(self) -> None:
        """Write what changed into the scratch store (and drop what left the cluster)."""
        wanted: dict[str, RunRecord] = {}
        for experiment in self._experiments.values():
            wanted[experiment.view.id] = experiment.view.record
            for record in experiment.records.values():
                wanted[record.id] = record
        new = []
        for record in wanted.values():
            before = self._written.get(record.id)
            if before == record:
                continue
            if before is None:  # this source is the scratch store's only writer
                new.append(record)
            else:
                self.store.update(record.id, **{f.name: getattr(record, f.name) for f in fields(RunRecord)
                                                if f.name != "id"})
            self._written[record.id] = record
        self.store.create_many(new)
        stale = [i for i in self._written if i not in wanted]
        if stale:
            self.store.delete(stale, force=True)
            for run_id in stale:
                self._written.pop(run_id, None)

    # -- the Source ---------------------------------------------------------------------------

    def experiments(self) -> list[ExperimentView]:
        self.refresh()
        views = [e.view for e in self._experiments.values()]
        return sorted(views, key=lambda v: (v.record.created_at, v.id), reverse=True)

    def experiment(self, experiment_id: str) -> ExperimentView | None:
        self.refresh()
        found = self._experiments.get(experiment_id)
        return found.view if found else None

    def trial_records(self, view: ExperimentView) -> dict[int, RunRecord]:
        found = self._experiments.get(view.id)
        return dict(found.records) if found else {}

    def trials(self, records: Iterable[RunRecord]) -> dict[str, TrialState]:
        found: dict[str, TrialState] = {}
        for record in records:
            parent = self._experiments.get(record.parent_id or "")
            if parent is not None and record.id in parent.by_name:
                found[record.id] = parent.by_name[record.id]
        return found

    def fingerprint(self, view: ExperimentView) -> tuple[Any, ...]:
        found = self._experiments.get(view.id)
        parts: list[Any] = [view.id, found.version if found else None]
        if view.record.status == "Running":
            parts.append(int(time.time()) // 5)  # durations shown move on
        return tuple(parts)

    def curves(self, view: ExperimentView) -> dict[int, list[tuple[float, float]]]:
        """Each trial's journaled curve, else the history its TaskRun published (one LIST for
        the experiment's), else the one its pod's log reports (at most ``MAX_CURVE_READS`` logs
        a call, read side by side); a finished trial's is read once, a running one's at most
        every ``ttl`` seconds."""
        metric = view.state.metric if view.state else None
        found = self._experiments.get(view.id)
        if not metric or found is None:
            return {}
        curves: dict[int, list[tuple[float, float]]] = {}
        names: dict[int, str] = {}
        stale: list[tuple[str, bool]] = []
        for trial in view.trials:
            if trial.curve:
                curves[trial.index] = [(float(s), float(v)) for s, v in trial.curve]
            elif trial.status != TrialStatus.PENDING:
                names[trial.index] = name = found.records[trial.index].id
                if self._stale(name):
                    stale.append((name, trial.status.final))
        self._read_histories(EXPERIMENT_LABEL, found.base, stale, found.published, MAX_CURVE_READS)
        for index, name in names.items():
            pairs = curve_of(self._histories.get(name, (0.0, [], False))[1], metric)
            if pairs:
                curves[index] = pairs
        return curves

    def _stale(self, name: str) -> bool:
        known = self._histories.get(name)
        return known is None or (not known[2] and self.clock() - known[0] >= self.ttl)

    def _read_histories(self, label: str, value: str, stale: list[tuple[str, bool]], published: bool,
                        most: int) -> None:
        """Read the histories of the trials ``stale`` names (with whether each has ended),
        selected by ``label=value``: their TaskRuns' published results first (``published``),
        then, for those still without one, their newest pod's log, at most ``most`` logs."""
        if not stale:
            return
        now = self.clock()
        if published and any(final for _, final in stale):
            documents = self._published(label, value)
            for name, final in stale:
                if final and name in documents and documents[name].history:
                    self._histories[name] = (now, list(documents[name].history), True)
            stale = [(n, f) for n, f in stale if self._stale(n)]
        if not stale:
            return
        pods: dict[str, list[Any]] = {}
        for pod in self._pods_cached(label, value):
            pods.setdefault(_label(pod, TRIAL_LABEL) or "", []).append(pod)
        chosen = stale[:most]
        with concurrent.futures.ThreadPoolExecutor(max_workers=LOG_READERS) as pool:
            read = list(pool.map(lambda item: self._log_history(_newest(pods.get(item[0], []))), chosen))
        for (name, final), (history, ended) in zip(chosen, read, strict=True):
            self._histories[name] = (now, history, final and ended)

    def _log_history(self, pod: Any | None) -> tuple[list[dict[str, float]], bool]:
        """The history a pod's log reports, and whether the pod was there to read."""
        if pod is None:
            return [], False
        results = LogMetrics().read(self._read_log(pod.metadata.name, _primary(pod), 0).splitlines())
        return (list(results.history) if results is not None else []), True

    def _published(self, label: str, value: str) -> dict[str, Results]:
        """The results document (the trial's results.yaml) each finished TaskRun selected by
        ``label=value`` published in its ``results`` result, by its name; kept for
        ``_trial_results``."""
        group, version = TASK_RUN.api_version.split("/")
        try:
            answer = self.custom.list_namespaced_custom_object(group, version, self.namespace, TASK_RUN.plural,
                                                               label_selector=f"{label}={value}")
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise RunError(f"can't list the TaskRuns of {value} in namespace {self.namespace}: "
                           f"{_describe(exc)}") from None
        except OSError as exc:
            raise RunError(f"can't reach the cluster at {self.where}: {exc}") from None
        found: dict[str, Results] = {}
        for item in (answer or {}).get("items") or []:
            text = next((r.get("value") for r in (item.get("status") or {}).get("results") or []
                         if isinstance(r, Mapping) and r.get("name") == RESULTS_RESULT), None)
            if not isinstance(text, str):
                continue
            try:
                results = parse_results(text, f"TaskRun {item['metadata']['name']} result {RESULTS_RESULT}")
            except PipetuneError:
                continue  # not a results document: the log is read instead
            found[str(item["metadata"]["name"])] = results
        self._results.update(found)
        return found

    def _trial_results(self, record: RunRecord) -> Results | None:
        """The results a finished TaskRun trial published (read once), else None."""
        trial = self.trials([record]).get(record.id)
        parent = self._experiments.get(record.parent_id or "")
        if trial is None or parent is None or not parent.published or not trial.status.final:
            return None
        if record.id not in self._results:
            self._published(TRIAL_LABEL, record.id)
            self._results.setdefault(record.id, None)
        return self._results[record.id]

    def history(self, record: RunRecord) -> list[dict[str, float]]:
        trial = self.trials([record]).get(record.id)
        if trial is None:
            return []
        parent = self._experiments[record.parent_id or ""]
        metric = parent.view.state.metric if parent.view.state else None
        if trial.curve and metric:
            return [{"step": float(s), metric: float(v)} for s, v in trial.curve]
        if self._stale(record.id) and trial.status != TrialStatus.PENDING:
            self._read_histories(TRIAL_LABEL, record.id, [(record.id, trial.status.final)], parent.published, 1)
        return list(self._histories.get(record.id, (0.0, [], False))[1])

    def results(self, record: RunRecord) -> dict[str, Any] | None:
        if record.metrics is None:
            return None
        published = self._trial_results(record)
        return {"metrics": dict(record.metrics), "outputs": dict(published.outputs) if published else {},
                "artifacts": dict(published.artifacts) if published else {}}

    def logs(self, record: RunRecord) -> list[dict[str, Any]]:
        if record.parent_id is None:
            return []  # the controller's own log is the controller pod's (`kubectl logs`)
        found = []
        for pod in sorted(self._pods_of(TRIAL_LABEL, record.id), key=lambda p: p.metadata.name):
            spec = pod.spec
            for container in [*(spec.init_containers or []), *(spec.containers or [])]:
                found.append({"path": f"{pod.metadata.name}/{container.name}", "size": None, "modified": None})
        return found

    def log(self, record: RunRecord, name: str, tail: int) -> bytes:
        # Only a container of this trial's own pods: a name is never taken as a pod to read.
        if name not in {entry["path"] for entry in self.logs(record)}:
            raise NotFound(f"no log {name!r} for trial {record.id}: its pods' logs are named POD/CONTAINER")
        pod, container = name.split("/", 1)
        text = self._read_log(pod, container, tail)
        data = text.encode()
        return last_lines(data, tail) if tail else data

    def files(self, record: RunRecord) -> list[dict[str, Any]]:
        """The artifacts the trial's published results name: ``path`` (the artifact's name;
        a folder's files as ``NAME/FILE``), ``uri``, and ``note``: why it is not read here
        (None: it is)."""
        published = self._trial_results(record)
        if published is None:
            return []
        found: list[dict[str, Any]] = []
        for name, uri in sorted(published.artifacts.items()):
            note = unreadable(uri, self.artifact_roots)
            if note is None and uri.endswith("/"):  # a folder, as artifact_ref writes one
                listed = self._folder(uri)
                if isinstance(listed, list):
                    found += [{"path": f"{name}/{p}", "uri": uri + p, "size": None, "modified": None, "note": None}
                              for p in listed]
                    continue
                note = listed
            found.append({"path": name, "uri": uri, "size": None, "modified": None, "note": note})
        return found

    def _folder(self, uri: str) -> list[str] | str:
        """The files under the folder at ``uri`` (at most ``MAX_FILES``), or why not."""
        if uri not in self._folders:
            try:
                fs, root = fsspec.core.url_to_fs(uri)
                root = root.rstrip("/")
                paths = sorted(str(p) for p in fs.find(root, withdirs=False))[:MAX_FILES]
                self._folders[uri] = [p[len(root) + 1:] for p in paths if p.startswith(root + "/")] or (
                    f"a folder with no files (at {uri})")
            except OSError as exc:  # not there, refused, unreachable: said, and asked again
                return f"its folder can't be listed: {exc}"
        return self._folders[uri]

    def files_note(self, record: RunRecord) -> str | None:
        if self.files(record):
            return None
        parent = self._experiments.get(record.parent_id or "")
        trial = self.trials([record]).get(record.id)
        if parent is None or trial is None:
            return "an experiment's outputs are its trials': open a trial"
        if not parent.published:
            return ("its trials do not run as TaskRuns, so none publishes a results document to read artifact "
                    "URIs from: the component keeps its outputs where it puts them (an artifact store, a volume)")
        if not trial.status.final:
            return "the trial has not ended: a TaskRun publishes its results (and the artifacts they name) when it ends"
        published = self._results.get(record.id)
        if published is None:
            return (f"TaskRun {record.id} published no results document in its {RESULTS_RESULT!r} result, "
                    "so no artifact URIs are known")
        return f"TaskRun {record.id}'s results name no artifacts"

    def file(self, record: RunRecord, name: str) -> bytes:
        """The content of artifact ``name`` (or ``ARTIFACT/PATH`` inside a folder artifact),
        read through fsspec; ``Refused`` for a path in the pod, a scheme with no filesystem
        here or a ``..``; ``NotFound`` for one the results do not name or that is not there."""
        published = self._trial_results(record)
        artifacts = dict(published.artifacts) if published else {}
        if not artifacts:
            raise NotFound(f"no artifacts for trial {record.id}: {self.files_note(record)}")
        chosen = next((a for a in sorted(artifacts, key=len, reverse=True)
                       if name == a or name.startswith(a + "/")), None)
        if chosen is None:
            raise NotFound(f"no artifact {name!r} in trial {record.id}'s results; they name "
                           f"{', '.join(sorted(artifacts))}")
        uri = artifacts[chosen]
        why = unreadable(uri, self.artifact_roots)
        if why:
            raise Refused(f"artifact {chosen!r} of trial {record.id} ({uri}): {why}")
        if name != chosen:
            uri = uri.rstrip("/") + "/" + "/".join(relative_name(name[len(chosen) + 1:], "artifact"))
        return read_uri(uri, f"artifact {chosen!r} of trial {record.id}")

    # -- pods ---------------------------------------------------------------------------------

    def _pods_cached(self, label: str, value: str) -> list[Any]:
        """``_pods_of``, listed at most once every ``ttl`` seconds (an experiment's pods are
        many; a page filling its curves asks for them every poll)."""
        now = self.clock()
        cached = self._pods.get((label, value))
        if cached is None or now - cached[0] >= self.ttl:
            cached = self._pods[(label, value)] = (now, self._pods_of(label, value))
        return cached[1]

    def _pods_of(self, label: str, value: str) -> list[Any]:
        try:
            return list(self.core.list_namespaced_pod(self.namespace, label_selector=f"{label}={value}").items)
        except ApiException as exc:
            raise RunError(f"can't list the pods of {value} in namespace {self.namespace}: {_describe(exc)}") from None
        except OSError as exc:
            raise RunError(f"can't reach the cluster at {self.where}: {exc}") from None

    def _read_log(self, pod: str, container: str | None, tail: int) -> str:
        try:
            text = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, tail_lines=tail or None, limit_bytes=MAX_LOG_BYTES)
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or gone
                return ""
            raise RunError(f"can't read the log of pod {pod} in namespace {self.namespace}: {_describe(exc)}") from None
        except OSError as exc:
            raise RunError(f"can't reach the cluster at {self.where}: {exc}") from None
        return text if isinstance(text, str) else str(text or "")


# -- pure helpers over what was read -------------------------------------------------------------


def unreadable(uri: str, roots: Sequence[Path] = ()) -> str | None:
    """Why the dashboard does not read the artifact at ``uri``, or None when an fsspec
    filesystem installed here reads it (what the extras install; ``file://`` only under one
    of ``roots``)."""
    if "://" not in uri:
        return ("a path in the trial's pod (its outputs directory), not a URI the dashboard can read: "
                "publish the artifact to a store (s3://, gs://, ...) to see it here")
    if "::" in uri:
        return "a chained fsspec URI, which the dashboard does not read"
    protocol = uri.split("://", 1)[0]
    if protocol.lower() in WEB_PROTOCOLS:
        # Not a store but any address the dashboard's host reaches (a cloud's metadata
        # endpoint among them): a trial's results do not get to make it fetch one.
        return f"a web address ({protocol}://), which the dashboard does not fetch: open it yourself"
    if protocol.lower() in LOCAL_PROTOCOLS:
        try:
            path = Path(fsspec.core.url_to_fs(uri)[1]).resolve()
        except (OSError, ValueError) as exc:
            return f"not a file path ({exc})"
        if not any(path == root or root in path.parents for root in roots):
            shown = ", ".join(str(r) for r in roots) or "none given"
            return ("a file on the dashboard's own machine, served only from a folder given with "
                    f"pipetune ui --artifact-root (a volume the trials publish to; {shown}): a trial's "
                    "results do not get to make the dashboard read its host's files")
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        return (f"needs fsspec's {protocol!r} filesystem, which is not installed where the dashboard runs "
                f"({exc})")
    return None


def read_uri(uri: str, what: str) -> bytes:
    """The bytes of the file at ``uri`` (at most ``MAX_ARTIFACT_BYTES``), opened read-only."""
    try:
        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        if info.get("type") == "directory":
            names = sorted(os.path.basename(str(p).rstrip("/")) for p in fs.ls(path, detail=False))[:20]
            raise NotFound(f"{what}: {uri} is a folder: ask for NAME/FILE; it holds {', '.join(names) or 'nothing'}")
        size = info.get("size")
        if isinstance(size, int) and size > MAX_ARTIFACT_BYTES:
            raise Refused(f"{what}: {uri} is {size} bytes, above the {MAX_ARTIFACT_BYTES} the dashboard serves: "
                          "read it where it is")
        with fs.open(path, "rb") as handle:
            return bytes(handle.read(MAX_ARTIFACT_BYTES))
    except FileNotFoundError:
        raise NotFound(f"{what}: nothing at {uri}") from None
    except OSError as exc:  # a store's refusals (PermissionError) and connection errors
        raise RunError(f"{what}: can't read {uri}: {exc}") from None


def _trial_times(records: Iterable[Mapping[str, Any]]) -> dict[int, tuple[float | None, float | None]]:
    """Each trial's start (its latest attempt's) and end, from the journal's record times."""
    times: dict[int, tuple[float | None, float | None]] = {}
    for record in records:
        index, stamp = record.get("trial"), record.get("time")
        if not isinstance(index, int) or not isinstance(stamp, (int, float)):
            continue
        started, finished = times.get(index, (None, None))
        if record.get("op") in ("trial_starting", "trial_started"):
            if record["op"] == "trial_starting" or started is None or finished is not None:
                started, finished = float(stamp), None
        elif record.get("op") == "trial_finished":
            finished = float(stamp)
            started = started if started is not None else float(stamp)
        times[index] = (started, finished)
    return times


def _spec(kind: str, body: Mapping[str, Any], state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The experiment spec a parent runs, as far as its body tells (a CustomRun's saved copy,
    else its embedded one; nothing for one naming an Experiment it has not started yet)."""
    if kind == "Experiment":
        return body.get("spec") or {}
    saved = state.get("experiment")
    if isinstance(saved, Mapping):
        return saved
    embedded = (body.get("spec") or {}).get("customSpec") or {}
    return embedded.get("spec") or {} if isinstance(embedded, Mapping) else {}


def _algorithm(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The algorithm the spec names, else the tuner's default (as a local run records it);
    nothing while the spec is unknown (a CustomRun naming an Experiment, not started yet)."""
    if not spec:
        return {}
    algorithm = spec.get("algorithm")
    name = algorithm.get("algorithmName") if isinstance(algorithm, Mapping) else None
    return {"algorithm": str(name or DEFAULT_ALGORITHM)}


def _trial_component(spec: Mapping[str, Any]) -> str:
    """What a trial runs, as the runs list names it: the component, else the resource kind."""
    trial = ((spec.get("trialTemplate") or {}).get("trialSpec") or {}) if isinstance(spec, Mapping) else {}
    component = trial.get("component")
    if isinstance(component, str):
        return Path(component).parent.name if component.endswith(".yaml") else component
    return str(trial.get("kind") or "trial")


def _trial_kind(spec: Mapping[str, Any]) -> str | None:
    """The kind of a trial's resource: the controller runs a component trial as a TaskRun."""
    trial = ((spec.get("trialTemplate") or {}).get("trialSpec") or {}) if isinstance(spec, Mapping) else {}
    if "component" in trial:
        return TASK_RUN.kind
    return str(trial.get("kind")) if trial.get("kind") else None


def _parent_condition(kind: str, status: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "CustomRun":
        return condition_of(status, "Succeeded")
    for name in ("Failed", "Succeeded", "Running", "Created"):
        found = condition_of(status, name)
        if found.get("status") == "True":
            return found
    return {}


def _parent_status(kind: str, status: Mapping[str, Any]) -> str:
    """A parent's status as a run's: Pending, Running, Succeeded, Failed or Cancelled."""
    condition = _parent_condition(kind, status)
    value = condition.get("status")
    if kind == "CustomRun":
        if value == "True":
            return "Succeeded"
        if value == "False":
            return "Cancelled" if condition.get("reason") == CANCELLED else "Failed"
        return "Running" if value == "Unknown" else "Pending"
    kind_of = condition.get("type")
    return {"Failed": "Failed", "Succeeded": "Succeeded", "Running": "Running"}.get(str(kind_of), "Pending")


def _stamp(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _label(pod: Any, name: str) -> str | None:
    return (pod.metadata.labels or {}).get(name)


def _newest(pods: list[Any]) -> Any | None:
    """The pod a trial's latest attempt ran in: the newest (a retried Job's last)."""
    if not pods:
        return None
    return max(pods, key=lambda p: (p.metadata.creation_timestamp or datetime.datetime.min.replace(
        tzinfo=datetime.UTC), p.metadata.name))


def _primary(pod: Any) -> str | None:
    """The container whose log holds the trial's report lines: a TaskRun pod's last step (the
    step a catalog Task runs its component in), else the first container."""
    names = [c.name for c in pod.spec.containers or []]
    steps = [n for n in names if n.startswith("step-")]
    return steps[-1] if steps else names[0] if names else None


def _describe(exc: ApiException) -> str:
    return f"{exc.status} {exc.reason}"


def current_namespace(context: str | None = None) -> str:
    """The namespace a user means by none: this pod's, else the kubeconfig context's, else
    ``default``."""
    try:
        return Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip() or "default"
    except OSError:
        pass
    try:
        contexts, active = config.list_kube_config_contexts()
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    except (config.ConfigException, OSError, TypeError, ValueError):
        return "default"
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def connect(namespace: str | None = None, context: str | None = None,
            artifact_roots: Sequence[str | Path] = ()) -> ClusterSource:
    """A ``ClusterSource`` over ``namespace`` of the cluster this process runs in, or else the
    kubeconfig's (``context``); a ``UsageError`` when there is none."""
    api = api_client(context, purpose="pipetune ui --engine kubernetes")
    return ClusterSource(api, namespace or current_namespace(context), artifact_roots=artifact_roots)
