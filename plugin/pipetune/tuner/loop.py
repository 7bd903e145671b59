"""The ask/tell loop: suggest trials, run them on an engine, record them, decide, repeat.

``Tuner`` does the I/O (engine, run store, journal, clock); every decision comes from
``policy`` and the algorithms, which are pure. It is handed an object meeting the engine
protocol and never imports a particular engine.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from pipetune.atomic import atomic_write_text
from pipetune.contract import LogMetrics, Results, read_results, write_results
from pipetune.engines.base import Engine, Phase
from pipetune.runner import StartedRun, finish_run, start_run
from pipetune.store import RunRecord, RunStore, new_run_id
from pipetune.experiment import Objective
from pipetune.tuner import policy
from pipetune.tuner.algorithms import Exhausted, get_algorithm, trial_seed
from pipetune.tuner.early_stopping import MedianStop, curve_from_history
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.launchers import TrialLauncher
from pipetune.tuner.journal import JOURNAL_FILE, ExperimentState, Journal, MemoryJournal, TrialState, replay
from pipetune.errors import ContractError, PipetuneError, RunError, SpecError

DEFAULT_ALGORITHM = "auto"


@dataclass(frozen=True)
class TunerConfig:
    """What the loop needs from an experiment, whatever its source (YAML, Python, a CustomRun)."""

    name: str
    space: Any
    objective: Objective
    budget: policy.Budget
    algorithm: str = DEFAULT_ALGORITHM
    algorithm_settings: Mapping[str, str] = field(default_factory=dict)
    early_stopping: MedianStop | None = None
    seed: int = 0
    trial_timeout: float | None = None

    def digest(self) -> str:
        """Identifies the search: a resumed experiment must have the same one."""
        space = repr(self.space) if not hasattr(self.space, "digest") else self.space.digest()
        payload = json.dumps(
            {
                "space": space,
                "metric": self.objective.metric,
                "minimize": self.objective.minimize,
                "algorithm": self.algorithm,
                "settings": dict(self.algorithm_settings),
                "seed": self.seed,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    total: int
    counts: Mapping[str, int]
    best: TrialState | None
    objective: Objective
    event: str = ""


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
        return policy.best_trial(self.trials, self.objective)

    @property
    def best_parameters(self) -> dict[str, Any] | None:
        best = self.best
        return dict(best.assignment) if best else None

    @property
    def best_objective(self) -> float | None:
        best = self.best
        return best.objective if best else None


@dataclass
class _Running:
    trial: TrialState
    started: StartedRun
    curve: list[tuple[int, float]] = field(default_factory=list)


class Tuner:
    """Runs one experiment to its end in ``directory``, resuming from its journal if any."""

    def __init__(
        self,
        config: TunerConfig,
        launcher: TrialLauncher,
        engine: Engine,
        store: RunStore,
        directory: str | Path,
        progress: Callable[[Progress], None] | None = None,
        poll_interval: float = 0.25,
        checkpoints: str | None = None,
        journal: Journal | MemoryJournal | None = None,
    ) -> None:
        self.config = config
        #: Where trials keep checkpoints (``<uri>/trial-NNNN``): a URI every trial reaches.
        #: None: ``<directory>/checkpoints`` for the local engine, none for a cluster engine.
        self.checkpoints = checkpoints
        self.launcher = launcher
        self.engine = engine
        self.store = store
        self.directory = Path(directory)
        #: Where the experiment's records go: ``<directory>/journal.jsonl`` unless given (the
        #: controller keeps them in its parent's status).
        self.journal = journal if journal is not None else Journal(self.directory / JOURNAL_FILE)
        self.progress = progress
        self.poll_interval = poll_interval
        # Validate before anything runs: an unknown algorithm or bad setting is a spec error.
        self.algorithm = get_algorithm(config.algorithm, config.algorithm_settings)
        self.running: dict[int, _Running] = {}
        self.curves: dict[int, list[tuple[int, float]]] = {}
        self.stopping_state: dict[str, Any] = {}
        self.exhausted = False
        self.run_id = experiment_run_id(config.name, self.directory)
        self.state = ExperimentState()

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> TuneResult:
        """Run until the experiment ends. On KeyboardInterrupt every running trial is ended and
        the journal left resumable; the interrupt is re-raised."""
        self.open()
        try:
            while True:
                result = self.step()
                if result is not None:
                    return result
                # Woken as soon as a trial ends; the interval bounds how stale early-stopping
                # curves and timeouts can get.
                self.engine.wait_any(self.poll_interval)
        except BaseException:
            self._interrupt(self.state)
            raise

    def open(self) -> ExperimentState:
        """Replay the journal and take up its trials: a pending one is started, a running one
        started again (a cluster engine adopts its resource by name). Once, before ``step``."""
        self.state = self._open()
        return self.state

    def step(self) -> TuneResult | None:
        """One turn of the loop, without waiting: collect ended trials, stop early ones, decide,
        start what may start. The result once the experiment has ended, else None."""
        state = self.state
        while True:
            self._collect(state)
            self._early_stop(state)
            ending = policy.verdict(state, self.config.objective, self.config.budget, self.exhausted)
            if ending is not None and ending.reason in (
                "ExperimentGoalReached",
                "ExperimentMaxFailedTrialsReached",
            ):
                self._stop_all(state, "the experiment ended: " + ending.message)
            if ending is not None and not self.running:
                self._finish(state, ending)
                return self._result(state)
            if ending is None:
                self._retry_failed(state)
                self._start_new(state)
            if not self.running and ending is None and not policy.can_ask(state, self.config.budget):
                # Nothing runs and nothing may start: only possible when exhausted.
                self.exhausted = True
                continue
            self.journal.sync()
            return None

    def stop(self, reason: str, message: str) -> TuneResult:
        """End the experiment now, from outside (a cancelled CustomRun): running trials are
        stopped and recorded as Killed, and the experiment Failed with ``reason``."""
        state = self.state
        self._stop_all(state, message)
        self._finish(state, policy.Verdict("Failed", reason, message))
        return self._result(state)

    @property
    def counts(self) -> Mapping[str, int]:
        """Trials per status, now."""
        return policy.summary_counts(self.state.ordered())

    def _open(self) -> ExperimentState:
        state = replay(list(self.journal.records()))
        digest = self.config.digest()
        if state.spec_digest is not None and state.spec_digest != digest:
            raise SpecError(
                f"{self.directory}: holds an experiment with a different search space, "
                "objective, algorithm or seed; use a new experiment directory"
            )
        self.journal.append(
            "experiment_started",
            version=1,
            name=self.config.name,
            seed=self.config.seed,
            spec=digest,
            metric=self.config.objective.metric,
            minimize=self.config.objective.minimize,
            parameters=list(getattr(self.config.space, "names", [])),
            time=time.time(),
        )
        state.spec_digest, state.status = digest, None
        record = self.store.find(self.run_id)
        if record is None:
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
        for trial in state.ordered():
            self.curves[trial.index] = []
            if trial.status is TrialStatus.PENDING:
                # Suggested and journaled, but the tuner died before starting it.
                self._launch(state, trial, 0)
            elif trial.status is TrialStatus.RUNNING:
                # The tuner died while this trial ran: end any leftover process, run it again.
                reclaim = getattr(self.engine, "reclaim", None)
                if reclaim is not None and trial.run_id:
                    reclaim(trial.run_id, self.store.run_dir(trial.run_id) / "outputs")
                if trial.run_id:
                    self.store.update(trial.run_id, status=Phase.CANCELLED.value, reason="TunerRestarted",
                                      message="the tuner stopped while this trial ran; it was run again")
                self._launch(state, trial, trial.attempt)
        self._load_curves(state)
        self._emit(state, "resumed" if state.trials else "started")
        return state

    def _load_curves(self, state: ExperimentState) -> None:
        if self.config.early_stopping is None:
            return
        for trial in state.ordered():
            if trial.status is TrialStatus.SUCCEEDED and trial.run_id:
                record = self.store.find(trial.run_id)
                if record and record.outputs_dir:
                    self.curves[trial.index] = self._curve(Path(record.outputs_dir))

    def _start_new(self, state: ExperimentState) -> None:
        budget = self.config.budget
        # Suggest the whole batch, sync the journal, then start: a controller that dies between
        # a create and its next status write must still know what it created.
        new: list[TrialState] = []
        while len(self.running) + len(new) < budget.parallel and not self.exhausted and policy.can_ask(state, budget):
            history = policy.history_for(state, budget, self.config.objective)
            index = len(history)
            try:
                suggestion = self.algorithm.suggest(
                    self.config.space, history, trial_seed(self.config.seed, index)
                )
            except Exhausted:
                self.exhausted = True
                return
            self.journal.append(
                "trial_created",
                trial=index,
                assignment=suggestion.assignment,
                internal=suggestion.internal,
                time=time.time(),
            )
            trial = TrialState(index, dict(suggestion.assignment), suggestion.internal)
            state.trials[index] = trial
            new.append(trial)
        if new:
            self.journal.sync()
        for trial in new:
            self._launch(state, trial, 0)

    def _retry_failed(self, state: ExperimentState) -> None:
        # Trials before the settled prefix are final and never retried: skip them.
        first = policy.settled_prefix(state, self.config.budget)
        for trial in (state.trials[i] for i in sorted(state.trials) if i >= first):
            if len(self.running) >= self.config.budget.parallel:
                return
            if policy.retryable(trial, self.config.budget) and trial.index not in self.running:
                self._launch(state, trial, trial.attempt + 1)

    def _launch(self, state: ExperimentState, trial: TrialState, attempt: int) -> None:
        run_id = new_run_id()
        try:
            prepared = self.launcher.prepare(
                trial.index, trial.assignment, self.store.run_dir(run_id) / "outputs", attempt
            )
        except PipetuneError as exc:
            # A rendering problem with this assignment is this trial's failure, not the tuner's.
            self._record_finish(state, trial, attempt, None, policy.Outcome(
                TrialStatus.FAILED, None, {}, "InvalidTrial", str(exc)))
            return
        log_metrics = prepared.log_metrics or LogMetrics(names=self.config.objective.metric_names)
        env = self._checkpoint_env(trial, attempt)
        try:
            started = self._start(trial, run_id, prepared, log_metrics, env)
        except RunError as exc:
            # The engine refused this trial (a name taken by someone else's resource, a
            # resource the API rejects): its failure. Transient trouble propagates instead.
            self._record_finish(state, trial, attempt, None, policy.Outcome(
                TrialStatus.FAILED, None, {}, "SubmitFailed", str(exc)))
            return
        self.journal.append(
            "trial_started",
            trial=trial.index,
            attempt=attempt,
            run_id=started.record.id,
            time=time.time(),
        )
        trial.status, trial.attempt, trial.run_id = TrialStatus.RUNNING, attempt, started.record.id
        trial.run_ids.append(started.record.id)
        self.running[trial.index] = _Running(trial, started)
        self._emit(state, f"trial {trial.index} started")

    def _start(self, trial: TrialState, run_id: str, prepared: Any, log_metrics: LogMetrics,
               env: dict[str, str]) -> StartedRun:
        return start_run(
            self.store,
            self.engine,
            prepared.component,
            prepared.arguments,
            parent_id=self.run_id,
            timeout=self.config.trial_timeout,
            echo=False,
            run_id=run_id,
            log_metrics=log_metrics,
            resource=prepared.resource,
            name=prepared.name,
            env=env,
        )

    def _checkpoint_env(self, trial: TrialState, attempt: int) -> dict[str, str]:
        """Where a trial keeps its checkpoints: one place per trial, the same for every attempt
        and across a resumed tuner, so a retried or restarted trial gets its newest complete
        checkpoint as ``PIPETUNE_RESUME_FROM``. A cluster engine's trials get this only with
        ``checkpoints`` (e.g. an s3:// URI): they can't see this machine's directory."""
        base = self.checkpoints
        if base is None and self.engine.name != "local":
            return {}
        base = base or str(self.directory / "checkpoints")
        from pipetune.checkpoints import CHECKPOINTS_ENV, RESUME_ENV, CheckpointStore

        def store_of(index: int) -> str:
            return f"{base.rstrip('/')}/trial-{index:04d}"

        uri = store_of(trial.index)
        env = {CHECKPOINTS_ENV: uri}
        latest = CheckpointStore(uri).latest() if attempt > 0 or trial.run_ids else None
        parent = ((trial.internal or {}).get("pbt") or {}).get("parent")
        if latest is None and isinstance(parent, int):
            # Population-based training: a new member starts from its parent's checkpoint.
            latest = CheckpointStore(store_of(parent)).latest()
        if latest is not None:
            env[RESUME_ENV] = latest.uri
        return env

    def _collect(self, state: ExperimentState) -> None:
        for index, running in list(self.running.items()):
            status = self.engine.poll(running.started.handle)
            if not status.phase.final:
                continue
            del self.running[index]
            finish_run(running.started, status)
            results = self.engine.results(running.started.handle)
            outcome = policy.judge_run(
                status.phase is Phase.SUCCEEDED,
                results,
                self.config.objective,
                status.reason,
                status.message,
            )
            if results is not None:
                self.curves[index] = curve_from_history(results.history, self.config.objective.metric)
            self._record_finish(state, running.trial, running.trial.attempt, running.started, outcome)

    def _record_finish(
        self,
        state: ExperimentState,
        trial: TrialState,
        attempt: int,
        started: StartedRun | None,
        outcome: policy.Outcome,
    ) -> None:
        self.journal.append(
            "trial_finished",
            trial=trial.index,
            attempt=attempt,
            status=outcome.status.value,
            objective=outcome.objective,
            metrics=outcome.metrics,
            reason=outcome.reason,
            message=outcome.message,
            run_id=started.record.id if started else None,
            time=time.time(),
        )
        trial.status, trial.objective, trial.metrics = outcome.status, outcome.objective, outcome.metrics
        trial.reason, trial.message, trial.attempt = outcome.reason, outcome.message, attempt
        self._emit(state, f"trial {trial.index} {outcome.status.value}")

    def _early_stop(self, state: ExperimentState) -> None:
        rule = self.config.early_stopping
        if rule is None or not self.running:
            return
        running_curves = {}
        for index, running in self.running.items():
            outputs = running.started.record.outputs_dir
            if outputs:
                running.curve = self._curve(Path(outputs))
                running_curves[index] = running.curve
        completed = [
            self.curves.get(t.index, []) for t in state.ordered() if t.status is TrialStatus.SUCCEEDED
        ]
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
            self._record_finish(state, running.trial, running.trial.attempt, running.started, policy.Outcome(
                TrialStatus.EARLY_STOPPED, value, {self.config.objective.metric: value}, "EarlyStopped",
                f"stopped at step {step} by medianstop",
            ))

    def _curve(self, outputs_dir: Path) -> list[tuple[int, float]]:
        try:
            results = read_results(outputs_dir)
        except ContractError:
            return []
        return curve_from_history(results.history, self.config.objective.metric)

    def _stop_all(self, state: ExperimentState, message: str) -> None:
        for index, running in list(self.running.items()):
            self.engine.cancel(running.started.handle)
            finish_run(running.started, self.engine.poll(running.started.handle))
            del self.running[index]
            self._record_finish(state, running.trial, running.trial.attempt, running.started, policy.Outcome(
                TrialStatus.KILLED, None, {}, "ExperimentEnded", message))

    def _interrupt(self, state: ExperimentState) -> None:
        """End every running trial but journal nothing for them: a resume runs them again."""
        for running in self.running.values():
            try:
                self.engine.cancel(running.started.handle)
                finish_run(running.started, self.engine.poll(running.started.handle))
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        self.running.clear()
        self.store.update(self.run_id, status=Phase.CANCELLED.value, reason="Interrupted",
                          message="the tuner was stopped; run it again to resume", finished_at=time.time())

    def _finish(self, state: ExperimentState, ending: policy.Verdict) -> None:
        self.journal.append(
            "experiment_finished",
            status=ending.status,
            reason=ending.reason,
            message=ending.message,
            time=time.time(),
        )
        state.status, state.reason, state.message = ending.status, ending.reason, ending.message
        results = tuner_results(state, self.config.objective)
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
        atomic_write_text(self.directory / "trials.json", json.dumps(trial_rows(state), indent=2) + "\n")
        self._emit(state, "finished")
        self.journal.sync()

    def _emit(self, state: ExperimentState, event: str) -> None:
        if self.progress is None:
            return
        trials = state.ordered()
        self.progress(
            Progress(
                total=self.config.budget.max_trials,
                counts=policy.summary_counts(trials),
                best=policy.best_trial(trials, self.config.objective),
                objective=self.config.objective,
                event=event,
            )
        )

    def _result(self, state: ExperimentState) -> TuneResult:
        return TuneResult(self.directory, state, self.config.objective, self.run_id)


def experiment_run_id(name: str, directory: Path) -> str:
    """The run-store id of an experiment: stable for its directory, so a resume finds it."""
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:6]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
    return f"exp-{safe}-{digest}"


