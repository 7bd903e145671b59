"""``pipetune.tune``: tuning from Python (a notebook), with a function or a component."""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, load_component
from pipetune.engines.base import Engine
from pipetune.engines.local import FunctionEngine, LocalEngine
from pipetune.errors import SpecError, UsageError
from pipetune.names import path_slug
from pipetune.store import DEFAULT_STATE_DIR, RunStore
from pipetune.tuner import policy
from pipetune.tuner.config import DEFAULT_ALGORITHM, DEFAULT_GIVE_UP_AFTER, TunerConfig
from pipetune.tuner.display import progress_line
from pipetune.tuner.early_stopping import get_early_stopping
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.launchers import ComponentLauncher, FunctionLauncher, TrialLauncher
from pipetune.tuner.loop import RESUME_MODES, Progress, TuneResult
from pipetune.tuner.objective import Constraint, Objective
from pipetune.tuner.session import Session
from pipetune.tuner.space import ExpressionSpace, SearchSpace, Space

ISOLATIONS = ("thread", "process")


class TuneArgumentError(UsageError, ValueError, TypeError):
    """An argument of ``pipetune.tune`` that can't be used: the message names it."""


def tune(
    objective: Callable[..., Any] | ComponentSpec | str | os.PathLike[str],
    space: Any,
    *,
    metric: str = "objective",
    minimize: bool = False,
    goal: float | None = None,
    max_trials: int = 20,
    parallel: int = 1,
    algorithm: str = DEFAULT_ALGORITHM,
    algorithm_settings: Mapping[str, str] | None = None,
    seed: int = 0,
    arguments: Mapping[str, Any] | None = None,
    name: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
    max_failed: int | None = None,
    max_retries: int = 0,
    trial_timeout: float | None = None,
    early_stopping: Mapping[str, str] | None = None,
    progress: bool | Callable[[Progress], None] = False,
    resume: str = "auto",
    catch: type[BaseException] | tuple[type[BaseException], ...] = (),
    isolation: str = "thread",
    give_up_after: int | None = DEFAULT_GIVE_UP_AFTER,
    objectives: Sequence[Mapping[str, Any]] | None = None,
    constraints: Mapping[str, Mapping[str, float]] | None = None,
) -> TuneResult:
    """Tune ``objective`` over ``space`` and return the trials and the best parameters.

    ``objective`` is either a function or a component (a component.yaml path or a loaded
    spec), each trial a local run with the fixed ``arguments`` plus the parameters as inputs.
    A function takes the parameters as a dict, and optionally a second argument, the trial
    (``trial.report(step, **metrics)``, ``trial.should_stop()``, ``trial.index``,
    ``trial.parameters``, ``trial.checkpoint_dir``); it returns a number (the ``metric``), a
    mapping of metric values, or nothing when it reported them. ``pipetune.report`` inside it
    reports to its trial. It runs in this process: on the calling thread when trials run one at
    a time with no ``trial_timeout`` and no ``early_stopping`` (a Ctrl-C then interrupts the
    tuner as it would otherwise), else in a thread; or with ``isolation="process"`` in a worker
    process per trial (parallel past the GIL; a timeout ends it).

    ``space`` is the experiment's parameter format (a list of Katib parameters, or a
    ``SearchSpace``) or any hyperopt space expression (``hp.choice``, nested and conditional
    dicts, ``hp.qloguniform``, ...).

    The experiment lives in ``directory`` (default ``<state_dir>/experiments/<name>``).
    ``resume``: ``"auto"`` resumes the experiment the directory holds when it is this one (a
    changed budget is taken up) and raises ``ExperimentChanged`` (a ``ValueError``) naming
    what differs otherwise; ``"never"`` keeps the old one as an earlier attempt and starts
    again; ``"must"`` raises unless there is one to resume. ``early_stopping`` is
    medianstop's settings (``{"min_trials_required": "3", "start_step": "4"}``) to enable it.

    An exception in the function fails its trial and, once the trial is recorded, is raised
    (as Optuna does) unless it is an instance of ``catch``. ``give_up_after``: the experiment
    ends when its first that many trials all failed or never reported ``metric`` (None: never).
    Bad arguments raise ``TuneArgumentError`` (a ``ValueError`` and ``TypeError``) naming them.

    Several objectives, in place of ``metric``, ``minimize`` and ``goal``: ``objectives`` is a
    list of ``{"metric": name, "type": "minimize" | "maximize", "goal": value}`` (goal
    optional), the function returns a mapping with each metric, and the result's
    ``pareto_front`` holds the trials no other feasible trial dominates (``algorithm`` auto is
    then Optuna's multi-objective TPE; ``"nsga2"`` is NSGA-II). ``constraints`` maps a metric
    to its bounds, ``{"latency": {"max": 50}}`` (``min``, ``max`` or both, inclusive): a trial
    outside them is infeasible and never the best nor on the front.
    """
    _check_arguments(locals())
    goals = _objective(metric, minimize, goal, objectives, constraints)
    catching = catch if isinstance(catch, tuple) else (catch,)
    search_space = _space(space)
    launcher: TrialLauncher
    engine: Engine[Any]
    function_engine: FunctionEngine | None = None
    if callable(objective) and not isinstance(objective, (ComponentSpec, str, os.PathLike)):
        label = getattr(objective, "__name__", "objective")
        launcher = FunctionLauncher(label, objective)
        # One trial at a time, nothing to stop it from outside (a timeout, the loop's early
        # stopping): the function runs on this thread, with no hand-off to a worker and back.
        inline = parallel == 1 and trial_timeout is None and early_stopping is None
        engine = function_engine = FunctionEngine(objective, goals.metric, isolation=isolation, inline=inline)
    else:
        component = objective if isinstance(objective, ComponentSpec) else load_component(objective)
        label = component.name
        launcher = ComponentLauncher(component, arguments)
        engine = LocalEngine()
    name = name or label
    store = RunStore(state_dir)
    folder = Path(directory) if directory else store.state_dir / "experiments" / path_slug(name)
    config = TunerConfig(
        name=name,
        space=search_space,
        objective=goals,
        budget=policy.Budget(max_trials, parallel, max_failed, max_retries, give_up_after=give_up_after or None),
        algorithm=algorithm,
        algorithm_settings=dict(algorithm_settings or {}),
        early_stopping=get_early_stopping("medianstop", early_stopping) if early_stopping is not None else None,
        seed=seed,
        trial_timeout=trial_timeout,
    )
    shown = progress if callable(progress) else (_print_progress if progress else None)

    def watch(update: Progress) -> None:
        # The journal's results are flushed to disk before the user is told of one (a line,
        # a raised error); when neither happens they are grouped (``Journal.sync_if_due``).
        if shown is not None:
            tuner.journal.sync()
            shown(update)
        trial = update.trial
        if function_engine is None or trial is None or trial.status is not TrialStatus.FAILED or not trial.run_id:
            return
        error = function_engine.errors.pop(trial.run_id, None)
        if error is not None and not isinstance(error, catching):
            # Recorded first (the journal has the trial, on disk), then raised, as Optuna does.
            tuner.journal.sync()
            raise error

    session = Session(config, launcher)
    tuner = session.tuner(engine, store, folder, progress=watch, notify=_note, resume=resume,
                          fresh_hint="resume='never'")
    tuner.sync_before_progress = False  # watch syncs before it tells
    if function_engine is not None:
        function_engine.stop_rule = tuner.should_stop
    result = tuner.run()
    if result.state.status == "Failed":
        # Said, not only returned: a notebook's user may not look at the status.
        _note(f"experiment {name} {result.state.status} ({result.state.reason}): {result.state.message}")
    return result


