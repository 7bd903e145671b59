"""Katib's ``hyperband``: successive halving in brackets over a resource parameter, with
Katib's settings ``resource_name`` (the parameter that holds a trial's budget: epochs, steps),
``r_l`` (the largest budget) and ``eta`` (the halving rate, default 3).

The schedule is Katib's (``pkg/suggestion/v1beta1/hyperband``) and Li et al.'s: with
``s_max = floor(log_eta(r_l))``, bracket ``s`` (from ``s_max`` down to 0) starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` new configurations, drawn at random, at budget
``r_l * eta^-s``; each next rung of the bracket runs the best ``ceil(n_i / eta)`` of the rung
before at ``eta`` times its budget, up to ``r_l``. Where Katib stops after the last bracket,
pipetune starts the brackets again with new configurations while the trial budget lasts.

Trial ``k``'s place in the schedule (pass, bracket, rung, slot) follows from ``k`` alone, and a
promotion ranks the rung before by the trials' losses, so every suggestion is a function of
the history: the same across a resume. Trials of the rung before that have not finished when
a promotion is asked (``parallelTrialCount`` larger than the rest of that rung) rank last;
Katib instead requires ``parallelTrialCount >= eta^s_max`` and waits for the whole rung.
A trial's objective is its reported value (``metricStrategies``), so the budget it was given
is what its steps ran to. ``internal`` carries ``{"hyperband": {"bracket", "rung", "parent"}}``.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pipetune.errors import SpecError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.algorithms._unit import box_for, choose, fit, require_search_space
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace


@dataclass(frozen=True)
class Slot:
    """One trial's place in a pass of the schedule."""

    bracket: int
    rung: int
    position: int  # within the rung
    start: int  # the pass-relative index of the rung's first trial
    previous_start: int  # that of the rung before (rung > 0)
    previous_size: int
    resource: float


@functools.lru_cache(maxsize=32)
def schedule(r_l: float, eta: float) -> tuple[Slot, ...]:
    """Every trial of one pass over the brackets, in the order they are suggested."""
    s_max = int(math.floor(math.log(r_l) / math.log(eta) + 1e-9))
    slots: list[Slot] = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s)
        size, previous_start, previous_size = n, -1, 0
        for i in range(s + 1):
            start = len(slots)
            resource = r_l * eta ** (i - s)
            slots += [Slot(s, i, j, start, previous_start, previous_size, resource) for j in range(size)]
            previous_start, previous_size = start, size
            size = max(1, math.ceil(size / eta))
    return tuple(slots)


class Hyperband(Algorithm):
    """See the module docstring."""

    name = "hyperband"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "resource_name": "the parameter that holds a trial's budget (required)",
        "r_l": "a number above 0: the largest budget a trial gets (required)",
        "eta": "a number above 1: each rung keeps 1/eta of the one before (default 3)",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "resource_name": lambda _name, raw: str(raw),
        "r_l": _settings.number(0),
        "eta": _settings.number(1),
    }

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        options = _settings.parse(self.settings, self.CHECKS)
        for required in ("resource_name", "r_l"):
            if required not in options:
                raise SpecError(
                    f"algorithmSettings.{required}: required by algorithm hyperband "
                    "(resource_name: the parameter holding a trial's budget; r_l: the largest budget)"
                )
        self.resource_name = str(options["resource_name"])
        self.r_l = float(options["r_l"])
        self.eta = float(options.get("eta", 3.0))

    def _resource_parameter(self, space: SearchSpace) -> DoubleParameter | IntParameter:
        try:
            parameter = space[self.resource_name]
        except KeyError:
            raise SpecError(
                f"algorithmSettings.resource_name: {self.resource_name!r} is not a parameter; "
                f"expected one of {', '.join(space.names)}"
            ) from None
        if not isinstance(parameter, (DoubleParameter, IntParameter)):
            raise SpecError(
                f"algorithmSettings.resource_name: parameter {self.resource_name!r} must be an int "
                "or double parameter, the budget a trial runs to"
            )
        return parameter

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        space = require_search_space(space, self.name)
        resource = self._resource_parameter(space)
        box = box_for(space)
        slots = schedule(self.r_l, self.eta)
        index = len(history)
        pass_start = index - index % len(slots)
        slot = slots[index % len(slots)]
        budget = fit(resource, slot.resource)
        tag: dict[str, Any] = {"bracket": slot.bracket, "rung": slot.rung, "parent": None}
        if slot.rung == 0:

            def draw(draw_seed: int) -> dict[str, Any]:
                rng = random.Random(draw_seed)
                return {**box.decode([rng.random() for _ in box.axes]), self.resource_name: budget}

            assignment = choose(box, history, draw, seed, self.deterministic)
            return Suggestion(assignment, {"hyperband": tag})
        first = pass_start + slot.previous_start
        previous = list(history[first:first + slot.previous_size])
        ranked = sorted(previous, key=lambda r: (r.loss is None, r.loss if r.loss is not None else 0.0, r.index))
        parent = ranked[min(slot.position, len(ranked) - 1)]
        tag["parent"] = parent.index
        return Suggestion({**dict(parent.assignment), self.resource_name: budget}, {"hyperband": tag})
