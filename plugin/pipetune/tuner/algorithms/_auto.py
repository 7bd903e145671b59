"""``auto``, the default algorithm: explore with hyperopt, then refine the best with hyperopt's
annealing step under an adaptive step width.

Three phases, chosen from the history alone (so the algorithm stays a pure function of
(space, history, seed), and a batch is asked exactly like sequential trials):

1. trials 0-9: hyperopt's random search (``rand.suggest``);
2. trials 10-39: hyperopt's annealing (``anneal.suggest``, ``avg_best_idx=3``,
   ``shrink_coef=0.1``): samples near one of the best few trials in a shrinking neighbourhood;
3. from trial 40: hyperopt's annealing step centred on the best trial (``avg_best_idx=1``),
   its neighbourhood width set by the 1/5th success rule of evolution strategies, replayed
   over the history: each finished refinement trial that improved on the best so far widens
   it by e^0.4, each that did not narrows it by e^-0.1 (pending and failed trials leave it
   as is). hyperopt's anneal turns the width into a step of the right kind for every
   parameter type (a box for uniform ones, on the log scale for log ones, a bias towards the
   best value for categorical ones) and for conditional expression spaces.

It never suggests a point already in the history (pending, finished or failed) when the
space has a finite number of points, and says ``Exhausted`` when all have been tried.

Measured with bench/tuner_quality.py (bench/README.md has the figures and what else was
tried: tuned TPE, TPE/anneal alternations and switches, islands, niching, multi-scale
annealing, anneal candidates scored by TPE's Parzen estimators).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperopt import anneal, rand

from pipetune.tuner.algorithms._hyperopt import Doc, HyperoptAlgorithm, Plan, Vals, ask
from pipetune.tuner.history import TrialRecord

#: Random trials, then annealing trials up to this index, then the adaptive refinement.
RANDOM_TRIALS = 10
EXPLORE_TRIALS = 40
EXPLORE_AVG_BEST_IDX = 3.0
EXPLORE_SHRINK = 0.1
#: The 1/5th rule: e^WIDEN after a success and e^-NARROW after a failure balance at a
#: success rate of NARROW / (WIDEN + NARROW) = 1/5.
WIDEN = 0.4
NARROW = 0.1
MIN_WIDTH = 1e-4


def refinement_width(history: Sequence[TrialRecord]) -> float:
    """The neighbourhood width (a share of each parameter's range) for the next refinement
    trial, replayed from the history. It starts where the exploration's annealing ended."""
    width = 1.0 / (1.0 + EXPLORE_TRIALS * EXPLORE_SHRINK)
    best = math.inf
    for position, record in enumerate(history):
        if record.loss is None:
            continue
        if position >= EXPLORE_TRIALS:
            width *= math.exp(WIDEN) if record.loss < best else math.exp(-NARROW)
            width = min(1.0, max(MIN_WIDTH, width))
        best = min(best, record.loss)
    return width


class Auto(HyperoptAlgorithm):
    """The default: random, then annealing, then adaptive refinement around the best."""

    name = "auto"
    avoid_finished = True

    def ask_vals(self, plan: Plan, docs: list[Doc], history: Sequence[TrialRecord],
                 new_id: int, seed: int) -> Vals:

        position = len(history)
        finished = any(doc["result"].get("loss") is not None for doc in docs)
        if position < RANDOM_TRIALS or not finished:
            return ask(rand.suggest, plan, docs, new_id, seed)
        if position < EXPLORE_TRIALS:
            return ask(
                anneal.suggest, plan, docs, new_id, seed,
                avg_best_idx=EXPLORE_AVG_BEST_IDX, shrink_coef=EXPLORE_SHRINK,
            )
        # anneal's width is range / (1 + T * shrink_coef) with T the trials seen: solve for
        # the shrink_coef that gives the width wanted.
        width = refinement_width(history)
        shrink = (1.0 / width - 1.0) / max(len(docs), 1)
        return ask(anneal.suggest, plan, docs, new_id, seed, avg_best_idx=1.0, shrink_coef=shrink)
