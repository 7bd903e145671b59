"""``auto``, the default algorithm: a portfolio of a global model and a local search, one
trial each in turn, so that neither's blind spot decides the run.

Trials are given roles by their index alone (so the algorithm stays a pure function of
(space, history, seed), and a batch is asked exactly like sequential trials):

1. trials 0-9: random search (hyperopt's ``rand.suggest``);
2. from trial 10, even trials ask the **model**: Optuna's multivariate TPE (``constant_liar``,
   so pending trials push the suggestion elsewhere) over a Katib parameter list, hyperopt's
   TPE over a hyperopt expression space. It finds the good basin, category or arm, and keeps
   looking elsewhere: it is what avoids deceptive optima (hyperopt's ``distractor``), picks
   categorical branches (a kernel) and plateaus;
3. odd trials **refine**: hyperopt's annealing step around the best trials. Up to trial 40
   it draws near one of the best few (``avg_best_idx=3``) in a neighbourhood that shrinks with
   the trials; after that it steps from the best trial with a neighbourhood width set by the
   1/5th success rule of evolution strategies, replayed over the refinement trials of the
   history: each that improved on the best so far widens it by e^0.4, each that did not
   narrows it by e^-0.1. That is what descends a basin to its bottom (Rosenbrock, Ackley,
   high-dimensional functions), which TPE does slowly. hyperopt's anneal turns the width into
   a step of the right kind for every parameter type (on the log scale for log ones, a bias
   towards the best value for categorical ones) and for conditional expression spaces.

With constraints, the model gets each trial's violations as Optuna's constraint values and
the refinement sees infeasible trials with a penalised loss (``_constraints``), so both move
away from the infeasible region; an infeasible refinement step counts as one that failed.

A finite space is tried point by point first; then, unless the objective is declared
``deterministic``, points are tried again (a noisy objective: the model re-samples the good
ones). Measured with bench/algorithms.py against Optuna and hyperopt over 26 problems
(bench/README.md).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence

from hyperopt import anneal, rand, tpe

from pipetune.tuner.algorithms._hyperopt import Doc, HyperoptAlgorithm, Plan, Vals, _vals_of, ask
from pipetune.tuner.algorithms._optuna import OptunaAlgorithm, Sampler, assignment_of, tpe_sampler
from pipetune.tuner.algorithms._unit import box_for
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import SearchSpace

#: Random trials, then the model and the refinement in turn: of every CYCLE trials, the first
#: MODEL_SLOTS ask the model.
RANDOM_TRIALS = 10
CYCLE = 2
MODEL_SLOTS = 1
#: The refinement's centre: anneal's mean rank among the best trials (1: the best).
REFINE_AVG_BEST_IDX = 1.0
#: The refinement draws near one of the best few until here, then steps from the best.
EXPLORE_TRIALS = 40
EXPLORE_AVG_BEST_IDX = 3.0
EXPLORE_SHRINK = 0.1
#: The 1/5th rule: e^WIDEN after a success and e^-NARROW after a failure balance at a
#: success rate of NARROW / (WIDEN + NARROW) = 1/5.
WIDEN = 0.4
NARROW = 0.1
MIN_WIDTH = 1e-4


def role(position: int) -> str:
    """What trial ``position`` does: ``random``, ``model`` or ``refine``."""
    if position < RANDOM_TRIALS:
        return "random"
    return "model" if (position - RANDOM_TRIALS) % CYCLE < MODEL_SLOTS else "refine"


#: Where the replay of ``refinement_width`` starts: no record seen.
_WIDTH_START: tuple[tuple[TrialRecord, ...], float, float] = ((), 1.0 / (1.0 + EXPLORE_TRIALS * EXPLORE_SHRINK), math.inf)


def refinement_width(
    history: Sequence[TrialRecord], kept: tuple[tuple[TrialRecord, ...], float, float] = _WIDTH_START
) -> float:
    """The neighbourhood width (a share of each parameter's range) for the next refinement
    trial, replayed from the history. It starts where the exploration's annealing ended.
    ``kept``: a replay's state (``width_replay``) to continue from when it fits ``history``."""
    return width_replay(history, kept)[1]


def width_replay(
    history: Sequence[TrialRecord], kept: tuple[tuple[TrialRecord, ...], float, float] = _WIDTH_START
) -> tuple[tuple[tuple[TrialRecord, ...], float, float], float]:
    """The replay of ``history``: its state after the leading finished records (those
    records, the width, the best loss), to continue from next time, and the width after every
    record. Continued from ``kept`` when ``history`` starts with its records (the tuner hands
    the same record objects for settled trials), so a suggestion replays only what is new."""
    records, width, best = kept
    if len(records) > len(history) or not all(map(operator.is_, records, history)):
        records, width, best = _WIDTH_START
    settled = len(records)
    lead, lead_width, lead_best = settled, width, best
    for position in range(settled, len(history)):
        record = history[position]
        if record.loss is not None:
            if position >= EXPLORE_TRIALS and role(position) == "refine":
                width *= math.exp(WIDEN) if record.loss < best else math.exp(-NARROW)
                width = min(1.0, max(MIN_WIDTH, width))
            best = min(best, record.loss)
        if lead == position and record.status.final:  # a pending record may yet change
            lead, lead_width, lead_best = position + 1, width, best
    return ((*records, *history[settled:lead]), lead_width, lead_best), width


class _Model(OptunaAlgorithm):
    """The model trials' Optuna TPE, with its study kept between calls."""

    name = "auto"

    def make_sampler(self, seed: int) -> Sampler:
        return tpe_sampler(seed, multivariate=True, n_startup_trials=RANDOM_TRIALS)


class Auto(HyperoptAlgorithm):
    """The default: random, then a global model and a local refinement in turn."""

    name = "auto"
    avoid_finished = True

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self._model = _Model()
        #: ``refinement_width``'s replay so far (``width_replay``): extended, not redone.
        self._width = _WIDTH_START

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:

        position = len(history)
        finished = any(doc["result"].get("loss") is not None for doc in docs)
        what = role(position)
        if what == "random" or not finished:
            return ask(rand.suggest, plan, docs, new_id, seed)
        if what == "model":
            if isinstance(plan.space, SearchSpace):
                return self._model_vals(plan, plan.space, history, seed)
            return ask(tpe.suggest, plan, docs, new_id, seed, verbose=False)
        if position < EXPLORE_TRIALS:
            return ask(
                anneal.suggest, plan, docs, new_id, seed,
                avg_best_idx=EXPLORE_AVG_BEST_IDX, shrink_coef=EXPLORE_SHRINK,
            )
        # anneal's width is range / (1 + T * shrink_coef) with T the trials seen: solve for
        # the shrink_coef that gives the width wanted.
        # An infeasible refinement step counts as one that did not improve (its penalty).
        self._width, width = width_replay(self.penalty(history), self._width)
        shrink = (1.0 / width - 1.0) / max(len(docs), 1)
        return ask(anneal.suggest, plan, docs, new_id, seed, avg_best_idx=REFINE_AVG_BEST_IDX, shrink_coef=shrink)

    def _model_vals(self, plan: Plan, space: SearchSpace, history: Sequence[TrialRecord], seed: int) -> Vals:
        assignment = assignment_of(box_for(space), self._model.params(space, history, seed))
        vals = _vals_of(plan, TrialRecord.pending(0, assignment))
        assert vals is not None, "Optuna suggested a point outside the space"
        return vals
