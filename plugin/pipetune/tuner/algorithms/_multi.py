"""Multi-objective algorithms over Optuna's samplers: ``auto`` on an experiment with several
objectives is Optuna's multi-objective TPE, ``nsga2`` Optuna's NSGA-II (for one objective
too).

Each suggestion is asked of an in-memory study rebuilt from the whole history, one direction
(minimise) per objective: a settled trial with every objective's loss is COMPLETE with those
values, another settled one FAIL, a pending or running one RUNNING. Constraints travel as
Optuna's constraint values on each trial (``create_trial(constraints=...)``: what Optuna 5
stores for a ``constraints_func``, which it deprecates, and what both samplers read), so an
infeasible trial ranks below every feasible one and the samplers search away from it.

The sampler is made anew, seeded with the trial's seed, for each suggestion. What it keeps on
the asked trial (NSGA-II's generation number) is journaled with the suggestion as
``internal["optuna"]`` and put back on the trial when the study is rebuilt, so the same (space,
history, seed) gives the same suggestion in any process: a killed and resumed experiment goes
on exactly as an uninterrupted one.

The multi-objective TPE keeps its study between calls and extends it with the newly settled
trials, as the single-objective one does (``_optuna.StudyCache``): the trials added only for
one suggestion (the pending ones, the asked one) are closed as FAIL afterwards, which TPE
ignores, so the kept study suggests what a rebuilt one would (tested). NSGA-II is rebuilt
every time: it caches each generation's parents in the study, chosen from the trials there
when the generation's first child is asked, which a kept study would fix earlier than a
rebuilt one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import optuna
from optuna.trial import TrialState, create_trial

from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.algorithms._optuna import (
    Sampler,
    _quiet,
    _unsettled_then_settled,
    assignment_of,
    distributions,
    to_optuna,
)
from pipetune.tuner.algorithms._unit import Box, box_for, choose, require_search_space
from pipetune.tuner.history import TrialRecord

#: Random trials before the multi-objective TPE's model is used (as ``auto``'s own start).
STARTUP_TRIALS = 10
#: The key under which a trial's Optuna system attributes are journaled.
INTERNAL_KEY = "optuna"


def losses(record: TrialRecord) -> tuple[float, ...] | None:
    """A settled record's losses: every objective's, or the single one's."""
    if record.losses is not None:
        return record.losses
    return None if record.loss is None else (record.loss,)


class _Study:
    """An in-memory study holding the settled prefix of a history."""

    def __init__(self, box: Box, objectives: int) -> None:
        self.box = box
        self.distributions = distributions(box)
        self.storage = optuna.storages.InMemoryStorage()
        directions = [optuna.study.StudyDirection.MINIMIZE] * objectives
        self.study_id = self.storage.create_new_study(directions, "pipetune")
        #: The settled records in the study, in history order.
        self.settled: list[TrialRecord] = []

    def fits(self, box: Box, history: Sequence[TrialRecord]) -> bool:
        """Whether this study's settled records are a prefix of ``history``'s."""
        if self.box.space != box.space or len(self.settled) > len(history):
            return False
        return all(a is b or a == b for a, b in zip(self.settled, history))


