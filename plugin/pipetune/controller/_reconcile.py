"""The controller's reconcile: one tuner per running parent, level-triggered.

Each reconcile of a parent (a ``tekton.dev/v1beta1`` CustomRun of pipetune's Experiment, or a
standalone ``pipetune.dev/v1alpha1`` Experiment) reads the parent as last seen, its children
through the Kubernetes engine's watch cache, lets the tuner take one step (collect ended
trials, start new ones), computes the parent's next status (``tekton._customrun.decide`` or
``_parent.experiment_status``), writes it through ``/status`` when it changed, and requeues.

The tuner is the one ``pipetune tune`` runs (``Tuner.step``), on the one Kubernetes engine; its
journal lives in the parent's ``status.extraFields`` (``MemoryJournal``), written before the
trials it suggests are created. A controller started afresh therefore rebuilds every tuner
from its parent's status, adopts the running children by name and label (the engine's
listing), and, with the same seed, suggests what it would have: nothing here is kept only in
memory except caches.
"""

from __future__ import annotations

import collections
import copy
import logging
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from kubernetes import client
from kubernetes.client.rest import ApiException

from pipetune.controller._parent import (
    STATE_FIELD,
    ParentError,
    Snapshot,
    child_base,
    customrun_progress,
    experiment_source,
    experiment_status,
    is_ours,
    is_template,
    owner_reference,
    parse_experiment,
    status_patch,
)
from pipetune.controller._queue import WorkQueue
from pipetune.errors import PipetuneError, SpecError, TransientError

log = logging.getLogger("pipetune.controller")

CUSTOMRUN = ("tekton.dev", "v1beta1", "customruns", "CustomRun")
EXPERIMENT = ("pipetune.dev", "v1alpha1", "experiments", "Experiment")
PARENTS = {"CustomRun": CUSTOMRUN, "Experiment": EXPERIMENT}
#: Seconds between reconciles of a running parent when nothing happens (timeouts, resync).
RESYNC_SECONDS = 10.0

Key = tuple[str, str, str]  # (kind, namespace, name)


@dataclass
class _Active:
    """A running parent's tuner and engine, kept between reconciles (a cache: see the module
    docstring)."""

    uid: str
    attempt: int
    generation: int | None
    tuner: Any
    engine: Any
    journal: Any


