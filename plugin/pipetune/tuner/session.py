"""The one wiring of a tuner: every front end (``pipetune tune``, ``pipetune.tune``, the ``tune``
catalog component, the controller) builds its tuner here, so each gets the same checks and the
same loop.

A ``Session`` is a checked pair of what to search (``TunerConfig``) and how a trial is made
(a launcher): building one prepares a trial of the search space's first point, so a template
that can't run is one ``SpecError`` before any engine is opened or trial started. Its
``tuner`` then binds the session to an engine, a run store and an experiment directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetune.engines.base import Engine
from pipetune.experiment import Experiment
from pipetune.store import RunStore
from pipetune.tuner.config import TunerConfig, tuner_config
from pipetune.tuner.journal import Journal, MemoryJournal
from pipetune.tuner.launchers import ExperimentLauncher, TrialLauncher
from pipetune.tuner.loop import Progress, Tuner


class Session:
    """What to search and how to make a trial, checked; see the module docstring."""

    def __init__(self, config: TunerConfig, launcher: TrialLauncher) -> None:
        launcher.check(config.space)
        self.config = config
        self.launcher = launcher

    @classmethod
    def for_experiment(
        cls,
        experiment: Experiment,
        *,
        local: bool,
        seed: int | None = None,
        namespace: str | None = None,
        taskruns: bool = False,
        give_up_after: int | None = None,
    ) -> Session:
        """The session of an experiment spec: its trials run on this machine (``local``) or
        as cluster resources in ``namespace`` (the experiment's own namespace wins), component
        trials as Tekton TaskRuns with ``taskruns``; ``seed`` overrides the experiment's;
        ``give_up_after`` ends the experiment when that many first trials all end without the
        objective (``policy.give_up``)."""
        launcher = ExperimentLauncher(experiment, local=local, namespace=namespace, taskruns=taskruns)
        config = tuner_config(experiment, seed=seed)
        if give_up_after is not None:
            config = replace(config, budget=replace(config.budget, give_up_after=give_up_after))
        return cls(config, launcher)

    def tuner(
        self,
        engine: Engine[Any],
        store: RunStore,
        directory: str | Path,
        *,
        progress: Callable[[Progress], None] | None = None,
        checkpoints: str | None = None,
        journal: Journal | MemoryJournal | None = None,
        poll_interval: float = 0.25,
        notify: Callable[[str], None] | None = None,
        resume: str = "auto",
        fresh_hint: str = "--fresh",
    ) -> Tuner:
        """A tuner of this session on ``engine``, recording runs in ``store`` and the experiment
        in ``directory`` (its journal there unless ``journal`` is given). ``notify`` hears the
        one-line notes of a rerun (resuming, finished, a new budget); ``resume`` is what a
        directory that already holds the experiment does (``loop.RESUME_MODES``), and
        ``fresh_hint`` how this front end's user starts over, for its messages."""
        return Tuner(
            self.config,
            self.launcher,
            engine,
            store,
            directory,
            progress=progress,
            poll_interval=poll_interval,
            checkpoints=checkpoints,
            journal=journal,
            notify=notify,
            resume=resume,
            fresh_hint=fresh_hint,
        )
