"""The tuning loop against a scripted engine (no processes): retries, failures, early stopping,
kills, cancellation, budget and goal, and the one rule under all of them: the live state is
always what a replay of the journal gives."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import Results
from pipetune.engines.base import History, Phase, RunRequest, RunStatus
from pipetune.errors import SpecError
from pipetune.store import RunStore
from pipetune.tuner.config import TunerConfig
from pipetune.tuner.early_stopping import MedianStop
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import Journal, replay
from pipetune.tuner.launchers import PreparedTrial
from pipetune.tuner.loop import Tuner
from pipetune.tuner.objective import Objective
from pipetune.tuner.policy import Budget
from pipetune.tuner.session import Session
from pipetune.tuner.space import SearchSpace


@dataclass(frozen=True)
class Behaviour:
    """What one attempt of a trial does: report ``curve`` one value per tick, then end."""

    outcome: str = "succeed"  # succeed | fail | no-metric | invalid | hang
    curve: tuple[float, ...] = (0.5,)


Script = Callable[[int, int, Mapping[str, Any]], Behaviour]


@dataclass
class FakeRun:
    run_id: str
    argv: list[str]
    behaviour: Behaviour
    ticks: int = 0
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.RUNNING, started_at=time.time()))


class FakeEngine:
    """Runs nothing: each run advances one tick per ``tick()`` and ends as its behaviour says."""

    name = "fake"
    local = False

    def __init__(self, script: Script) -> None:
        self.script = script
        self.runs: list[FakeRun] = []
        self.cancelled: list[str] = []
        self.reclaimed: list[str] = []
        #: Raise ``interrupt_with()`` from the n-th submit (1-based), after the run exists.
        self.interrupt_submit: int | None = None
        self.interrupt_with: Callable[[], BaseException] = KeyboardInterrupt

    def submit(self, request: RunRequest) -> FakeRun:
        index, attempt = request.arguments["index"], request.arguments["attempt"]
        assignment = {k: v for k, v in request.arguments.items() if k not in ("index", "attempt")}
        run = FakeRun(request.run_id, ["fake", str(index)], self.script(index, attempt, assignment))
        self.runs.append(run)
        if self.interrupt_submit is not None and len(self.runs) == self.interrupt_submit:
            # The process exists, but the tuner is hit before it has the handle.
            raise self.interrupt_with()
        return run

    def tick(self) -> None:
        for run in self.runs:
            if run.status.phase.final:
                continue
            run.ticks += 1
            behaviour = run.behaviour
            if behaviour.outcome == "hang" or run.ticks < len(behaviour.curve):
                continue
            phase = Phase.FAILED if behaviour.outcome == "fail" else Phase.SUCCEEDED
            run.status = RunStatus(phase, "Scripted", None, started_at=run.status.started_at, finished_at=time.time())

    def poll(self, handle: FakeRun) -> RunStatus:
        return handle.status

    def wait(self, handle: FakeRun, timeout: float | None = None) -> RunStatus:
        return handle.status

    def _history(self, handle: FakeRun) -> list[dict[str, float]]:
        return [{"step": i + 1, "score": v} for i, v in enumerate(handle.behaviour.curve[: handle.ticks])]

    def results(self, handle: FakeRun) -> Results | None:
        if handle.behaviour.outcome in ("fail", "no-metric"):
            return None
        history = self._history(handle)
        return Results(metrics={"score": history[-1]["score"]} if history else {}, history=history)

    def intermediate(self, handle: FakeRun) -> History:
        return self._history(handle)

    def wait_any(self, timeout: float) -> None:
        self.tick()

    def cancel(self, handle: FakeRun) -> None:
        if not handle.status.phase.final:
            self.cancelled.append(handle.run_id)
            handle.status = RunStatus(Phase.CANCELLED, "Cancelled", None, started_at=handle.status.started_at,
                                      finished_at=time.time())

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        self.reclaimed.append(run_id)
        for run in self.runs:
            if run.run_id == run_id:
                self.cancel(run)

    def live(self) -> list[str]:
        """The trial index of every run still going (``fake <index>``)."""
        return [run.argv[1] for run in self.runs if not run.status.phase.final]

    def close(self) -> None:
        pass


class FakeLauncher:
    """Each trial is the fake component with its assignment; ``invalid`` attempts fail in
    ``prepare``, before any run starts."""

    component = ComponentSpec(name="fake", container=ContainerSpec(image="fake"))

    def __init__(self, script: Script) -> None:
        self.script = script
        self.checked = 0

    def check(self, space: Any) -> None:
        self.checked += 1

    def prepare(self, index: int, assignment: Mapping[str, Any], outputs_dir: Path, attempt: int = 0) -> PreparedTrial:
        if self.script(index, attempt, assignment).outcome == "invalid":
            raise SpecError(f"trial {index} attempt {attempt}: scripted invalid")
        return PreparedTrial(self.component, {**assignment, "index": index, "attempt": attempt})


SPACE = SearchSpace.from_katib([
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
    {"name": "k", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b", "c"]}},
])
GRID = SearchSpace.from_katib([
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1", "step": "0.25"}},
    {"name": "k", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
])


def config(**budget: Any) -> TunerConfig:
    early = budget.pop("early", None)
    goal = budget.pop("goal", None)
    algorithm = budget.pop("algorithm", "random")
    resume_policy = budget.pop("resume_policy", "LongRunning")
    return TunerConfig(
        name="scripted", space=GRID if algorithm == "grid" else SPACE, objective=Objective("score", type="maximize", goal=goal),
        budget=Budget(**{"max_trials": 6, **budget}), algorithm=algorithm, early_stopping=early, seed=3,
        resume_policy=resume_policy,
    )


def drive(tuner: Tuner, engine: FakeEngine, check: bool = True, limit: int = 500,
          interrupt_at: int | None = None) -> list[int]:
    """Open and step the tuner until it ends, asserting replay == live after every step.
    Returns the states' trial counts seen (for the interrupt case, up to the interrupt)."""
    tuner.open()
    assert_replays(tuner)
    seen = []
    for turn in range(limit):
        if interrupt_at is not None and turn == interrupt_at:
            tuner._interrupt()  # what KeyboardInterrupt in run() does
            assert_replays(tuner)
            return seen
        result = tuner.step()
        if check:
            assert_replays(tuner)
        seen.append(len(tuner.state.trials))
        if result is not None:
            return seen
        engine.tick()
    raise AssertionError("the experiment never ended")


