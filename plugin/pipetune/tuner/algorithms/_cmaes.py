"""Katib's ``cmaes``: CMA-ES (the ``cmaes`` library, which Optuna's ``CmaEsSampler`` uses) over
the unit cube of the space's numeric parameters, with Katib's settings ``restart_strategy``
(``none``, ``ipop``, ``bipop``) and ``sigma``.

The search distribution is a function of the history: the finished trials, in order, are told
to the optimizer a generation (``population_size`` trials) at a time; an unfinished last
generation is not told yet, and failed trials are left out. Infeasible trials are told with a
penalised loss that ranks them after every feasible one (``_constraints``; CMA-ES reads only
the ranks). The next trial is then asked from that distribution with the trial's own seed,
so the members of one generation differ, a resumed run asks what an uninterrupted one would,
and parallel trials are simply members of the current generation. The replayed optimizer is
kept between calls and only the newly finished trials are told to it.

Like Optuna's sampler, categorical and discrete parameters are not modelled: each is drawn
at random. Ints are searched as numbers and rounded. A restart (when the optimizer reports it
has converged) starts from a random point: ``ipop`` doubles the population each time;
``bipop`` alternates those large populations with the default population at a tenth of the
step size, a local search.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cmaes
import numpy as np

from pipetune.errors import SpecError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion, seed_for
from pipetune.tuner.algorithms._constraints import Penalty
from pipetune.tuner.algorithms._unit import Box, box_for, choose, require_search_space
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import SearchSpace

DEFAULT_SIGMA = 1 / 6


def _strategy(name: str, raw: Any) -> str:
    if str(raw) not in ("none", "ipop", "bipop"):
        raise SpecError(f"algorithmSettings.{name}: expected none, ipop or bipop, got {raw!r}")
    return str(raw)


@dataclass
class _Replay:
    """The optimizer after the first ``len(told)`` finished trials of a history."""

    space: SearchSpace
    optimizer: Any
    restarts: int = 0
    large_restarts: int = 0
    told: list[TrialRecord] = field(default_factory=list)
    generation: list[tuple[np.ndarray, float]] = field(default_factory=list)


class CMAES(Algorithm):
    """See the module docstring."""

    name = "cmaes"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "restart_strategy": "none (default), ipop or bipop: what happens when CMA-ES converges",
        "sigma": "a number above 0: the initial step size, a share of each range (default 1/6)",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "restart_strategy": _strategy,
        "sigma": _settings.number(0),
    }

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        options = _settings.parse(self.settings, self.CHECKS)
        self.restart_strategy = str(options.get("restart_strategy", "none"))
        self.sigma = float(options.get("sigma", DEFAULT_SIGMA))
        self._replay: _Replay | None = None
        self._lock = threading.Lock()
        self._penalty = Penalty()

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        box = box_for(require_search_space(space, self.name))
        numeric = [i for i, axis in enumerate(box.axes) if axis.choices is None]
        listed = [i for i, axis in enumerate(box.axes) if axis.choices is not None]

        with self._lock:
            replay = self._replayed(box, numeric, self._penalty(history)) if numeric else None

            def draw(draw_seed: int) -> dict[str, Any]:
                u = [0.0] * box.dims
                if replay is not None:
                    replay.optimizer.reseed_rng(draw_seed)
                    x = replay.optimizer.ask()
                    for k, i in enumerate(numeric):
                        u[i] = float(x[k])
                rng = random.Random(draw_seed)
                for i in listed:
                    u[i] = rng.random()
                return box.decode(u)

            return Suggestion(choose(box, history, draw, seed, self.deterministic))

    # -- the replay ------------------------------------------------------------------------

    def _new_optimizer(self, dims: int, popsize: int | None, sigma: float, mean: np.ndarray) -> Any:
        # cmaes needs two dimensions at least: a lone parameter gets an idle companion.
        width = max(dims, 2)
        bounds = np.array([[0.0, 1.0]] * width)
        return cmaes.CMA(mean=np.resize(mean, width), sigma=sigma, bounds=bounds, seed=0,
                         population_size=popsize)

    def _replayed(self, box: Box, numeric: list[int], history: Sequence[TrialRecord]) -> _Replay:
        finished = [r for r in history if r.loss is not None and box.encode(r.assignment) is not None]
        replay = self._replay
        if replay is None or replay.space != box.space or not _is_prefix(replay.told, finished):
            replay = _Replay(box.space, self._new_optimizer(len(numeric), None, self.sigma, np.full(len(numeric), 0.5)))
        for record in finished[len(replay.told):]:
            point = box.encode(record.assignment)
            assert point is not None
            x = np.resize(np.array([point[i] for i in numeric]), replay.optimizer.dim)
            replay.generation.append((x, float(record.loss)))  # type: ignore[arg-type]
            replay.told.append(record)
            if len(replay.generation) == replay.optimizer.population_size:
                replay.optimizer.tell(replay.generation)
                replay.generation = []
                if self.restart_strategy != "none" and replay.optimizer.should_stop():
                    self._restart(replay, len(numeric), record, history)
        self._replay = replay
        return replay

    def _restart(self, replay: _Replay, dims: int, last: TrialRecord, history: Sequence[TrialRecord]) -> None:
        # The new start is drawn from the history itself (its first trial and where the
        # restart happened), so a replay restarts where the original run did.
        anchor = hashlib.sha256(repr((sorted(history[0].assignment.items()), last.index)).encode()).digest()
        rng = np.random.default_rng(seed_for(int.from_bytes(anchor[:4], "big"), "cmaes-restart"))
        mean = rng.uniform(0.0, 1.0, dims)
        base = 4 + math.floor(3 * math.log(max(dims, 2)))
        replay.restarts += 1
        if self.restart_strategy == "bipop" and replay.restarts % 2 == 0:
            popsize, sigma = base, self.sigma / 10
        else:
            replay.large_restarts += 1
            popsize, sigma = base * 2**replay.large_restarts, self.sigma
        replay.optimizer = self._new_optimizer(dims, popsize, sigma, mean)


def _is_prefix(told: Sequence[TrialRecord], finished: Sequence[TrialRecord]) -> bool:
    return len(told) <= len(finished) and all(a is b or a == b for a, b in zip(told, finished))