def tuner_results(state: ExperimentState, objective: Objective) -> Results:
    """The tuner's own results.yaml: best parameters as outputs, best objective and counts as
    metrics."""
    trials = state.ordered()
    best = policy.best_trial(trials, objective)
    counts = policy.summary_counts(trials)
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
    return Results(metrics=metrics, outputs=outputs, artifacts={"trials": "trials.json"})


def trial_rows(state: ExperimentState) -> list[dict[str, Any]]:
    """Every trial as a plain row: index, status, parameters, objective, metrics, run ids."""
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
        }
        for t in state.ordered()
    ]


def tuner_config(experiment: Any, seed: int | None = None) -> TunerConfig:
    """The loop's view of an experiment spec (``pipetune.experiment.Experiment``)."""
    early = experiment.early_stopping
    return TunerConfig(
        name=experiment.name,
        space=experiment.space,
        objective=experiment.objective,
        budget=policy.Budget(
            max_trials=experiment.max_trial_count,
            parallel=experiment.parallel_trial_count,
            max_failed=experiment.max_failed_trial_count,
            max_retries=experiment.max_trial_retries,
        ),
        algorithm=experiment.algorithm.name or DEFAULT_ALGORITHM,
        algorithm_settings={
            k: v for k, v in experiment.algorithm.settings.items() if k != "random_state"
        },
        early_stopping=early.rule if early is not None else None,
        seed=seed if seed is not None else (experiment.seed or 0),
        trial_timeout=experiment.trial_timeout,
    )