def assert_replays(tuner: Tuner) -> None:
    assert replay(tuner.journal.records()) == tuner.state


def make(tmp_path: Path, script: Script, name: str = "exp", **budget: Any) -> tuple[Tuner, FakeEngine]:
    engine = FakeEngine(script)
    tuner = Session(config(**budget), FakeLauncher(script)).tuner(engine, RunStore(tmp_path / "state"),
                                                                  tmp_path / name)
    return tuner, engine


def by_value(index: int, attempt: int, assignment: Mapping[str, Any]) -> Behaviour:
    x = float(assignment["x"])
    return Behaviour("succeed", (x / 4, x / 2, x * 0.75, x))


SCRIPTS: dict[str, tuple[Script, dict[str, Any]]] = {
    "all succeed": (by_value, {}),
    "all succeed, 3 at a time": (by_value, {"parallel": 3}),
    "failures retried": (
        lambda i, a, p: Behaviour("fail") if i % 2 and a == 0 else by_value(i, a, p), {"max_retries": 1}),
    "retry invalid in prepare": (
        lambda i, a, p: Behaviour("fail") if i == 1 and a == 0 else (
            Behaviour("invalid") if i == 1 else by_value(i, a, p)), {"max_retries": 2}),
    "no metrics": (lambda i, a, p: Behaviour("no-metric") if i == 2 else by_value(i, a, p), {}),
    "too many failures": (lambda i, a, p: Behaviour("fail"), {"max_failed": 2, "parallel": 2}),
    "goal reached": (by_value, {"goal": 0.3, "parallel": 2}),
    "early stopping": (
        lambda i, a, p: Behaviour("succeed", (0.1,) * 6 if i >= 3 else (0.6, 0.7, 0.8, 0.9)),
        {"early": MedianStop(min_trials_required=2, start_step=2), "max_trials": 8}),
    "grid exhausted": (by_value, {"algorithm": "grid", "max_trials": 50}),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_replay_equals_live_after_every_step(tmp_path: Path, name: str) -> None:
    script, budget = SCRIPTS[name]
    tuner, engine = make(tmp_path, script, **dict(budget))
    drive(tuner, engine)
    assert tuner.state.finished
    assert not tuner.running
    if name == "grid exhausted":
        assert (tuner.state.reason, len(tuner.state.trials)) == ("ExperimentSearchSpaceExhausted", 10)


def test_a_retry_that_fails_in_prepare_counts_as_that_attempt(tmp_path: Path) -> None:
    """The issue's probe: trial 0 fails, its retry is invalid before it starts (no
    trial_started). Live and after replay it is attempt 1, and with one retry allowed it is
    final: a restart does not run it again."""
    script: Script = lambda i, a, p: Behaviour("fail") if a == 0 else Behaviour("invalid")  # noqa: E731
    tuner, engine = make(tmp_path, script, max_trials=1, max_retries=1)
    drive(tuner, engine)
    live = tuner.state.trials[0]
    replayed = replay(tuner.journal.records()).trials[0]
    assert (live.status, live.attempt, live.reason) == (TrialStatus.FAILED, 1, "InvalidTrial")
    assert (replayed.status, replayed.attempt, replayed.reason) == (TrialStatus.FAILED, 1, "InvalidTrial")
    # A restarted tuner on the same journal decides the same: nothing left to retry.
    again, engine2 = make(tmp_path, script, max_trials=1, max_retries=1)
    drive(again, engine2)
    assert engine2.runs == []
    assert again.state.status == "Failed"


def test_retries_run_the_same_parameters_until_one_succeeds(tmp_path: Path) -> None:
    script: Script = lambda i, a, p: Behaviour("fail") if a < 2 else by_value(i, a, p)  # noqa: E731
    tuner, engine = make(tmp_path, script, max_trials=2, max_retries=2)
    drive(tuner, engine)
    assert [t.status for t in tuner.state.ordered()] == [TrialStatus.SUCCEEDED] * 2
    assert [t.attempt for t in tuner.state.ordered()] == [2, 2]
    assert len(engine.runs) == 6


def test_early_stopping_stops_the_trials_below_the_median(tmp_path: Path) -> None:
    script, budget = SCRIPTS["early stopping"]
    tuner, engine = make(tmp_path, script, **dict(budget))
    drive(tuner, engine)
    stopped = [t.index for t in tuner.state.ordered() if t.status is TrialStatus.EARLY_STOPPED]
    assert stopped == [3, 4, 5, 6, 7]
    assert all(tuner.state.trials[i].reason == "EarlyStopped" for i in stopped)
    assert set(engine.cancelled) >= {tuner.state.trials[i].run_id for i in stopped}


def test_the_goal_ends_the_experiment_and_kills_what_runs(tmp_path: Path) -> None:
    def script(i: int, a: int, p: Mapping[str, Any]) -> Behaviour:
        return Behaviour("succeed", (0.9,)) if i == 0 else Behaviour("hang")

    tuner, engine = make(tmp_path, script, goal=0.5, parallel=3)
    drive(tuner, engine)
    assert (tuner.state.status, tuner.state.reason) == ("Succeeded", "ExperimentGoalReached")
    killed = [t for t in tuner.state.ordered() if t.status is TrialStatus.KILLED]
    assert killed and all(t.reason == "ExperimentEnded" for t in killed)


def test_the_budget_ends_it_and_too_many_failures_fail_it(tmp_path: Path) -> None:
    tuner, engine = make(tmp_path, by_value, name="budget", max_trials=4)
    drive(tuner, engine)
    assert (tuner.state.reason, len(tuner.state.trials)) == ("ExperimentMaxTrialsReached", 4)
    failing, engine = make(tmp_path, lambda i, a, p: Behaviour("fail"), name="failing", max_failed=1)
    drive(failing, engine)
    assert (failing.state.status, failing.state.reason) == ("Failed", "ExperimentMaxFailedTrialsReached")
    # Katib's rule: the first failure reaches maxFailedTrialCount 1.
    assert len(failing.state.trials) == 1


def test_a_cancelled_experiment_kills_its_running_trials(tmp_path: Path) -> None:
    tuner, engine = make(tmp_path, lambda i, a, p: Behaviour("hang"), parallel=2)
    tuner.open()
    tuner.step()
    result = tuner.stop("CustomRunCancelled", "cancelled by the user")
    assert_replays(tuner)
    assert (result.state.status, result.state.reason) == ("Failed", "CustomRunCancelled")
    assert [t.status for t in result.trials] == [TrialStatus.KILLED] * 2
    assert len(engine.cancelled) == 2


@pytest.mark.parametrize("at", [0, 1, 3, 7])
def test_a_killed_tuner_resumes_to_the_same_trials(tmp_path: Path, at: int) -> None:
    """Interrupted after ``at`` turns, then resumed on the same journal: the same parameters
    and verdicts as an uninterrupted run, running trials reclaimed and run again."""
    script, budget = SCRIPTS["failures retried"]
    whole, engine = make(tmp_path, script, name="whole", parallel=2, **budget)
    drive(whole, engine)
    cut, engine = make(tmp_path, script, name="cut", parallel=2, **budget)
    drive(cut, engine, interrupt_at=at)
    running = [t.run_id for t in cut.state.ordered() if t.status is TrialStatus.RUNNING]
    resumed, engine = make(tmp_path, script, name="cut", parallel=2, **budget)
    drive(resumed, engine)
    assert engine.reclaimed == running
    assert [(t.assignment, t.status, t.objective, t.attempt) for t in resumed.state.ordered()] == [
        (t.assignment, t.status, t.objective, t.attempt) for t in whole.state.ordered()
    ]


def test_the_session_checks_the_launcher_once(tmp_path: Path) -> None:
    launcher = FakeLauncher(by_value)
    session = Session(config(), launcher)
    session.tuner(FakeEngine(by_value), RunStore(tmp_path / "s"), tmp_path / "e")
    assert launcher.checked == 1


def test_an_old_journal_without_curves_still_resumes(tmp_path: Path) -> None:
    """Journals before curves were recorded: a resumed medianstop experiment goes on."""
    script, budget = SCRIPTS["early stopping"]
    tuner, engine = make(tmp_path, script, **dict(budget))
    drive(tuner, engine, interrupt_at=6)
    path = tmp_path / "exp" / "journal.jsonl"
    records = [r for r in Journal(path).records()]
    path.unlink()
    old = Journal(path)
    for record in records:
        old.append(**{k: v for k, v in record.items() if k != "curve"})
    resumed, engine = make(tmp_path, script, **dict(budget))
    drive(resumed, engine)
    assert resumed.state.finished


@pytest.mark.parametrize(("policy", "trials"), [("Never", 4), ("LongRunning", 6), ("FromVolume", 6)])
def test_a_finished_experiment_run_with_a_raised_budget_follows_its_resume_policy(
    tmp_path: Path, policy: str, trials: int
) -> None:
    first, engine = make(tmp_path, by_value, max_trials=4, resume_policy=policy)
    drive(first, engine)
    assert (first.state.status, len(first.state.trials)) == ("Succeeded", 4)
    again, engine = make(tmp_path, by_value, max_trials=6, resume_policy=policy)
    drive(again, engine)
    assert (again.state.status, len(again.state.trials)) == ("Succeeded", trials)
    assert len(engine.runs) == trials - 4
    assert replay(again.journal.records()) == again.state


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the tuner gets to clean up after it."""


def test_a_signal_while_a_trial_starts_ends_that_trial_and_a_resume_runs_it_once(tmp_path: Path) -> None:
    tuner, engine = make(tmp_path, by_value, max_trials=4, parallel=2)
    engine.interrupt_submit = 2
    with pytest.raises(KeyboardInterrupt):
        tuner.run()
    # The run whose start was interrupted is ended, not left behind (it used to go on running
    # and be recorded Failed, SubmitFailed).
    assert engine.live() == []
    assert engine.reclaimed == [engine.runs[1].run_id]
    assert_replays(tuner)
    resumed, engine2 = make(tmp_path, by_value, max_trials=4, parallel=2)
    drive(resumed, engine2)
    assert resumed.state.status == "Succeeded"
    assert [t.status for t in resumed.state.ordered()] == [TrialStatus.SUCCEEDED] * 4


def test_a_tuner_killed_between_starting_a_trial_and_journaling_it_ends_it_on_resume(tmp_path: Path) -> None:
    tuner, engine = make(tmp_path, by_value, max_trials=3)
    engine.interrupt_submit, engine.interrupt_with = 1, Killed
    tuner.open()
    with pytest.raises(Killed):
        tuner.step()  # no _interrupt: a killed process runs no handler
    leftover = engine.runs[0]
    assert engine.live() == ["0"]
    # The resume finds the run by the journaled intent and ends it before running trial 0 again:
    # trial 0 never runs twice at once.
    resumed, engine2 = make(tmp_path, by_value, max_trials=3)
    engine2.runs.append(leftover)  # the same machine: the leftover is the new engine's to end
    drive(resumed, engine2)
    assert engine2.reclaimed[0] == leftover.run_id
    assert leftover.status.phase is Phase.CANCELLED
    assert resumed.state.status == "Succeeded" and len(resumed.state.trials) == 3
