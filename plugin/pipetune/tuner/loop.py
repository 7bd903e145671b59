"""The ask/tell loop: suggest trials, run them on an engine, record them, decide, repeat.

``Tuner`` does the I/O (engine, run store, journal, clock); every decision comes from
``policy``, the early-stopping rule and the algorithms, which are pure. State moves only
through the journal: each change is a record appended and then applied (``journal.apply``),
the same transition a restart replays. It is handed an object meeting the engine protocol
and never imports a particular engine. Build one through ``tuner.session.Session``.

``open`` takes the experiment directory's lock (``tuner.lock``: one writer) and compares the
journal's experiment with this one (``tuner.identity``) before anything runs: the same resumes,
a changed budget is taken up, anything else is refused naming each changed field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipetune.atomic import atomic_write_text
from pipetune.contract import TRIAL_INDEX_ENV, LogMetrics, Results, read_results, write_results
from pipetune.engines.base import Engine, History, Phase
from pipetune.errors import ContractError, PipetuneError, RunError, SpecError, UsageError
from pipetune.names import path_slug
from pipetune.runner import StartedRun, checkpoint_env, finish_run, start_run
from pipetune.store import RunRecord, RunStore, new_run_id
from pipetune.tuner import pareto, policy
from pipetune.tuner.algorithms import Exhausted, get_algorithm, trial_seed
from pipetune.tuner.config import TunerConfig
from pipetune.tuner.early_stopping import Curve, curve_from_history
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.identity import BUDGET, ExperimentChanged, changed_message, compare, fingerprint
from pipetune.tuner.journal import (
    JOURNAL_FILE,
    ExperimentState,
    Journal,
    MemoryJournal,
    TrialState,
    apply,
)
from pipetune.tuner.launchers import PreparedTrial, TrialLauncher
from pipetune.tuner.lock import LOCK_FILE, ExperimentLock
from pipetune.tuner.objective import Objective

#: What a rerun does with an experiment its directory already holds: ``auto`` resumes the same
#: experiment and refuses another; ``never`` keeps the old one as an earlier attempt and starts
#: again; ``must`` refuses to start one that is not there.
RESUME_MODES = ("auto", "never", "must")
#: How much of a failed trial's stderr its record keeps.
ERROR_TAIL = 4000
#: A finished experiment's files beside its results.yaml: every trial, and (several
#: objectives) the Pareto front's trials with their parameters and values.
TRIALS_FILE = "trials.json"
PARETO_FRONT_FILE = "pareto_front.json"
#: A finished experiment's earlier attempts: ``<directory>/attempt-<n>``.
ATTEMPT_PREFIX = "attempt-"


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    total: int
    counts: Mapping[str, int]
    best: TrialState | None
    objective: Objective
    event: str = ""
    #: The trial the event is about, as it is now (a finished trial's record).
    trial: TrialState | None = None
    #: How many trials the Pareto front holds (several objectives); None with one.
    front: int | None = None


@dataclass
class TuneResult:
    """What a finished (or interrupted) tuning run leaves."""

    directory: Path
    state: ExperimentState
    objective: Objective
    experiment_run_id: str

    @property
    def trials(self) -> list[TrialState]:
        return self.state.ordered()

    @property
    def best(self) -> TrialState | None:
        return policy.state_best(self.state, self.objective)

    @property
    def best_parameters(self) -> dict[str, Any] | None:
        best = self.best
        return dict(best.assignment) if best else None

    @property
    def best_objective(self) -> float | None:
        best = self.best
        return best.objective if best else None

    @property
    def pareto_front(self) -> list[TrialState]:
        """The trials no other feasible trial dominates (``tuner.pareto``), in trial order: for
        a multi-objective experiment; with one objective, its best feasible trials."""
        return pareto.front(self.trials, self.objective)


@dataclass
class _Running:
    """A trial whose attempt runs now: the run, and its curve as last read."""

    index: int
    attempt: int
    started: StartedRun
    curve: Curve = ()


class Tuner:
    """Runs one experiment to its end in ``directory``, resuming from its journal if any."""

    def __init__(
        self,
        config: TunerConfig,
        launcher: TrialLauncher,
        engine: Engine[Any],
        store: RunStore,
        directory: str | Path,
        progress: Callable[[Progress], None] | None = None,
        poll_interval: float = 0.25,
        checkpoints: str | None = None,
        journal: Journal | MemoryJournal | None = None,
        *,
        notify: Callable[[str], None] | None = None,
        resume: str = "auto",
        fresh_hint: str = "--fresh",
    ) -> None:
        if resume not in RESUME_MODES:
            raise UsageError(f"resume: expected one of {', '.join(RESUME_MODES)}, got {resume!r}")
        self.config = config
        #: Where trials keep checkpoints (``<uri>/trial-NNNN``): a URI every trial reaches.
        #: None: ``<directory>/checkpoints`` for an engine that runs here, none for a cluster.
        self.checkpoints = checkpoints
        self.launcher = launcher
        self.engine = engine
        self.store = store
        self.directory = Path(directory)
        #: Where the experiment's records go: ``<directory>/journal.jsonl`` unless given (the
        #: controller keeps them in its parent's status).
        self.journal = journal if journal is not None else Journal(self.directory / JOURNAL_FILE)
        self.progress = progress
        #: Whether every journaled result is flushed to disk before ``progress`` is called.
        #: A front end whose callback often tells nobody anything (``pipetune.tune`` without
        #: ``progress``) turns it off and calls ``journal.sync`` itself before it tells.
        self.sync_before_progress = True
        #: Where one-line notes go (resuming, finished, budget changed); None: nowhere.
        self.notify = notify
        self.resume = resume
        #: How the front end's user starts over (``--fresh``, ``resume="never"``), for messages.
        self.fresh_hint = fresh_hint
        #: One writer per experiment directory (``tuner.lock``); none for a journal kept elsewhere.
        self.lock = ExperimentLock(self.directory) if isinstance(self.journal, Journal) else None
        identify = getattr(launcher, "identity", None)
        trial = identify(config.space) if callable(identify) else {}
        found = config.identity()
        budget = found.pop(BUDGET)
        #: What defines this experiment (``tuner.identity``), recorded in the journal.
        self.identity: dict[str, Any] = {**found, "trial": trial, BUDGET: budget}
        self.poll_interval = poll_interval
        # Validate before anything runs: an unknown algorithm or bad setting is a spec error.
        self.algorithm = get_algorithm(config.algorithm, config.algorithm_settings,
                                       objectives=len(config.objective.objectives))
        self.running: dict[int, _Running] = {}
        self.stopping_state: dict[str, Any] = {}
        self.exhausted = False
        #: Set by ``open`` for a finished experiment its resume policy keeps finished.
        self.closed = False
        self.run_id = experiment_run_id(config.name, self.directory)
        #: The experiment as the journal says: changed only by ``_record``.
        self.state = ExperimentState()
        #: Curves of trials that ended before this process journaled them (older journals).
        self._legacy_curves: dict[int, Curve] = {}
        #: The completed curves early stopping compares with, replaced whole when a trial
        #: ends: ``should_stop`` reads it from a trial's own thread.
        self._completed: tuple[Curve, ...] = ()
        self._completed_lock = threading.Lock()
        #: Whether ``open`` got as far as starting the experiment (journaled its start).
        self._started = False

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> TuneResult:
        """Run until the experiment ends. On KeyboardInterrupt every running trial is ended and
        the journal left resumable; the interrupt is re-raised."""
        if isinstance(self.journal, Journal):
            self.journal.flush_in_background()
        try:
            self.open()
            while True:
                result = self.step()
                if result is not None:
                    return result
                # Woken as soon as a trial ends; the interval bounds how stale early-stopping
                # curves and timeouts can get.
                self.engine.wait_any(self.poll_interval)
        except BaseException:
            self._interrupt()
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Let another tuner have the experiment directory (``run`` does this at its end)."""
        if isinstance(self.journal, Journal):
            self.journal.flush_in_background(False)
            self.journal.close()
        if self.lock is not None:
            while self.lock.held:
                self.lock.release()

    def open(self) -> ExperimentState:
        """Take the experiment directory's lock, replay the journal, check it holds this
        experiment (``tuner.identity``), and take up its trials: a pending one is started, a
        running one started again (a cluster engine adopts its resource by name). Once,
        before ``step``."""
        if self.lock is not None and not self.lock.held:
            self.lock.acquire()
        self.state = self.journal.state()
        known = self.state.name is not None or bool(self.state.trials)
        if known and self.resume == "never" and isinstance(self.journal, Journal):
            self._start_over()
            known = False
        if not known and self.resume == "must":
            raise SpecError(f"{self.directory}: holds no experiment to resume (resume must)")
        self.run_id = experiment_run_id(self.config.name, self.directory, self._attempt())
        digest = self.config.digest()
        if known:
            self._check_identity(digest)
        if self.state.finished and not self._reopens():
            self.closed = True
            self._say(self._finished_note())
            self._emit("finished")
            return self.state
        if known and not self.state.finished:
            done = sum(1 for t in self.state.trials.values() if t.status.final)
            again = sum(1 for t in self.state.trials.values() if not t.status.final)
            self._say(
                f"resuming {self.config.name}: {done}/{self.config.budget.max_trials} trials done, "
                f"{again} to run again"
            )
        elif known:
            self._say(f"extending {self.config.name}: {len(self.state.trials)} trials done, "
                      f"up to {self.config.budget.max_trials} now")
        # Whole in a file journal; a journal kept in a cluster object's status (the
        # controller's) holds the fingerprint only, the status being bounded in size.
        identity = {"identity": self.identity} if isinstance(self.journal, Journal) else {}
        self._record(
            "experiment_started",
            version=1,
            name=self.config.name,
            seed=self.config.seed,
            spec=digest,
            metric=self.config.objective.metric,
            minimize=self.config.objective.minimize,
            parameters=list(getattr(self.config.space, "names", [])),
            fingerprint=fingerprint(self.identity),
            time=time.time(),
            **identity,
        )
        self._started = True
        self._open_record()
        for trial in self.state.ordered():
            if trial.status is TrialStatus.PENDING:
                # Suggested and journaled, but the tuner died before starting it.
                self._launch(trial.index, 0)
            elif trial.status is TrialStatus.RUNNING:
                # The tuner died while this trial ran: end any leftover, run it again.
                if trial.run_id:
                    self.engine.reclaim(trial.run_id, self.store.run_dir(trial.run_id) / "outputs")
                    self.store.update(trial.run_id, status=Phase.CANCELLED.value, reason="TunerRestarted",
                                      message="the tuner stopped while this trial ran; it was run again")
                self._launch(trial.index, trial.attempt)
        self._load_legacy_curves()
        self._publish_completed()
        self._emit("resumed" if len(self.state.trials) else "started")
        return self.state

    # -- identity ------------------------------------------------------------------------------

    def _check_identity(self, digest: str) -> None:
        """Refuse a journal of another experiment before anything runs; say what a rerun does."""
        comparison = compare(self.state.identity, self.identity)
        if comparison.legacy:
            if self.state.spec_digest is not None and self.state.spec_digest != digest:
                raise ExperimentChanged(
                    f"{self.directory}: holds an experiment with a different search space, objective, "
                    f"algorithm or seed (its journal predates the record of which); run with "
                    f"{self.fresh_hint} to start over (the old one is kept as an earlier attempt), or "
                    "use another experiment directory",
                    (),
                )
            self._say(f"{self.directory}: the journal was written by an older pipetune, without the "
                      "experiment's settings; resuming it as it is")
            return
        if comparison.changes:
            if isinstance(self.journal, Journal):
                raise ExperimentChanged(
                    changed_message(str(self.directory), self.state.name or self.config.name,
                                    comparison.changes, self.fresh_hint),
                    comparison.changes,
                )
            # A cluster experiment's spec is the controller's to judge (Katib lets only the
            # budget change; its webhook refuses the rest): the search itself must match.
            if self.state.spec_digest is not None and self.state.spec_digest != digest:
                raise SpecError(f"{self.directory}: holds an experiment with a different search space, "
                                "objective, algorithm or seed")
        if comparison.budget:
            changes = "; ".join(change.describe().removeprefix(BUDGET + ".") for change in comparison.budget)
            self._say(f"{self.config.name}: continuing under the new budget ({changes})")

    def _reopens(self) -> bool:
        """Whether a finished experiment goes on: its budget now allows more trials, and its
        resumePolicy lets it (Katib's ``Never`` keeps an ended experiment ended)."""
        if self.config.resume_policy == "Never":
            return False
        ending = policy.verdict(
            replace(self.state, status=None, reason=None, message=None),
            self.config.objective, self.config.budget,
        )
        return ending is None

    def _finished_note(self) -> str:
        state = self.state
        extend = (
            "its resumePolicy is Never, so it is not extended"
            if self.config.resume_policy == "Never"
            else "raise maxTrialCount to extend it"
        )
        return (
            f"{self.config.name} is finished: {state.status} ({state.reason}), {len(state.trials)} "
            f"trials; {extend}, or run with {self.fresh_hint} (or another experiment directory) to "
            "start over"
        )

    def _attempt(self) -> int:
        """This attempt's number: one more than the earlier attempts kept in the directory."""
        return 1 + len(_earlier_attempts(self.directory))

    def _start_over(self) -> None:
        """Keep the directory's experiment as ``attempt-<n>`` and start a new one."""
        attempt = self._attempt()
        archive = self.directory / f"{ATTEMPT_PREFIX}{attempt}"
        old_run = experiment_run_id(self.config.name, self.directory, attempt)
        if isinstance(self.journal, Journal):
            self.journal.close()  # the file moves into the archive: the next append opens anew
        try:
            archive.mkdir()
            for entry in sorted(self.directory.iterdir()):
                if entry.name == LOCK_FILE or entry == archive or _is_attempt(entry):
                    continue
                os.replace(entry, archive / entry.name)
        except OSError as exc:
            raise RunError(f"{archive}: can't keep the earlier attempt: {exc.strerror or exc}") from None
        with contextlib.suppress(PipetuneError):
            if self.store.find(old_run) is not None:
                self.store.update(old_run, outputs_dir=str(archive))
        self.state = ExperimentState()
        self._say(f"{self.config.name}: the earlier attempt is kept in {archive}; starting attempt {attempt + 1}")

    def _say(self, note: str) -> None:
        if self.notify is not None:
            self.journal.sync()  # what a note tells of is on disk first
            self.notify(note)

    def step(self) -> TuneResult | None:
        """One turn of the loop, without waiting: collect ended trials, stop early ones, decide,
        start what may start. The result once the experiment has ended, else None."""
        if self.closed:
            return self._result()
        # At most two passes: the second only after learning that the search space is exhausted,
        # so a policy that keeps finding something to retry cannot spin here forever.
        for _ in range(2):
            self._collect()
            self._early_stop()
            ending = policy.verdict(self.state, self.config.objective, self.config.budget, self.exhausted)
            if ending is not None and ending.reason in (
                "ExperimentGoalReached",
                "ExperimentMaxFailedTrialsReached",
                policy.GAVE_UP,
            ):
                self._stop_all("the experiment ended: " + ending.message)
            if ending is not None and not self.running:
                self._finish(ending)
                return self._result()
            if ending is None:
                self._retry_failed()
                self._start_new()
            if (not self.running and ending is None and not self.exhausted
                    and not policy.can_ask(self.state, self.config.budget)):
                # Nothing runs and nothing may start: only possible when exhausted.
                self.exhausted = True
                continue
            break
        self.journal.sync_if_due()
        return None

    def stop(self, reason: str, message: str) -> TuneResult:
        """End the experiment now, from outside (a cancelled CustomRun): running trials are
        stopped and recorded as Killed, and the experiment Failed with ``reason``."""
        self._stop_all(message)
        self._finish(policy.Verdict("Failed", reason, message))
        return self._result()

    @property
    def counts(self) -> Mapping[str, int]:
        """Trials per status, now."""
        return policy.state_counts(self.state)

    # -- the one way state changes ---------------------------------------------------------------

    def _record(self, op: str, **fields: Any) -> None:
        """Append a record to the journal, then apply it: the live state is always what a
        replay of the journal gives."""
        self.state = apply(self.state, self.journal.append(op, **fields))

    # -- trials ----------------------------------------------------------------------------------

    def _open_record(self) -> None:
        """The experiment's own row in the run store: created once, marked running on resume."""
        if self.store.find(self.run_id) is None:
            self.store.create(
                RunRecord(
                    id=self.run_id,
                    component=f"experiment/{self.config.name}",
                    engine=self.engine.name,
                    status=Phase.RUNNING.value,
                    parameters={"algorithm": self.config.algorithm, "seed": self.config.seed},
                    outputs_dir=str(self.directory),
                    started_at=time.time(),
                )
            )
        else:
            self.store.update(self.run_id, status=Phase.RUNNING.value, reason=None, message=None, finished_at=None)

    def _load_legacy_curves(self) -> None:
        """Curves of succeeded trials whose ``trial_finished`` predates journaled curves: read
        from their results where the engine shares this file system."""
        if self.config.early_stopping is None or not self.engine.local:
            return
        for trial in self.state.ordered():
            if trial.status is TrialStatus.SUCCEEDED and trial.curve is None and trial.run_id:
                record = self.store.find(trial.run_id)
                if record and record.outputs_dir:
                    try:
                        history = read_results(Path(record.outputs_dir)).history
                    except ContractError:
                        continue
                    self._legacy_curves[trial.index] = curve_from_history(history, self.config.objective.metric)

    def _start_new(self) -> None:
        budget = self.config.budget
        # Suggest the whole batch, sync the journal, then start: a controller that dies between
        # a create and its next status write must still know what it created.
        new: list[int] = []
        while len(self.running) + len(new) < budget.parallel and not self.exhausted and policy.can_ask(self.state, budget):
            history = policy.history_for(self.state, budget, self.config.objective)
            index = len(history)
            try:
                suggestion = self.algorithm.suggest(
                    self.config.space, history, trial_seed(self.config.seed, index)
                )
            except Exhausted:
                self.exhausted = True
                break
            self._record(
                "trial_created",
                trial=index,
                assignment=suggestion.assignment,
                internal=suggestion.internal,
                time=time.time(),
            )
            new.append(index)
        if new:
            self.journal.sync_if_due()
        for index in new:
            self._launch(index, 0)

    def _retry_failed(self) -> None:
        # Trials before the settled prefix are final and never retried: skip them.
        for trial in policy.unsettled(self.state, self.config.budget):
            if len(self.running) >= self.config.budget.parallel:
                return
            if policy.retryable(trial, self.config.budget) and trial.index not in self.running:
                self._launch(trial.index, trial.attempt + 1)

    def _launch(self, index: int, attempt: int) -> None:
        trial = self.state.trials[index]
        run_id = new_run_id()
        try:
            prepared = self.launcher.prepare(
                trial.index, trial.assignment, self.store.run_dir(run_id) / "outputs", attempt
            )
        except PipetuneError as exc:
            # A rendering problem with this assignment is this trial's failure, not the tuner's.
            self._record_finish(index, attempt, None, policy.Outcome(
                TrialStatus.FAILED, None, {}, "InvalidTrial", str(exc)))
            return
        # The intent first: a tuner killed (or interrupted) from here on leaves a journal that
        # names this run, so ``open`` or ``_interrupt`` ends whatever of it got started.
        self._record("trial_starting", trial=index, attempt=attempt, run_id=run_id, time=time.time())
        try:
            started = self._start(trial, attempt, run_id, prepared)
        except RunError as exc:
            # The engine refused this trial (a name taken by someone else's resource, a
            # resource the API rejects): its failure. Transient trouble propagates instead.
            self._record_finish(index, attempt, None, policy.Outcome(
                TrialStatus.FAILED, None, {}, "SubmitFailed", str(exc)))
            return
        self._record("trial_started", trial=index, attempt=attempt, run_id=started.record.id, time=time.time())
        self.running[index] = _Running(index, attempt, started)
        self._emit(f"trial {index} started")

    def _start(self, trial: TrialState, attempt: int, run_id: str, prepared: PreparedTrial) -> StartedRun:
        return start_run(
            self.store,
            self.engine,
            prepared.component,
            prepared.arguments,
            parent_id=self.run_id,
            timeout=self.config.trial_timeout,
            echo=False,
            run_id=run_id,
            log_metrics=prepared.log_metrics or LogMetrics(names=self.config.objective.metric_names),
            resource=prepared.resource,
            name=prepared.name,
            env=self._trial_env(trial, attempt),
        )

    def _trial_env(self, trial: TrialState, attempt: int) -> dict[str, str]:
        env = self._checkpoint_env(trial, attempt)
        if self.engine.local:
            env[TRIAL_INDEX_ENV] = str(trial.index)
        return env

    def _checkpoint_env(self, trial: TrialState, attempt: int) -> dict[str, str]:
        """Where a trial keeps its checkpoints: one place per trial, the same for every attempt
        and across a resumed tuner, so a retried or restarted trial gets its newest complete
        checkpoint as ``PIPETUNE_RESUME_FROM``. A cluster engine's trials get this only with
        ``checkpoints`` (e.g. an s3:// URI): they can't see this machine's directory."""
        base = self.checkpoints
        if base is None and not self.engine.local:
            return {}
        base = (base or str(self.directory / "checkpoints")).rstrip("/")
        parent = ((trial.internal or {}).get("pbt") or {}).get("parent")
        # Population-based training: a new member starts from its parent's checkpoint.
        fallback = f"{base}/trial-{parent:04d}" if isinstance(parent, int) else None
        resume = attempt > 0 or bool(trial.run_ids)
        return checkpoint_env(f"{base}/trial-{trial.index:04d}", resume=resume, fallback=fallback)

    def _collect(self) -> None:
        metric = self.config.objective.metric
        for index, running in list(self.running.items()):
            status = self.engine.poll(running.started.handle)
            if not status.phase.final:
                continue
            del self.running[index]
            finish_run(running.started, status)
            results = self.engine.results(running.started.handle)
            curve = curve_from_history(results.history, metric) if results is not None else running.curve
            if status.reason == policy.EARLY_STOPPED and curve:
                # The trial stopped itself when asked (a Python objective's should_stop).
                step, value = curve[-1]
                outcome = policy.Outcome(TrialStatus.EARLY_STOPPED, value, {metric: value}, policy.EARLY_STOPPED,
                                         f"stopped at step {step} by medianstop")
            else:
                outcome = policy.judge_run(
                    status.phase is Phase.SUCCEEDED,
                    results,
                    self.config.objective,
                    status.reason,
                    status.message,
                )
            self._record_finish(index, running.attempt, running.started, outcome, curve)

    def _record_finish(
        self,
        index: int,
        attempt: int,
        started: StartedRun | None,
        outcome: policy.Outcome,
        curve: Curve = (),
    ) -> None:
        fields: dict[str, Any] = {}
        if self.config.early_stopping is not None and curve:
            # Kept for the early-stopping rule, which compares running trials with finished ones
            # on every engine and after a restart.
            fields["curve"] = [[step, value] for step, value in curve]
        if outcome.status is TrialStatus.FAILED and started is not None:
            error = self._error_of(started)
            if error:
                fields["error"] = error
        if outcome.values is not None:
            fields["values"] = list(outcome.values)
        self._record(
            "trial_finished",
            trial=index,
            attempt=attempt,
            status=outcome.status.value,
            objective=outcome.objective,
            metrics=outcome.metrics,
            reason=outcome.reason,
            message=outcome.message,
            run_id=started.record.id if started else None,
            time=time.time(),
            **fields,
        )
        if outcome.status in (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED) and curve:
            self._publish_completed()
        self._emit(f"trial {index} {outcome.status.value}", self.state.trials[index])

    def _error_of(self, started: StartedRun) -> str | None:
        """What a failed run left on stderr (a Python objective's traceback goes there): the
        end of it, for the trial's record and the first failure's report."""
        if not self.engine.local:
            return None
        logs = self.store.run_dir(started.record.id) / "logs"
        # A Katib StdOut trial's stderr is merged into its stdout.log, as Katib's collector reads it.
        path = logs / "stderr.log" if (logs / "stderr.log").exists() else logs / "stdout.log"
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - ERROR_TAIL))
                text = handle.read().decode(errors="replace")
        except OSError:
            return None
        if size > ERROR_TAIL:
            text = "..." + text[text.find("\n") + 1:] if "\n" in text else text
        return text.strip() or None

    # -- early stopping --------------------------------------------------------------------------

    def _completed_curves(self) -> list[Curve]:
        return [
            trial.curve if trial.curve is not None else self._legacy_curves.get(trial.index, ())
            for trial in self.state.ordered()
            if trial.status is TrialStatus.SUCCEEDED
        ]

    def _publish_completed(self) -> None:
        completed = tuple(c for c in self._completed_curves() if c)
        with self._completed_lock:
            self._completed = completed

    def should_stop(self, history: History) -> bool:
        """Whether a running trial that has reported ``history`` is stopped now by the
        experiment's early stopping: the rule the loop applies, asked by the trial itself (a
        Python objective's ``trial.should_stop()``, on its own thread). Pure over a snapshot of
        the completed trials' curves."""
        rule = self.config.early_stopping
        if rule is None:
            return False
        curve = curve_from_history(history, self.config.objective.metric)
        if not curve:
            return False
        with self._completed_lock:
            completed = self._completed
        stop, _ = rule.decide(list(completed), {-1: curve}, self.config.objective.minimize, {})
        return bool(stop)

    def _early_stop(self) -> None:
        rule = self.config.early_stopping
        if rule is None or not self.running:
            return
        metric = self.config.objective.metric
        running_curves: dict[int, Curve] = {}
        for index, running in self.running.items():
            running.curve = curve_from_history(self.engine.intermediate(running.started.handle), metric)
            running_curves[index] = running.curve
        completed = self._completed_curves()
        to_stop, self.stopping_state = rule.decide(
            [c for c in completed if c], running_curves, self.config.objective.minimize, self.stopping_state
        )
        for index in to_stop:
            running = self.running.pop(index)
            self.engine.cancel(running.started.handle)
            finish_run(running.started, self.engine.poll(running.started.handle))
            step, value = running.curve[-1]
            self.store.update(running.started.record.id, reason="EarlyStopped",
                              message=f"stopped at step {step}: below the median of completed trials")
            self._record_finish(index, running.attempt, running.started, policy.Outcome(
                TrialStatus.EARLY_STOPPED, value, {metric: value}, "EarlyStopped",
                f"stopped at step {step} by medianstop",
            ), running.curve)

    def _stop_all(self, message: str) -> None:
        for index, running in list(self.running.items()):
            self.engine.cancel(running.started.handle)
            finish_run(running.started, self.engine.poll(running.started.handle))
            del self.running[index]
            self._record_finish(index, running.attempt, running.started, policy.Outcome(
                TrialStatus.KILLED, None, {}, "ExperimentEnded", message))

    def _interrupt(self) -> None:
        """End every running trial but journal nothing for them: a resume runs them again.
        A trial interrupted while it was being started (journaled ``trial_starting``, no
        handle yet) is ended through ``reclaim``, as a resume would."""
        for running in self.running.values():
            try:
                self.engine.cancel(running.started.handle)
                finish_run(running.started, self.engine.poll(running.started.handle))
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        for trial in self.state.ordered():
            if trial.status is TrialStatus.RUNNING and trial.index not in self.running and trial.run_id:
                try:
                    self.engine.reclaim(trial.run_id, self.store.run_dir(trial.run_id) / "outputs")
                    self.store.update(trial.run_id, status=Phase.CANCELLED.value, reason="Interrupted",
                                      message="the tuner was stopped while starting this trial",
                                      finished_at=time.time())
                except Exception:  # noqa: BLE001 - best effort while already failing
                    pass
        self.running.clear()
        with contextlib.suppress(Exception):
            self.journal.sync()  # best effort: what finished before the interrupt is kept
        if not self._started:
            return  # refused before it started (another experiment, a held lock): nothing ran
        # Best effort: when the store is what failed, a second error here would hide the first.
        with contextlib.suppress(Exception):
            self.store.update(self.run_id, status=Phase.CANCELLED.value, reason="Interrupted",
                              message="the tuner was stopped; run it again to resume", finished_at=time.time())

    def _finish(self, ending: policy.Verdict) -> None:
        self._record(
            "experiment_finished",
            status=ending.status,
            reason=ending.reason,
            message=ending.message,
            time=time.time(),
        )
        self.journal.sync()  # on disk before the files and the store say it ended
        results = tuner_results(self.state, self.config.objective)
        write_results(results, self.directory)
        self.store.update(
            self.run_id,
            status=Phase.SUCCEEDED.value if ending.status == "Succeeded" else Phase.FAILED.value,
            reason=ending.reason,
            message=ending.message,
            finished_at=time.time(),
            metrics=dict(results.metrics),
            outputs=dict(results.outputs),
        )
        rows = trial_rows(self.state, self.config.objective)
        if self.config.objective.multi:
            front = pareto.front_rows(self.state.ordered(), self.config.objective)
            atomic_write_text(self.directory / PARETO_FRONT_FILE, json.dumps(front, indent=2) + "\n")
        atomic_write_text(self.directory / TRIALS_FILE, json.dumps(rows, indent=2) + "\n")
        self._emit("finished")
        self.journal.sync()

    def _emit(self, event: str, trial: TrialState | None = None) -> None:
        if self.progress is None:
            return
        if self.sync_before_progress:
            self.journal.sync()  # nobody is told of a result a power loss could still take
        self.progress(
            Progress(
                total=self.config.budget.max_trials,
                counts=policy.state_counts(self.state),
                best=policy.state_best(self.state, self.config.objective),
                objective=self.config.objective,
                event=event,
                trial=trial,
                front=len(pareto.front(self.state.ordered(), self.config.objective)) if self.config.objective.multi else None,
            )
        )

    def _result(self) -> TuneResult:
        return TuneResult(self.directory, self.state, self.config.objective, self.run_id)


