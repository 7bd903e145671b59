"""``pipetune.tune``: tuning from Python (a notebook), with a function or a component."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, load_component
from pipetune.engines.base import Engine
from pipetune.engines.local import FunctionEngine, LocalEngine
from pipetune.names import path_slug
from pipetune.store import DEFAULT_STATE_DIR, RunStore
from pipetune.tuner import policy
from pipetune.tuner.config import DEFAULT_ALGORITHM, TunerConfig
from pipetune.tuner.display import progress_line
from pipetune.tuner.early_stopping import get_early_stopping
from pipetune.tuner.launchers import ComponentLauncher, FunctionLauncher, TrialLauncher
from pipetune.tuner.loop import Progress, TuneResult
from pipetune.tuner.objective import Objective
from pipetune.tuner.session import Session
from pipetune.tuner.space import ExpressionSpace, SearchSpace, Space


def tune(
    objective: Callable[[dict[str, Any]], Any] | ComponentSpec | str | os.PathLike[str],
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
) -> TuneResult:
    """Tune ``objective`` over ``space`` and return the trials and the best parameters.

    ``objective`` is either a function taking the parameters as a dict and returning a number
    (the ``metric``) or a mapping of metric values, run in this process; or a component
    (a component.yaml path or a loaded spec), each trial a local run with the fixed
    ``arguments`` plus the parameters as inputs.

    ``space`` is the experiment's parameter format (a list of Katib parameters, or a
    ``SearchSpace``) or any hyperopt space expression (``hp.choice``, nested and conditional
    dicts, ``hp.qloguniform``, ...).

    The experiment lives in ``directory`` (default ``<state_dir>/experiments/<name>``); calling
    again with the same directory resumes it. ``early_stopping`` is medianstop's settings
    (``{"min_trials_required": "3", "start_step": "4"}``) to enable it.
    """
    search_space = _space(space)
    launcher: TrialLauncher
    engine: Engine[Any]
    if callable(objective) and not isinstance(objective, (ComponentSpec, str, os.PathLike)):
        label = getattr(objective, "__name__", "objective")
        launcher = FunctionLauncher(label)
        engine = FunctionEngine(objective, metric)
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
        objective=Objective(metric, type="minimize" if minimize else "maximize", goal=goal),
        budget=policy.Budget(max_trials, parallel, max_failed, max_retries),
        algorithm=algorithm,
        algorithm_settings=dict(algorithm_settings or {}),
        early_stopping=get_early_stopping("medianstop", early_stopping) if early_stopping is not None else None,
        seed=seed,
        trial_timeout=trial_timeout,
    )
    callback = progress if callable(progress) else (_print_progress if progress else None)
    session = Session(config, launcher)
    return session.tuner(engine, store, folder, progress=callback).run()


def _space(space: Any) -> Space:
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Sequence) and not isinstance(space, str) and all(isinstance(p, Mapping) for p in space):
        return SearchSpace.from_katib(list(space))
    return ExpressionSpace(space)


def _print_progress(progress: Progress) -> None:
    print(progress_line(progress), flush=True)