def _check_arguments(given: Mapping[str, Any]) -> None:
    """One clear error naming the first argument that can't be used."""

    def refuse(name: str, expected: str) -> None:
        raise TuneArgumentError(f"pipetune.tune: {name}: expected {expected}, got {given[name]!r}")

    def integer(name: str, minimum: int, optional: bool = False) -> None:
        value = given[name]
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            refuse(name, f"an integer of {minimum} or more" + (" or None" if optional else ""))

    def text(name: str, optional: bool = False) -> None:
        value = given[name]
        if optional and value is None:
            return
        if not isinstance(value, str) or not value.strip():
            refuse(name, "a non-empty string" + (" or None" if optional else ""))

    objective = given["objective"]
    if not (callable(objective) or isinstance(objective, (ComponentSpec, str, os.PathLike))):
        refuse("objective", "a function, a component.yaml path or a ComponentSpec")
    text("metric")
    if not isinstance(given["minimize"], bool):
        refuse("minimize", "True or False")
    goal = given["goal"]
    if goal is not None and (isinstance(goal, bool) or not isinstance(goal, numbers.Real) or not math.isfinite(goal)):
        refuse("goal", "a finite number or None")
    integer("max_trials", 1)
    integer("parallel", 1)
    if given["parallel"] > given["max_trials"]:
        refuse("parallel", f"at most max_trials ({given['max_trials']})")
    text("algorithm")
    for key in ("algorithm_settings", "early_stopping", "arguments"):
        value = given[key]
        if value is not None and not isinstance(value, Mapping):
            refuse(key, "a mapping or None")
    for key in ("algorithm_settings", "early_stopping"):
        for setting in (given[key] or {}):
            if not isinstance(setting, str):
                refuse(key, "a mapping of setting names to values")
    integer("seed", 0)
    text("name", optional=True)
    for key in ("directory", "state_dir"):
        value = given[key]
        if value is not None and not isinstance(value, (str, os.PathLike)):
            refuse(key, "a path" + (" or None" if key == "directory" else ""))
        if isinstance(value, str) and not value.strip():
            refuse(key, "a path" + (" or None" if key == "directory" else ""))
    integer("max_failed", 0, optional=True)
    integer("max_retries", 0)
    timeout = given["trial_timeout"]
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not math.isfinite(timeout) or timeout <= 0):
        refuse("trial_timeout", "a number of seconds above 0 or None")
    if not (isinstance(given["progress"], bool) or callable(given["progress"])):
        refuse("progress", "True, False or a function of a Progress")
    if given["resume"] not in RESUME_MODES:
        refuse("resume", " or ".join(repr(mode) for mode in RESUME_MODES))
    catch = given["catch"]
    classes = catch if isinstance(catch, tuple) else (catch,)
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        refuse("catch", "an exception class or a tuple of them")
    if given["isolation"] not in ISOLATIONS:
        refuse("isolation", " or ".join(repr(mode) for mode in ISOLATIONS))
    if given["isolation"] == "process" and not callable(objective):
        refuse("isolation", "'thread' for a component (its trials are processes already)")
    integer("give_up_after", 0, optional=True)


