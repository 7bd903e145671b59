"""Optuna's samplers behind the ``Algorithm`` interface: ``multivariate-tpe`` (Katib's name for
Optuna's TPE with a joint model of the parameters), and the model ``auto`` draws from.

Each suggestion is asked of an in-memory Optuna study that holds the history: finished trials
as COMPLETE with their loss, failed ones as FAIL, pending and running ones as RUNNING (with
``constant_liar`` TPE treats them as bad, so a batch spreads out, as Katib's Optuna service
sets it). The sampler is made anew for each suggestion with the trial's seed, so no Optuna
state survives between calls beyond the history and the same (space, history, seed) gives
the same suggestion in any process.

Constraints: a settled trial of a constrained experiment goes in COMPLETE with its value and
its violations as Optuna's constraint values (``create_trial(constraints=...)``, what Optuna 5
stores for a ``constraints_func`` and what its TPE reads), infeasible ones too, so TPE splits
the trials as its constrained version does: the feasible ones by value, then the infeasible
ones by total violation, and learns where the infeasible region is rather than ignoring it.

The study is kept between calls and extended with the newly settled trials rather than
rebuilt (``StudyCache``): the trials a suggestion added only for itself (the pending ones and
the asked one) are closed as FAIL afterwards, which Optuna's TPE ignores, so the kept study
suggests exactly what a fresh one would (tested).

The space translation follows Katib's Optuna service (``pkg/suggestion/v1beta1/optuna``),
with the distributions and steps that service drops: log ranges are searched on the log
scale, steps are kept, normal distributions are searched as uniform over [min, max].
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import operator
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.algorithms._unit import Axis, Box, box_for, choose, fit, require_search_space
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace

Sampler = optuna.samplers.BaseSampler


def distributions(box: Box) -> dict[str, BaseDistribution]:
    """Each searched parameter as an Optuna distribution (module docstring)."""
    return {axis.name: _distribution(axis) for axis in box.axes}


def _stepped_double(axis: Axis) -> bool:
    p = axis.parameter
    return isinstance(p, DoubleParameter) and p.step is not None and not axis.log


def _distribution(axis: Axis) -> BaseDistribution:
    choices = axis.choices
    if choices is not None:
        return CategoricalDistribution(list(choices))
    p = axis.parameter
    assert isinstance(p, (DoubleParameter, IntParameter))
    if isinstance(p, IntParameter):
        step = int(p.step) if p.step is not None else 1
        if axis.log and step == 1:
            return IntDistribution(int(p.min), int(p.max), log=True)
        size = axis.size or 1
        return IntDistribution(int(p.min), int(p.min) + (size - 1) * step, step=step)
    if axis.log:
        # Optuna has no stepped log range: searched on the log scale, then snapped to the step.
        return FloatDistribution(float(p.min), float(p.max), log=True)
    if p.step is not None:
        # The k-th point of the grid min + k * step, searched as k: Optuna's own float grid
        # rounds differently at the top end.
        return IntDistribution(0, (axis.size or 1) - 1)
    return FloatDistribution(float(p.min), float(p.max))


def to_optuna(axis: Axis, value: Any) -> Any:
    """A parameter's value as its Optuna distribution holds it."""
    if _stepped_double(axis):
        p = axis.parameter
        assert isinstance(p, DoubleParameter) and p.step is not None
        return int(round((float(value) - float(p.min)) / float(p.step)))
    return value


def from_optuna(axis: Axis, value: Any) -> Any:
    """Optuna's value as the parameter's, on its grid and of its type."""
    p = axis.parameter
    if _stepped_double(axis):
        return axis.nth(int(value))
    if isinstance(p, (DoubleParameter, IntParameter)):
        return fit(p, value)
    return value


