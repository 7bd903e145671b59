"""Constraints for the single-objective algorithms whose models read a loss and nothing else
(hyperopt's TPE and annealing, ``auto``'s refinement, CMA-ES, scikit-optimize).

The tuner hands an infeasible trial to every algorithm with ``loss=None`` and its objective
value and violations kept (``TrialRecord.infeasible``), so an algorithm that does not know
about constraints takes it as failed: Optuna, CMA-ES and skopt leave failed trials out, so
their models never see the infeasible region and keep sampling it; hyperopt gives them an
infinite loss, which ranks them last but all alike. The Optuna-based algorithms give the
violations to Optuna (``_optuna.StudyCache``), whose TPE splits the trials as c-TPE does
(feasible ones by value, then infeasible ones by total violation). The others get the
history through :class:`Penalty`: each infeasible trial gets the loss

    worst + spread * t / (1 + t)

with ``worst`` and ``spread`` the highest loss and the range of the feasible trials' losses
(0 and 1 when there are none; spread 1 when they are equal) and ``t`` the trial's total
violation (``TrialRecord.total_violation``; an unreported metric, t infinite, gives the
limit). Why this is sound:

- It ranks every infeasible trial after every feasible one and the infeasible ones among
  themselves by total violation, which is the order c-TPE (Optuna) and Deb's feasibility
  rules use. hyperopt's TPE uses the losses only through that order (the best
  ``gamma * sqrt(n)`` trials form the "good" density l(x), the rest the "bad" g(x)), so with
  enough feasible trials every infeasible one lands in g(x) and TPE's l(x) / g(x) scores the
  infeasible region low; with too few the least violating ones fill l(x), which pulls the
  search towards feasibility. (hyperopt's infinite loss for a failed trial already put them
  in g(x): for TPE the penalty adds the order by violation, which matters only while the
  feasible trials are that few.) Annealing picks its centre by rank and CMA-ES weights a
  generation by rank, so for them too only the order matters, whatever ``worst`` and
  ``spread`` are; CMA-ES and ``auto``'s step-size rule now count an infeasible trial as a
  bad step instead of not at all.
- A regression model (skopt's GP or trees) sees the values themselves: the penalty stays
  within one feasible range above the worst feasible trial, so it never dwarfs the objective
  (no big constant, as a fixed penalty would be) and still slopes down towards feasibility.
- It is a pure function of the history, so suggestions stay deterministic for a seed and a
  resumed run sees what an uninterrupted one did. It never reaches the best trial: the tuner
  picks that from the trials themselves (``policy.best_trial``), and these losses exist only
  inside an algorithm's call.

An unconstrained history, or one with no infeasible trial, is returned as it is.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Sequence
from dataclasses import replace

from pipetune.tuner.history import TrialRecord


def _scale(worst: float | None, best: float | None) -> tuple[float, float]:
    """``(worst, spread)`` from the feasible trials' highest and lowest losses."""
    if worst is None or best is None:
        return 0.0, 1.0
    return worst, (worst - best) if worst > best else 1.0


def penalised_loss(record: TrialRecord, worst: float, spread: float) -> float:
    """An infeasible trial's loss: above ``worst`` by a share of ``spread`` that grows with
    its total violation (module docstring)."""
    t = record.total_violation
    share = 1.0 if math.isinf(t) else t / (1.0 + t)
    # Strictly above the worst feasible loss even when the violation is tiny.
    return max(worst + spread * share, math.nextafter(worst, math.inf))


class Penalty:
    """The history with every infeasible trial given its penalised loss (module docstring),
    the history itself when no trial is infeasible. A pure function of the history, kept
    incremental: the tuner hands the same record objects for settled trials, so the leading
    settled records, the scale over them and their penalised records are kept from the last
    call and only what is new is looked at. Penalised records are made again only when the
    scale changes (a feasible trial worse than all others, or a new best: a few times in a
    run). Thread-safe: the tuner may share an algorithm."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._inputs: list[TrialRecord] = []
        self._outputs: list[TrialRecord] = []
        self._made_with: tuple[float, float] | None = None
        self._worst: float | None = None
        self._best: float | None = None
        self._infeasible = False

    def __call__(self, history: Sequence[TrialRecord]) -> Sequence[TrialRecord]:
        with self._lock:
            if len(self._inputs) > len(history) or not all(map(operator.is_, self._inputs, history)):
                self._reset()  # another history (or a new algorithm's first): start again
            position = len(self._inputs)
            while position < len(history) and history[position].status.final:
                self._see(history[position])
                self._inputs.append(history[position])
                position += 1
            tail = history[position:]
            worst, best, infeasible = self._worst, self._best, self._infeasible
            for record in tail:
                if record.loss is not None:
                    worst = record.loss if worst is None else max(worst, record.loss)
                    best = record.loss if best is None else min(best, record.loss)
                infeasible = infeasible or record.infeasible
            if not infeasible:
                return history
            made_with = _scale(worst, best)
            if made_with != self._made_with:
                self._outputs, self._made_with = [], made_with
            for record in self._inputs[len(self._outputs):]:
                self._outputs.append(self._penalised(record, made_with))
            return [*self._outputs, *(self._penalised(r, made_with) for r in tail)]

    def _see(self, record: TrialRecord) -> None:
        if record.loss is not None:
            self._worst = record.loss if self._worst is None else max(self._worst, record.loss)
            self._best = record.loss if self._best is None else min(self._best, record.loss)
        self._infeasible = self._infeasible or record.infeasible

    @staticmethod
    def _penalised(record: TrialRecord, made_with: tuple[float, float]) -> TrialRecord:
        return replace(record, loss=penalised_loss(record, *made_with)) if record.infeasible else record