def experiment_run_id(name: str, directory: Path, attempt: int = 1) -> str:
    """The run-store id of an experiment: stable for its directory (and attempt, after
    ``--fresh``), so a resume finds it."""
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:6]
    suffix = f"-{attempt}" if attempt > 1 else ""
    return f"exp-{path_slug(name)[:40]}-{digest}{suffix}"


def _is_attempt(entry: Path) -> bool:
    return entry.is_dir() and entry.name.startswith(ATTEMPT_PREFIX) and entry.name[len(ATTEMPT_PREFIX):].isdigit()


def _earlier_attempts(directory: Path) -> list[Path]:
    """The attempts ``--fresh`` kept: ``attempt-1``, ``attempt-2``..."""
    try:
        return [entry for entry in directory.iterdir() if _is_attempt(entry)]
    except OSError:
        return []


def tuner_results(state: ExperimentState, objective: Objective) -> Results:
    """The tuner's own results.yaml: best parameters as outputs, best objective and counts as
    metrics."""
    trials = state.ordered()
    best = policy.state_best(state, objective)
    counts = policy.state_counts(state)
    metrics: dict[str, float] = {}
    if best is not None and best.objective is not None:
        metrics[f"best_{objective.metric}"] = best.objective
        metrics["best_objective"] = best.objective
    metrics |= {
        "trials": len(trials),
        "succeeded": counts["Succeeded"],
        "failed": counts["Failed"],
        "metrics_unavailable": counts["MetricsUnavailable"],
        "early_stopped": counts["EarlyStopped"],
    }
    outputs: dict[str, Any] = {
        "objective_metric": objective.metric,
        "status": state.status,
        "reason": state.reason,
    }
    if best is not None and best.objective is not None:
        outputs["best_parameters"] = dict(best.assignment)
        outputs["best_trial"] = best.index
        outputs["best_run_id"] = best.run_id
    artifacts = {"trials": TRIALS_FILE}
    if objective.multi:
        # The trials only: a results.yaml travels in 4 KB (a termination message, a Tekton
        # result); each front trial's parameters and values are in the artifact.
        outputs["objective_metrics"] = [o.metric for o in objective.objectives]
        outputs["pareto_front_trials"] = [t.index for t in pareto.front(trials, objective)]
        metrics["pareto_front_size"] = len(outputs["pareto_front_trials"])
        artifacts["pareto_front"] = PARETO_FRONT_FILE
    if objective.constraints:
        metrics["infeasible"] = sum(
            1 for t in trials if pareto.values_of(t, objective) is not None and not objective.feasible(t.metrics))
    return Results(metrics=metrics, outputs=outputs, artifacts=artifacts)


