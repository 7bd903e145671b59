"""``pipetune tune``: an experiment's trials suggested, run and recorded, with progress and a
final table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from pipetune.cli._common import short_path, value_text
from pipetune.cli._progress import progress_display
from pipetune.cli._signals import Terminated, sigterm_interrupts
from pipetune.engines.base import Phase
from pipetune.engines.select import open_engine
from pipetune.errors import PipetuneError, RunError, UsageError
from pipetune.experiment import Experiment, LocalOverride, load_experiment
from pipetune.kinds import EXPERIMENT_LABEL
from pipetune.store import RunStore
from pipetune.tuner.config import DEFAULT_GIVE_UP_AFTER
from pipetune.tuner.display import failure_notes, trials_table
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import JOURNAL_FILE, Journal, TrialState
from pipetune.tuner.lock import ExperimentLock
from pipetune.tuner.loop import trial_rows
from pipetune.tuner.pareto import front_rows
from pipetune.tuner.session import Session


def tune(args: argparse.Namespace) -> int:
    """Run (or resume) the experiment; 0 when it succeeded, 1 otherwise, 130 when interrupted."""
    experiment = load_experiment(args.experiment)
    if args.local_command is not None:
        experiment = _with_local_command(experiment, args.local_command)
    namespace = experiment.namespace or args.namespace or "default"
    give_up_after = getattr(args, "give_up_after", DEFAULT_GIVE_UP_AFTER)
    if give_up_after is not None and give_up_after < 0:
        raise UsageError(f"--give-up-after: expected 0 (never) or a number of trials, got {give_up_after}")
    # Checked before the engine connects to anything.
    session = Session.for_experiment(experiment, local=args.engine == "local", seed=args.seed, namespace=namespace,
                                     give_up_after=give_up_after or None)
    store = RunStore(args.state_dir)
    directory = Path(args.dir) if args.dir else store.state_dir / "experiments" / experiment.name
    # One writer per experiment directory, from before --repair or --fresh touch its journal
    # to the end of the run; a second tuner is refused here (exit 2), before anything runs.
    with ExperimentLock(directory):
        if args.repair:
            _repair(directory / JOURNAL_FILE)
        return _run(args, experiment, session, store, directory, namespace)


def _run(args: argparse.Namespace, experiment: Experiment, session: Session, store: RunStore, directory: Path,
         namespace: str) -> int:
    config = session.config
    display = progress_display(args.quiet, short_path(str(directory)))
    failure_shown = [False]

    def say(text: str) -> None:
        if not args.quiet:
            display.write(text)

    def show(progress: Any) -> None:
        if args.quiet:
            return
        trial = progress.trial
        if trial is not None and trial.status is TrialStatus.FAILED and not failure_shown[0]:
            # The first failure in full, once: it usually says what every trial will hit.
            failure_shown[0] = True
            say(first_failure(trial))
        display(progress)

    engine = open_engine(args.engine, namespace, {EXPERIMENT_LABEL: experiment.name}, args.context,
                         None if args.quiet else sys.stderr)
    tuner = session.tuner(engine, store, directory, progress=show, checkpoints=args.checkpoints, notify=say,
                          resume="never" if getattr(args, "fresh", False) else "auto")
    if not args.quiet:
        print(
            f"experiment {experiment.name}: {config.budget.max_trials} trials, "
            f"{config.budget.parallel} at a time, algorithm {config.algorithm}, seed {config.seed}; "
            f"directory {short_path(str(directory))}",
            file=sys.stderr,
        )
    try:
        with sigterm_interrupts():
            result = tuner.run()
    except KeyboardInterrupt as exc:
        display.close()
        print(
            f"pipetune: interrupted; every running trial was stopped. Run the same command to resume "
            f"from {short_path(str(directory))}",
            file=sys.stderr,
        )
        return Terminated.exit_code if isinstance(exc, Terminated) else 130
    except PipetuneError as exc:
        if exc.exit_code == 1:
            _record_failure(store, tuner.run_id, str(exc))
        raise
    except OSError as exc:
        # A file of the experiment's (results.yaml, trials.json) that could not be written.
        error = RunError(f"{exc.filename or directory}: {exc.strerror or exc}")
        _record_failure(store, tuner.run_id, str(error))
        raise error from None
    finally:
        engine.close()
    display.close()
    best = result.best
    if getattr(args, "json", False):
        print(json.dumps(_result_json(experiment.name, result, directory)))
        return 0 if result.state.status == "Succeeded" else 1
    print(trials_table(result.trials, result.objective, best))
    for note in failure_notes(result.trials):
        print(note)
    print()
    print(f"experiment {experiment.name} {result.state.status} ({result.state.reason}): {result.state.message}")
    if result.objective.multi:
        front = result.pareto_front
        print(f"Pareto front: {len(front)} trial{'s' if len(front) != 1 else ''} "
              f"({', '.join(str(t.index) for t in front) or 'none feasible'})")
    elif best is not None:
        print(f"best {result.objective.metric} {best.objective:.6g} (trial {best.index}, run {best.run_id})")
        for name, value in best.assignment.items():
            print(f"  {name}: {value_text(value)}")
    print(f"results  {short_path(str(directory / 'results.yaml'))}")
    return 0 if result.state.status == "Succeeded" else 1


def first_failure(trial: TrialState) -> str:
    """The first failed trial, for the user: its reason and message, and what it left on
    stderr (a traceback), indented."""
    head = f"trial {trial.index} failed: {trial.reason}: {trial.message}" if trial.message else (
        f"trial {trial.index} failed: {trial.reason}")
    if not trial.error:
        return head
    body = "\n".join("  " + line for line in trial.error.splitlines())
    return f"{head}\n{body}\n(shown for the first failed trial only; every trial's is in its run's logs)"


def _result_json(name: str, result: Any, directory: Path) -> dict[str, Any]:
    """``tune --json``: the experiment's end, its best trial and every trial, as one document."""
    best = result.best
    return {
        "experiment": name,
        "status": result.state.status,
        "reason": result.state.reason,
        "message": result.state.message,
        "directory": str(directory),
        "run_id": result.experiment_run_id,
        "objective": {"metric": result.objective.metric, "type": result.objective.type},
        "best": None if best is None else {"trial": best.index, "objective": best.objective,
                                           "parameters": best.assignment, "run_id": best.run_id},
        "trials": trial_rows(result.state, result.objective),
        **_front_json(result),
    }