@dataclass
class Controller:
    """Reconciles parents; ``observe`` is fed by the watch (kopf), ``run`` works the queue.

    ``api`` is the client for status writes, Experiment reads and the engines; ``workdir``
    holds per-parent scratch (the run store the tuner records into; nothing there is needed
    after a restart).
    """

    api: client.ApiClient
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pipetune-controller-")))
    workers: int = 4
    resync: float = RESYNC_SECONDS
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.queue = WorkQueue()
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
                after = self.reconcile(key)  # type: ignore[arg-type]
                self.failures.pop(key, None)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - one parent's trouble must not stop the others
                # What the tuner holds in memory may be ahead of what was written (a journal
                # write that failed): rebuild it from the parent's status next time.
                self._drop(key)  # type: ignore[arg-type]
                count = self.failures.get(key, 0) + 1  # type: ignore[arg-type]
                self.failures[key] = count  # type: ignore[index]
                after = min(0.25 * 2 ** count, 30.0)
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
        from pipetune.tekton._customrun import decide, parse_duration

        now = self.clock()
        status = body.get("status") or {}
        if _condition_of(status, "Succeeded").get("status") in ("True", "False"):
            self._drop(key)
            return None
        if not status.get("startTime"):
            decision = decide(body, None, now)
            self._write_status(key, body, decision.status)
            return 0.0
        attempt = int((status.get(STATE_FIELD) or {}).get("attempt", 0))
        try:
            active = self._activate(key, body, attempt)
        except ParentError as exc:
            return self._fail_customrun(key, body, exc.reason, str(exc))
        except SpecError as exc:
            return self._fail_customrun(key, body, "InvalidExperiment", str(exc))
        # A cancelled or timed-out attempt starts nothing more: the decision without the
        # tuner's progress says so before it takes a step.
        ending = decide(body, None, now).stop_trials
        result = None if ending else active.tuner.step()
        body = self._body(key, body)  # the tuner may have written its journal meanwhile
        decision = decide(body, customrun_progress(self._snapshot(active, result)), now)
        if decision.stop_trials and result is None:
            reason = _condition_of(decision.status, "Succeeded").get("reason", "Stopped")
            active.tuner.stop(reason, _condition_of(decision.status, "Succeeded").get("message", ""))
        new = decision.status
        state = dict(new.get(STATE_FIELD) or {})
        if decision.new_attempt:
            # The next attempt starts from nothing; the failed one's record is in retriesStatus.
            # It runs the same spec: the saved copy is kept, not looked up again.
            state = {k: v for k, v in state.items() if k in ("attempt", "experiment")}
            for previous in new.get("retriesStatus") or []:
                for bulky in ("journal", "experiment"):
                    (previous.get(STATE_FIELD) or {}).pop(bulky, None)
        else:
            state["journal"] = list(active.journal.entries)
        new[STATE_FIELD] = state
        self._write_status(key, body, new)
        if decision.done or decision.new_attempt:
            self._drop(key)
            return None if decision.done else 0.0
        timeout = parse_duration(body["spec"]["timeout"]) if (body.get("spec") or {}).get("timeout") is not None else 3600.0
        return min(self.resync, max(timeout - _elapsed(new, now), 0.05)) if timeout else self.resync

    def _reconcile_experiment(self, key: Key, body: dict[str, Any]) -> float | None:
        now = self.clock()
        status = body.get("status") or {}
        if _condition_of(status, "Succeeded").get("status") == "True" or _condition_of(status, "Failed").get("status") == "True":
            self._drop(key)
            return None
        try:
            active = self._activate(key, body, 0)
        except SpecError as exc:
            reason = exc.reason if isinstance(exc, ParentError) else "InvalidExperiment"
            self._write_status(key, body, experiment_status(status, None, now, failure=(reason, str(exc))))
            self._drop(key)
            return None
        result = active.tuner.step()
        body = self._body(key, body)
        new = experiment_status(body.get("status") or {}, self._snapshot(active, result), now)
        new[STATE_FIELD] = {**(new.get(STATE_FIELD) or {}), "journal": list(active.journal.entries)}
        self._write_status(key, body, new)
        if result is not None:
            self._drop(key)
            return None
        return self.resync

    def _fail_customrun(self, key: Key, body: dict[str, Any], reason: str, message: str) -> None:
        from pipetune.tekton._customrun import fail

        self._write_status(key, body, fail(body, self.clock(), reason, message))
        self._drop(key)
        return None

    # -- the tuner of a parent ---------------------------------------------------------------------

    def _activate(self, key: Key, body: dict[str, Any], attempt: int) -> _Active:
        """The parent's tuner, built (or rebuilt after a restart, a retry or a spec change) from
        its spec and the journal in its status."""
        from pipetune.engines.kubernetes import KubernetesEngine
        from pipetune.kinds import EXPERIMENT_LABEL
        from pipetune.store import RunStore
        from pipetune.tuner.loop import Tuner, tuner_config
        from pipetune.tuner.journal import MemoryJournal
        from pipetune.tuner.launchers import ExperimentLauncher

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
        if key[0] == "CustomRun":
            spec, base = self._customrun_spec(body, state), child_base(name, attempt)
            params = (body.get("spec") or {}).get("params") or []
            where = f"CustomRun {namespace}/{name}"
        else:
            spec, base, params = body.get("spec") or {}, name, []
            where = f"Experiment {namespace}/{name}"
        experiment = parse_experiment(spec, base, namespace, params, where)
        journal = MemoryJournal(state.get("journal") or [], save=lambda records: self._save_journal(key, attempt, records))
        engine = KubernetesEngine(
            self.api, namespace, labels={EXPERIMENT_LABEL: base}, owner=owner_reference(body),
            on_change=lambda: self.queue.add(key),
        )
        launcher = ExperimentLauncher(experiment, local=False, namespace=namespace, taskruns=True)
        try:
            launcher.check()
            directory = self.workdir / uid / f"attempt-{attempt}"
            tuner = Tuner(tuner_config(experiment), launcher, engine, RunStore(self.workdir / uid / "runs"),
                          directory, journal=journal)
            tuner.open()
        except BaseException:
            engine.close()
            raise
        active = _Active(uid, attempt, generation, tuner, engine, journal)
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

    def _snapshot(self, active: _Active, result: Any) -> Snapshot:
        from pipetune.tuner import policy

        tuner = active.tuner
        trials = tuner.state.ordered()
        objective = tuner.config.objective
        best = policy.best_trial(trials, objective)
        ended = None
        if result is not None:
            state = result.state
            ended = (state.status or "Failed", state.reason or "", state.message or "")
        launcher = tuner.launcher
        return Snapshot(
            total=tuner.config.budget.max_trials,
            counts=policy.summary_counts(trials),
            running=len(tuner.running),
            metric=objective.metric,
            best_trial=launcher.trial_name(best.index, best.attempt) if best is not None else None,
            best_objective=best.objective if best is not None else None,
            best_parameters=dict(best.assignment) if best is not None else None,
            best_metrics=dict(best.metrics) if best is not None else None,
            parameter_names=tuple(getattr(tuner.config.space, "names", ())),
            ended=ended,
        )

    def _body(self, key: Key, fallback: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.bodies.get(key) or fallback

    def _drop(self, key: Key) -> None:
        active = self.active.pop(key, None)
        if active is not None:
            active.engine.close()

    # -- writing status ------------------------------------------------------------------------------

    def _save_journal(self, key: Key, attempt: int, records: list[dict[str, Any]]) -> None:
        """Written before the trials just suggested are created (``MemoryJournal.sync``), with
        the experiment spec the first time, so a restart never meets a child it can't explain."""
        with self._lock:
            body = self.bodies.get(key)
        if body is None:
            raise TransientError(f"{key[0]} {key[1]}/{key[2]} is gone")
        status = dict(body.get("status") or {})
        state = {**(status.get(STATE_FIELD) or {}), "attempt": attempt, "journal": records}
        if key[0] == "CustomRun" and "experiment" not in state:
            state["experiment"] = self._customrun_spec(body, state)
        self._write_status(key, body, {**status, STATE_FIELD: state})

    def _write_status(self, key: Key, body: dict[str, Any], new: Mapping[str, Any]) -> None:
        old = body.get("status") or {}
        patch = status_patch(old, new)
        if not patch:
            return
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


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: body[k] for k in body})


def _older(body: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    """Whether ``body`` is an older version than ``than`` (resourceVersions are etcd revisions:
    integers on every API server pipetune knows; anything else is never called older)."""
    try:
        return int((body.get("metadata") or {}).get("resourceVersion")) < int(
            (than.get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return False


def _condition_of(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return dict(condition)
    return {}


def _elapsed(status: Mapping[str, Any], now: datetime) -> float:
    from pipetune.tekton._customrun import parse_iso

    return (now - parse_iso(status["startTime"])).total_seconds()


def _describe(exc: BaseException) -> str:
    from pipetune.engines.kubernetes._api import describe

    if isinstance(exc, (ApiException, TransientError)):
        return describe(exc)
    if isinstance(exc, PipetuneError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