def trial_rows(state: ExperimentState, objective: Objective | None = None) -> list[dict[str, Any]]:
    """Every trial as a plain row: index, status, parameters, objective, metrics, run ids.
    Given a multi-objective or constrained ``objective``, each row also says ``values`` (each
    objective's, by metric; multi-objective only), ``feasible`` and ``pareto`` (on the front)."""
    rows = _plain_rows(state)
    if objective is None or not (objective.multi or objective.constraints):
        return rows
    trials = state.ordered()
    on_front = {t.index for t in pareto.front(trials, objective)}
    for row, trial in zip(rows, trials):
        if objective.multi:
            values = pareto.values_of(trial, objective)
            row["values"] = None if values is None else {o.metric: v for o, v in zip(objective.objectives, values)}
        row["feasible"] = pareto.values_of(trial, objective) is not None and objective.feasible(trial.metrics)
        row["pareto"] = trial.index in on_front
    return rows


def _plain_rows(state: ExperimentState) -> list[dict[str, Any]]:
    return [
        {
            "trial": t.index,
            "status": t.status.value,
            "parameters": t.assignment,
            "objective": t.objective,
            "metrics": t.metrics,
            "reason": t.reason,
            "message": t.message,
            "attempts": t.attempt + 1,
            "run_id": t.run_id,
            "error": t.error,
        }
        for t in state.ordered()
    ]