class MultiObjectiveAlgorithm(Algorithm):
    """A sampler asked through a study rebuilt from the history (module docstring)."""

    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {}
    #: Whether the study is kept between calls (module docstring).
    KEEP_STUDY: ClassVar[bool] = False

    def __init__(self, settings: Mapping[str, str] | None = None, objectives: int = 1) -> None:
        super().__init__(settings)
        self.options = _settings.parse(self.settings, self.CHECKS)
        #: How many objectives the study minimises.
        self.objectives = objectives
        self._kept: _Study | None = None
        self._lock = threading.Lock()

    def make_sampler(self, seed: int) -> Sampler:
        raise NotImplementedError

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        space = require_search_space(space, self.name)
        box = box_for(space)
        kept: dict[str, Any] = {}

        def draw(draw_seed: int) -> dict[str, Any]:
            params, attrs = self.ask(box, history, draw_seed)
            kept.clear()
            kept.update(attrs)
            return assignment_of(box, params)

        assignment = choose(box, history, draw, seed, self.deterministic)
        return Suggestion(assignment, {INTERNAL_KEY: dict(kept)} if kept else None)

    def ask(self, box: Box, history: Sequence[TrialRecord], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The sampler's params for the next trial, and the system attributes it set on it;
        thread-safe: the tuner may share an instance."""
        with self._lock, _quiet():
            # A settled trial after an unsettled one can't join a kept study (a COMPLETE trial
            # can't be closed again): such a history, which the tuner never gives, gets its own.
            keep = self.KEEP_STUDY and not _unsettled_then_settled(history)
            study = self._kept if keep and self._kept is not None and self._kept.fits(box, history) else None
            if study is None:
                study = _Study(box, self.objectives)
            position = len(study.settled)
            while position < len(history) and history[position].status.final:
                self._add(study, history[position])
                study.settled.append(history[position])
                position += 1
            temporary = [t for t in (self._add(study, r) for r in history[position:]) if t is not None]
            asking = optuna.Study(study_name="pipetune", storage=study.storage, sampler=self.make_sampler(seed))
            trial = asking.ask(study.distributions)
            params = dict(trial.params)
            attrs = {
                key: value for key, value in study.storage.get_trial(trial._trial_id).system_attrs.items()
                if isinstance(value, (bool, int, float, str))
            }
            if keep:
                asking.tell(trial, state=TrialState.FAIL)
                for trial_id in temporary:
                    study.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                self._kept = study
            return params, attrs

    def _add(self, study: _Study, record: TrialRecord) -> int | None:
        """``record`` as a trial of the study; its id, or None if it is outside the space (a
        resumed experiment whose space changed)."""
        box, dists = study.box, study.distributions
        if box.encode(record.assignment) is None:
            return None
        params = {axis.name: to_optuna(axis, record.assignment[axis.name]) for axis in box.axes}
        attrs = dict(((record.internal or {}).get(INTERNAL_KEY)) or {})
        found = losses(record)
        if found is not None and len(found) == self.objectives and record.status.final:
            constraints = None
            if record.violations is not None:
                constraints = {f"constraint_{i}": v for i, v in enumerate(record.violations)}
            trial = create_trial(params=params, distributions=dists, values=list(found),
                                 system_attrs=attrs, constraints=constraints)
        elif record.status.final:
            trial = create_trial(params=params, distributions=dists, state=TrialState.FAIL, system_attrs=attrs)
        else:
            trial = create_trial(params=params, distributions=dists, state=TrialState.RUNNING, system_attrs=attrs)
        return study.storage.create_new_trial(study.study_id, template_trial=trial)


class MultiObjectiveTPE(MultiObjectiveAlgorithm):
    """``auto`` with several objectives: Optuna's TPE, multivariate, with ``constant_liar`` so
    pending trials push a batch apart, after ``n_startup_trials`` random ones."""

    name = "auto"
    KEEP_STUDY = True
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "n_startup_trials": f"an integer >= 0: random trials before the model is used (default {STARTUP_TRIALS})",
        "n_ei_candidates": "an integer >= 1: candidates scored per suggestion (default 24)",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "n_startup_trials": _settings.integer(0),
        "n_ei_candidates": _settings.integer(1),
    }

    def make_sampler(self, seed: int) -> Sampler:
        options = {"n_startup_trials": STARTUP_TRIALS, **self.options}
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, **options)


class NSGA2(MultiObjectiveAlgorithm):
    """``nsga2``: Optuna's NSGA-II sampler (``NSGAIISampler``), its settings by their Optuna
    names; constrained trials are ranked by Deb's constrained domination."""

    name = "nsga2"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "population_size": "an integer >= 2: trials per generation (default 50)",
        "mutation_prob": "a probability: per-parameter mutation (default 1 / number of parameters)",
        "crossover_prob": "a probability: a child is a crossover of two parents (default 0.9)",
        "swapping_prob": "a probability: a parameter is taken from the other parent (default 0.5)",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "population_size": _settings.integer(2),
        "mutation_prob": _settings.number(0.0, 1.0, low_open=False, high_open=False),
        "crossover_prob": _settings.number(0.0, 1.0, low_open=False, high_open=False),
        "swapping_prob": _settings.number(0.0, 1.0, low_open=False, high_open=False),
    }

    def make_sampler(self, seed: int) -> Sampler:
        return optuna.samplers.NSGAIISampler(seed=seed, **self.options)
