"""The controller's reconcile: one tuner per running parent, level-triggered.

Each reconcile of a parent (a ``tekton.dev/v1beta1`` CustomRun of pipetune's Experiment, or a
standalone ``pipetune.dev/v1alpha1`` Experiment) reads the parent as last seen and lets its
tuner take one turn: collect ended trials, start new ones (held back by ``HeldEngine``) or,
for a cancelled or timed-out CustomRun, stop them. From the parent and the tuner's turn the
pure ``_plan`` makes one plan, applied once: the status written (at most one write), then the
children the turn started created, then requeue.

The tuner is the one every front end builds (``tuner.session.Session``), on the Kubernetes
engine; its journal lives in the parent's ``status.extraFields`` (``MemoryJournal``), written
before the trials it records are created, its older records frozen into ConfigMaps the parent
owns (``_journal``), each written before the status that references it. A controller started
afresh therefore rebuilds every tuner from its parent's status and ConfigMaps, adopts the
running children by name and label (the engine's listing), and, with the same seed, suggests
what it would have: nothing here is kept only in memory except caches.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from pipetune.controller._customtask import ending, is_new, is_over
from pipetune.controller._engine import HeldEngine
from pipetune.controller._journal import ConfigMapWrite, Layout, archive_names, journal_labels, journal_records
from pipetune.controller._parent import (
    STATE_FIELD,
    ParentError,
    Progress,
    child_base,
    experiment_ended,
    experiment_source,
    is_ours,
    is_template,
    owner_reference,
    parse_experiment,
)
from pipetune.controller._plan import Plan, Turn, plan_customrun, plan_experiment
from pipetune.controller._queue import WorkQueue
from pipetune.engines.kubernetes import KubernetesEngine
from pipetune.errors import PipetuneError, SpecError, TransientError
from pipetune.kinds import EXPERIMENT_LABEL
from pipetune.store import RunStore
from pipetune.tuner import pareto, policy
from pipetune.tuner.journal import MemoryJournal
from pipetune.tuner.launchers import ExperimentLauncher
from pipetune.tuner.loop import Tuner, TuneResult
from pipetune.tuner.session import Session

log = logging.getLogger("pipetune.controller")

CUSTOMRUN = ("tekton.dev", "v1beta1", "customruns", "CustomRun")
EXPERIMENT = ("pipetune.dev", "v1alpha1", "experiments", "Experiment")
PARENTS = {"CustomRun": CUSTOMRUN, "Experiment": EXPERIMENT}
#: Seconds between reconciles of a running parent when nothing happens (timeouts, resync).
RESYNC_SECONDS = 10.0
#: A failed reconcile is retried after 0.5 s, doubling up to this (unless its error says when).
MAX_BACKOFF_SECONDS = 30.0

Key = tuple[str, str, str]  # (kind, namespace, name)


class CreatesHeld(TransientError):
    """The children of a turn could not all be created after its status was written: the tuner
    agrees with that status, so it is kept, and the rest stay held for the next reconcile."""


@dataclass
class _Active:
    """A running parent's tuner and engine, kept between reconciles (a cache: see the module
    docstring). ``spec``: the experiment spec a CustomRun runs, saved in its status."""

    uid: str
    attempt: int
    generation: int | None
    tuner: Tuner
    engine: HeldEngine
    journal: MemoryJournal
    spec: Mapping[str, Any] | None


@dataclass
class Controller:
    """Reconciles parents; ``observe`` is fed by the watch (kopf), ``run`` works the queue.

    ``api`` is the client for status writes, Experiment reads, the journal's ConfigMaps and
    the engines; ``workdir`` holds per-parent scratch (the run store the tuner records into;
    nothing there is needed after a restart); ``journal_layout`` how journals are frozen.
    """

    api: client.ApiClient
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pipetune-controller-")))
    workers: int = 4
    resync: float = RESYNC_SECONDS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    journal_layout: Layout = field(default_factory=Layout)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.bodies: dict[Key, dict[str, Any]] = {}
        self.active: dict[Key, _Active] = {}
        self.failures: dict[Key, int] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: Seconds from a parent becoming due (an event, a child's change, a requeue) to the
        #: end of its reconcile, newest last: the controller's latency (bench/controller.py).
        self.latencies: collections.deque[float] = collections.deque(maxlen=100_000)
        self.reconciles = 0

    # -- feeding and working the queue -----------------------------------------------------------

    def observe(self, kind: str, event: str, body: Mapping[str, Any]) -> None:
        """A watch event for a parent (``event``: ADDED, MODIFIED, DELETED, or None for a
        listing). Quick and non-blocking: it caches the body and queues the key."""
        metadata = body.get("metadata") or {}
        key = (kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        if (kind == "CustomRun" and not is_ours(body)) or (kind == "Experiment" and is_template(body)):
            return
        with self._lock:
            if event == "DELETED":
                self.bodies.pop(key, None)
            else:
                cached = self.bodies.get(key)
                if cached is not None and _older(body, cached):
                    return  # our own status write already moved past this event
                self.bodies[key] = _plain(body)
        self.queue.add(key)

    def start(self) -> Controller:
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"reconcile-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the workers and every engine's watches; children keep running (a restarted
        controller adopts them)."""
        self.queue.shutdown()
        for thread in self._threads:
            thread.join(30)
        self._threads.clear()
        for active in list(self.active.values()):
            active.engine.close()
        self.active.clear()

    def _work(self) -> None:
        while True:
            key = self.queue.get()
            if key is None:
                return
            try:
                after = self.reconcile(key)
                self.failures.pop(key, None)
            except Exception as exc:  # noqa: BLE001 - one parent's trouble must not stop the others
                if not isinstance(exc, CreatesHeld):
                    # What the tuner holds in memory may be ahead of what was written (a status
                    # write that failed): rebuild it from the parent's status next time.
                    self._drop(key)
                count = self.failures.get(key, 0) + 1
                self.failures[key] = count
                after = retry_delay(exc, count)
                log.warning("%s %s/%s: reconcile failed (%s); again in %.1f s", *key, _describe(exc), after)
            finally:
                since = self.queue.since(key)
                if since is not None:
                    self.latencies.append(time.monotonic() - since)
                self.reconciles += 1
                self.queue.done(key)
            if after is not None:
                self.queue.add(key, after)

    # -- one reconcile -----------------------------------------------------------------------------

    def reconcile(self, key: Key) -> float | None:
        """Bring one parent a step forward; seconds until it should be looked at again, or None
        when it needs nothing more."""
        with self._lock:
            body = self.bodies.get(key)
        if body is None:
            self._drop(key)
            return None
        if key[0] == "CustomRun":
            return self._reconcile_customrun(key, body)
        return self._reconcile_experiment(key, body)

    def _reconcile_customrun(self, key: Key, body: dict[str, Any]) -> float | None:
        now = self.clock()

        def plan(turn: Turn | None, failure: tuple[str, str] | None = None) -> Plan:
            return plan_customrun(body, turn, now, self.resync, failure, layout=self.journal_layout)

        if is_new(body) or is_over(body):
            return self._apply(key, body, plan(None), None)
        attempt = int(((body.get("status") or {}).get(STATE_FIELD) or {}).get("attempt", 0))
        # A cancelled or timed-out attempt starts nothing more: its tuner stops instead of
        # taking a step.
        return self._take_turn(key, body, attempt, plan, ending(body, now), with_spec=True)

    def _reconcile_experiment(self, key: Key, body: dict[str, Any]) -> float | None:
        now = self.clock()

        def plan(turn: Turn | None, failure: tuple[str, str] | None = None) -> Plan:
            return plan_experiment(body, turn, now, self.resync, failure, layout=self.journal_layout)

        if experiment_ended(body.get("status") or {}):
            return self._apply(key, body, plan(None), None)
        return self._take_turn(key, body, 0, plan, None, with_spec=False)

    def _take_turn(self, key: Key, body: dict[str, Any], attempt: int,
                   plan: Callable[[Turn | None, tuple[str, str] | None], Plan],
                   stop: tuple[str, str] | None, with_spec: bool) -> float | None:
        """A parent's tuner takes its turn (``stop``: it stops instead, with that reason and
        message) and ``plan`` is carried out; a parent whose experiment can't be made, or whose
        journal can't be written, ends failed with why."""
        try:
            active = self._activate(key, body, attempt)
        except SpecError as exc:
            failure = (exc.reason if isinstance(exc, ParentError) else "InvalidExperiment", str(exc))
            return self._apply(key, body, plan(None, failure), None)
        result = active.tuner.stop(*stop) if stop is not None else active.tuner.step()
        turn = Turn(_progress(active.tuner, result), active.journal.entries, active.spec if with_spec else None)
        try:
            return self._apply(key, body, plan(turn, None), active)
        except ParentError as exc:  # the journal's ConfigMaps can't be written: the run can't go on
            self._abandon(key, active, exc)
            return self._apply(key, body, plan(None, (exc.reason, str(exc))), None)

    def _apply(self, key: Key, body: dict[str, Any], plan: Plan, active: _Active | None) -> float | None:
        """Carry ``plan`` out, in its order: write the journal's ConfigMaps, then the status,
        create the held children, forget the tuner; the requeue delay."""
        if plan.configmaps:
            self._write_configmaps(key, body, plan.configmaps)
        if plan.patch:
            self._write_status(key, body, plan.status, plan.patch)
        if active is not None and plan.create:
            try:
                active.engine.release()
            except TransientError as exc:
                raise CreatesHeld(str(exc), exc.delay) from exc
        if plan.forget:
            self._drop(key)
        return plan.requeue

    # -- the tuner of a parent ---------------------------------------------------------------------

    def _activate(self, key: Key, body: dict[str, Any], attempt: int) -> _Active:
        """The parent's tuner, built (or rebuilt after a restart, a retry or a spec change) from
        its spec and the journal in its status."""
        metadata = body.get("metadata") or {}
        uid, generation = str(metadata.get("uid") or ""), metadata.get("generation")
        active = self.active.get(key)
        if active is not None and active.uid == uid and active.attempt == attempt and (
            key[0] == "CustomRun" or active.generation == generation
        ):
            return active
        self._drop(key)
        namespace, name = key[1], key[2]
        state = dict((body.get("status") or {}).get(STATE_FIELD) or {})
        spec: Mapping[str, Any] | None
        if key[0] == "CustomRun":
            spec, base = self._customrun_spec(body, state), child_base(name, attempt)
            params = (body.get("spec") or {}).get("params") or []
            where = f"CustomRun {namespace}/{name}"
            experiment = parse_experiment(spec, base, namespace, params, where)
        else:
            spec, base = None, name
            experiment = parse_experiment(body.get("spec") or {}, base, namespace, [], f"Experiment {namespace}/{name}")
        session = Session.for_experiment(experiment, local=False, namespace=namespace, taskruns=True)
        journal = MemoryJournal(journal_records(state, read_archive(self.core, namespace, state)))
        engine = HeldEngine(KubernetesEngine(
            self.api, namespace, labels={EXPERIMENT_LABEL: base}, owner=owner_reference(body),
            on_change=lambda: self.queue.add(key),
        ))
        try:
            directory = self.workdir / uid / f"attempt-{attempt}"
            tuner = session.tuner(engine, RunStore(self.workdir / uid / "runs"), directory, journal=journal)
            tuner.open()
        except BaseException:
            engine.close()
            raise
        active = _Active(uid, attempt, generation, tuner, engine, journal, spec)
        self.active[key] = active
        return active

    def _customrun_spec(self, body: dict[str, Any], state: Mapping[str, Any]) -> Mapping[str, Any]:
        """The experiment spec of a CustomRun: the copy saved in its status when it started (so a
        restarted controller runs what it began with), else the embedded spec or the named
        Experiment's, which is saved with the first journal write."""
        saved = state.get("experiment")
        if isinstance(saved, Mapping):
            return saved
        source = experiment_source(body)
        if source.spec is not None:
            return source.spec
        group, version, plural, _ = EXPERIMENT
        namespace = (body.get("metadata") or {}).get("namespace")
        try:
            found = self.custom.get_namespaced_custom_object(group, version, namespace, plural, source.name)
        except ApiException as exc:
            if exc.status == 404:
                raise ParentError(
                    "ExperimentNotFound",
                    f"Experiment {source.name!r} ({group}/{version}) does not exist in namespace {namespace}",
                ) from None
            raise
        return found.get("spec") or {}

    def _abandon(self, key: Key, active: _Active, exc: ParentError) -> None:
        """Stop the trials of a parent whose journal can't be kept (``exc``), before it is
        failed: nothing could record them any more. Best effort: the failure is written anyway."""
        try:
            active.tuner.stop(exc.reason, str(exc))
        except Exception as error:  # noqa: BLE001 - the run is failed whatever happens here
            log.warning("%s %s/%s: stopping its trials failed (%s)", *key, _describe(error))
        self._drop(key)

    def _drop(self, key: Key) -> None:
        active = self.active.pop(key, None)
        if active is not None:
            active.engine.close()

    # -- the journal's ConfigMaps ------------------------------------------------------------------

    def _write_configmaps(self, key: Key, parent: Mapping[str, Any], writes: tuple[ConfigMapWrite, ...]) -> None:
        """Write the journal's ConfigMaps: a new one created (owned by the parent, so deleted
        with it), or replaced whole if a crashed write left one of the parent's there; one the
        status references given its new segments. A ``ParentError`` when a ConfigMap of that
        name is someone else's, or one the status references is gone."""
        for write in writes:
            try:
                self._write_configmap(key, parent, write)
            except ApiException as exc:
                if exc.status != 422:
                    raise
                raise ParentError("JournalRefused", f"ConfigMap {key[1]}/{write.name}: the API server refused the "
                                  f"journal's ConfigMap: {_server_message(exc)}") from None

    def _write_configmap(self, key: Key, parent: Mapping[str, Any], write: ConfigMapWrite) -> None:
        kind, namespace, name = key
        where = f"ConfigMap {namespace}/{write.name}"
        if not write.create:
            changes = [{"op": "add", "path": f"/data/{k}", "value": v} for k, v in write.data.items()]
            try:
                self.core.patch_namespaced_config_map(write.name, namespace, changes)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                raise ParentError("JournalMissing", f"{where}, which holds journal records of this run, "
                                  "was deleted while it ran: the run can't go on without it") from None
            return
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": write.name, "namespace": namespace, "labels": journal_labels(kind, name),
                             "ownerReferences": [owner_reference(parent)]},
                "data": dict(write.data)}
        try:
            self.core.create_namespaced_config_map(namespace, body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = self.core.read_namespaced_config_map(write.name, namespace)
        owners = [o.uid for o in existing.metadata.owner_references or []]
        if (parent.get("metadata") or {}).get("uid") not in owners:
            raise ParentError("JournalConflict", f"{where} already exists and is not this {kind}'s (it is not "
                              "among its owners): the run's journal can't be archived; delete or rename it")
        # One of ours that no status references (a crashed write, an earlier attempt): replaced.
        self.core.patch_namespaced_config_map(write.name, namespace, [
            {"op": "add", "path": "/data", "value": dict(write.data)}])

    # -- writing status ------------------------------------------------------------------------------

    def _write_status(self, key: Key, body: dict[str, Any], new: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
        group, version, plural, _ = PARENTS[key[0]]
        written = self.custom.patch_namespaced_custom_object_status(
            group, version, key[1], plural, key[2], {"status": patch}
        )
        with self._lock:
            current = self.bodies.get(key)
            if current is not None and isinstance(written, Mapping) and not _older(written, current):
                self.bodies[key] = _plain(written)
            elif current is not None:
                current["status"] = dict(new)
        body["status"] = dict(new)


def read_archive(core: client.CoreV1Api, namespace: str, state: Mapping[str, Any]) -> dict[str, dict[str, str] | None]:
    """The data of each ConfigMap a parent's status (``state``) has its journal archived in
    (None: it does not exist), for ``journal_records`` to check and read. Other API errors are
    raised (``ApiException``)."""
    found: dict[str, dict[str, str] | None] = {}
    for name in archive_names(state):
        try:
            found[name] = dict(core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as exc:
            if exc.status != 404:
                raise
            found[name] = None
    return found


def _progress(tuner: Tuner, result: TuneResult | None) -> Progress:
    """The tuner's state after its turn, as the parent's status shows it."""
    trials = tuner.state.ordered()
    objective = tuner.config.objective
    best = policy.best_trial(trials, objective)
    launcher = tuner.launcher
    best_trial = None
    if best is not None:
        best_trial = launcher.trial_name(best.index, best.attempt) if isinstance(launcher, ExperimentLauncher) \
            else str(best.index)
    ended = None
    if result is not None:
        state = result.state
        ended = (state.status or "Failed", state.reason or "", state.message or "")
    return Progress(
        total=tuner.config.budget.max_trials,
        counts=tuner.counts,
        running=len(tuner.running),
        metric=objective.metric,
        best_trial=best_trial,
        best_objective=best.objective if best is not None else None,
        best_parameters=dict(best.assignment) if best is not None else None,
        best_metrics=dict(best.metrics) if best is not None else None,
        parameter_names=tuple(tuner.config.space.names),
        pareto_front=tuple(pareto.front_rows(trials, objective)) if objective.multi else None,
        ended=ended,
    )


def retry_delay(exc: BaseException, failures: int) -> float:
    """Seconds before a failed reconcile is tried again: the delay a ``TransientError`` asks
    for, else 0.5 s doubling with each failure in a row, up to ``MAX_BACKOFF_SECONDS``."""
    if isinstance(exc, TransientError) and exc.delay is not None:
        return float(exc.delay)
    return min(0.25 * 2 ** failures, MAX_BACKOFF_SECONDS)


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: body[k] for k in body})


def _older(body: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    """Whether ``body`` is an older version than ``than`` (resourceVersions are etcd revisions:
    integers on every API server pipetune knows; anything else is never called older)."""
    try:
        return int(str((body.get("metadata") or {}).get("resourceVersion"))) < int(
            str((than.get("metadata") or {}).get("resourceVersion")))
    except (TypeError, ValueError):
        return False


def _server_message(exc: ApiException) -> str:
    """The message of an API server's error (its Status body), else its reason."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{exc.status} {exc.reason}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"Kubernetes API: {exc.status} {exc.reason}"
    if isinstance(exc, PipetuneError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