def _objective(
    metric: str,
    minimize: bool,
    goal: float | None,
    objectives: Sequence[Mapping[str, Any]] | None,
    constraints: Mapping[str, Mapping[str, float]] | None,
) -> Objective:
    """The experiment's objective from ``tune``'s arguments (its docstring), each checked."""

    def refuse(name: str, expected: str, got: Any) -> TuneArgumentError:
        return TuneArgumentError(f"pipetune.tune: {name}: expected {expected}, got {got!r}")

    rules = []
    if constraints is not None:
        if not isinstance(constraints, Mapping):
            raise refuse("constraints", "a mapping of metric names to {'min': x, 'max': y}", constraints)
        for name, bounds in constraints.items():
            where = f"constraints[{name!r}]"
            if not isinstance(bounds, Mapping) or not bounds or set(bounds) - {"min", "max"}:
                raise refuse(where, "a mapping with 'min', 'max' or both", bounds)
            for key, value in bounds.items():
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                    raise refuse(f"{where}[{key!r}]", "a finite number", value)
            try:
                rules.append(Constraint(name, bounds.get("min"), bounds.get("max")))
            except SpecError as exc:
                raise TuneArgumentError(f"pipetune.tune: {where}: {exc}") from None
    if objectives is None:
        return Objective(metric, type="minimize" if minimize else "maximize", goal=goal, constraints=tuple(rules))
    if metric != "objective" or minimize or goal is not None:
        raise TuneArgumentError(
            "pipetune.tune: objectives: expected either metric/minimize/goal (one objective) or "
            "objectives (a list), not both"
        )
    if isinstance(objectives, (str, Mapping)) or not isinstance(objectives, Sequence) or not objectives:
        raise refuse("objectives", "a non-empty list of {'metric': name, 'type': 'minimize' or 'maximize'}",
                     objectives)
    found: list[Objective] = []
    for i, item in enumerate(objectives):
        where = f"objectives[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"metric", "type", "goal"} or "metric" not in item:
            raise refuse(where, "a mapping with 'metric', 'type' and optionally 'goal'", item)
        target = item.get("goal")
        if target is not None and (isinstance(target, bool) or not isinstance(target, numbers.Real)
                                  or not math.isfinite(target)):
            raise refuse(f"{where}['goal']", "a finite number or None", target)
        try:
            goal_value = None if target is None else float(target)
            found.append(Objective(item["metric"], type=item.get("type", "maximize"), goal=goal_value))
        except SpecError as exc:
            raise TuneArgumentError(f"pipetune.tune: {where}: {str(exc).split(': ', 1)[-1]}") from None
    try:
        return replace(found[0], others=tuple(found[1:]), constraints=tuple(rules))
    except SpecError as exc:
        raise TuneArgumentError(f"pipetune.tune: objectives: {str(exc).split(': ', 1)[-1]}") from None


def _space(space: Any) -> Space:
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Sequence) and not isinstance(space, str) and all(isinstance(p, Mapping) for p in space):
        return SearchSpace.from_katib(list(space))
    return ExpressionSpace(space)


def _print_progress(progress: Progress) -> None:
    print(progress_line(progress), flush=True)


def _note(text: str) -> None:
    print(f"pipetune: {text}", file=sys.stderr, flush=True)