def _front_json(result: Any) -> dict[str, Any]:
    """A multi-objective experiment's objectives and Pareto front; nothing for one objective."""
    objective = result.objective
    if not objective.multi:
        return {}
    return {
        "objectives": [{"metric": o.metric, "type": o.type} for o in objective.objectives],
        "pareto_front": front_rows(result.trials, objective),
    }


def _repair(journal: Path) -> None:
    """``--repair``: the journal cut before its first bad line, the original kept beside it."""
    repaired = Journal(journal).repair()
    if repaired is None:
        print(f"pipetune: {journal}: no bad line; nothing to repair", file=sys.stderr)
    else:
        print(f"pipetune: repaired {repaired.describe()}", file=sys.stderr)


def _record_failure(store: RunStore, run_id: str, message: str) -> None:
    """The experiment's run says why the tuner stopped, rather than Running (or Interrupted):
    best effort, with a short wait, since the store may be what failed."""
    if not store.path.exists():
        return
    quick = RunStore(store.state_dir, timeout=min(store.timeout, 2.0))
    try:
        quick.update(run_id, status=Phase.FAILED.value, reason="TunerFailed",
                     message=f"{message}; run the same command to resume", finished_at=time.time())
    except PipetuneError:
        pass
    finally:
        quick.close()


def _with_local_command(experiment: Experiment, text: str) -> Experiment:
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--local-command: {exc}") from None
    if not argv:
        raise UsageError("--local-command: expected a command line, got nothing")
    env = dict(experiment.local.env) if experiment.local else {}
    return dataclasses.replace(experiment, local=LocalOverride(tuple(argv), (), env))