def assignment_of(box: Box, params: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's params as a typed assignment on the space's grid."""
    values = {axis.name: from_optuna(axis, params[axis.name]) for axis in box.axes}
    return {name: values[name] if name in values else box.constants[name] for name in box.space.names}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's experimental-feature warnings and per-trial log lines, silenced for a call."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(level)


class StudyCache:
    """An in-memory study holding the settled prefix of a history (module docstring)."""

    def __init__(self, space: SearchSpace) -> None:
        self.box = box_for(space)
        with _quiet():
            self.distributions = distributions(self.box)
        self.storage = optuna.storages.InMemoryStorage()
        self.name = "pipetune"
        with _quiet():
            self.study_id = self.storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], self.name)
        #: The settled records in the study, in history order.
        self.settled: list[TrialRecord] = []
        #: Whether the study holds a COMPLETE trial (``relative_space``).
        self.completed = False

    def fits(self, space: SearchSpace, history: Sequence[TrialRecord]) -> bool:
        """Whether this cache's settled records are a prefix of ``history``'s."""
        if self.box.space != space or len(self.settled) > len(history):
            return False
        # The tuner hands the same record objects for settled trials: identity first (fast).
        return all(map(operator.is_, self.settled, history)) or all(
            a is b or a == b for a, b in zip(self.settled, history))

    def _add(self, record: TrialRecord) -> int | None:
        """``record`` as a trial of the study; its id, or None if it is outside the space."""
        if self.box.encode(record.assignment) is None:
            return None
        params = {axis.name: to_optuna(axis, record.assignment[axis.name]) for axis in self.box.axes}
        if record.violations is not None and record.losses is not None and record.status.final:
            # A constrained trial with its value, feasible or not: Optuna's constraint values
            # (what a constraints_func would store) make TPE rank it (module docstring).
            constraints = {f"constraint_{i}": v for i, v in enumerate(record.violations)}
            trial = create_trial(params=params, distributions=self.distributions, value=float(record.losses[0]),
                                 constraints=constraints)
            self.completed = True
        elif record.loss is not None:
            trial = create_trial(params=params, distributions=self.distributions, value=float(record.loss))
            self.completed = True
        elif record.status.final:
            trial = create_trial(params=params, distributions=self.distributions, state=TrialState.FAIL)
        else:
            trial = create_trial(params=params, distributions=self.distributions, state=TrialState.RUNNING)
        return self.storage.create_new_trial(self.study_id, template_trial=trial)

    def ask(self, history: Sequence[TrialRecord], sampler: Sampler) -> dict[str, Any]:
        """The sampler's params for the next trial after ``history``."""
        with _quiet():
            position = len(self.settled)
            while position < len(history) and history[position].status.final:
                self._add(history[position])
                self.settled.append(history[position])
                position += 1
            temporary = [t for t in (self._add(r) for r in history[position:]) if t is not None]
            if isinstance(sampler, _KnownSpaceTPE):
                sampler.known_space = self.relative_space()
            study = optuna.Study(study_name=self.name, storage=self.storage, sampler=sampler)
            trial = study.ask(self.distributions)
            params = dict(trial.params)
            study.tell(trial, state=TrialState.FAIL)
            for trial_id in temporary:
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
            return params


    def relative_space(self) -> dict[str, BaseDistribution]:
        """What Optuna's ``IntersectionSearchSpace`` finds in this study, without its pass over
        every trial: the intersection of the COMPLETE (and PRUNED, never made here) trials'
        distributions, sorted by name. Every trial here has the space's distributions, so it is
        those once one trial is complete, and nothing before."""
        if not self.completed:
            return {}
        return copy.deepcopy(dict(sorted(self.distributions.items())))


class _KnownSpaceTPE(optuna.samplers.TPESampler):
    """Optuna's multivariate TPE told its relative search space (``StudyCache.relative_space``)
    instead of intersecting the distributions of every trial for each suggestion, a quarter of
    a model suggestion's cost at 1,000 trials. Given no space (used outside a ``StudyCache``)
    it computes it as Optuna does. The same suggestions either way (tested)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: The study's intersection search space, set before each ask; None: Optuna finds it.
        self.known_space: dict[str, BaseDistribution] | None = None

    def reseed(self, seed: int) -> None:
        """Draw from here on as a new sampler made with ``seed`` would. TPE's randomness is its
        two random states, its own and its random sampler's, and their constructors seed them
        just so; nothing else it keeps changes between suggestions of one kept study. A new
        sampler per suggestion cost a quarter of a model suggestion (two random states seeded
        from the OS, then reseeded)."""
        self._rng.rng.seed(seed)
        self._random_sampler._rng.rng.seed(seed)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        if self.known_space is None:
            return super().infer_relative_search_space(study, trial)
        # What TPESampler does with the intersection (multivariate, no group): singles dropped.
        return {name: d for name, d in self.known_space.items() if not d.single()}


class OptunaAlgorithm(Algorithm):
    """Common ground of the Optuna-backed algorithms: one cached study per space."""

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self._cache: StudyCache | None = None
        #: The sampler of the last suggestion when it can be reseeded (``_KnownSpaceTPE``).
        self._sampler: _KnownSpaceTPE | None = None
        self._lock = threading.Lock()

    def make_sampler(self, seed: int) -> Sampler:
        raise NotImplementedError

    def params(self, space: SearchSpace, history: Sequence[TrialRecord], seed: int) -> dict[str, Any]:
        """Optuna's params for the next trial, as Optuna holds them (``assignment_of`` types
        them); thread-safe: the tuner may share an instance."""
        with self._lock:
            cache = self._cache
            fits = cache is not None and cache.fits(space, history)
            # The kept study's records are settled: only what follows them needs a look.
            mixed = _unsettled_then_settled(history, len(cache.settled) if cache is not None and fits else 0)
            if cache is None or not fits or mixed:
                cache = StudyCache(space)
            if not mixed:
                self._cache = cache
            return cache.ask(history, self._seeded(seed))

    def _seeded(self, seed: int) -> Sampler:
        """A sampler that draws as ``make_sampler(seed)``'s would: the kept one reseeded when it
        can be, else a new one."""
        if self._sampler is not None:
            self._sampler.reseed(seed)
            return self._sampler
        sampler = self.make_sampler(seed)
        self._sampler = sampler if isinstance(sampler, _KnownSpaceTPE) else None
        return sampler

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        space = require_search_space(space, self.name)
        box = box_for(space)
        return Suggestion(choose(
            box, history, lambda s: assignment_of(box, self.params(space, history, s)), seed, self.deterministic
        ))


def _unsettled_then_settled(history: Sequence[TrialRecord], start: int = 0) -> bool:
    # A settled trial after an unsettled one can't join the kept study (a COMPLETE trial
    # can't be closed again): such a history, which the tuner never gives, gets a fresh study.
    # ``start``: where to look from, the records before it being settled.
    seen_unsettled = False
    for record in itertools.islice(history, start, None):
        if not record.status.final:
            seen_unsettled = True
        elif seen_unsettled:
            return True
    return False


def tpe_sampler(seed: int, *, multivariate: bool, n_startup_trials: int = 10,
                n_ei_candidates: int = 24) -> Sampler:
    """Optuna's TPE as Katib's Optuna service makes it (``constant_liar`` for pending trials)."""
    return (_KnownSpaceTPE if multivariate else optuna.samplers.TPESampler)(
        seed=seed,
        multivariate=multivariate,
        constant_liar=True,
        n_startup_trials=n_startup_trials,
        n_ei_candidates=n_ei_candidates,
    )


class MultivariateTPE(OptunaAlgorithm):
    """Katib's ``multivariate-tpe``: Optuna's TPE sampler with ``multivariate=True``."""

    name = "multivariate-tpe"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "n_startup_trials": "an integer >= 0: random trials before the model is used (default 10)",
        "n_ei_candidates": "an integer >= 1: candidates scored per suggestion (default 24)",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "n_startup_trials": _settings.integer(0),
        "n_ei_candidates": _settings.integer(1),
    }

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self.options = _settings.parse(self.settings, self.CHECKS)

    def make_sampler(self, seed: int) -> Sampler:
        return tpe_sampler(seed, multivariate=True, **self.options)

