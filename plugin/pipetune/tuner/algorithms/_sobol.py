"""Katib's ``sobol``: a scrambled Sobol quasi-random sequence (``scipy.stats.qmc.Sobol``).

Trial ``k`` is point ``k`` of the sequence over the unit cube of the space (``_unit``), so the
trials cover the space more evenly than random draws. The scrambling is seeded once per
experiment: trial 0 draws the scrambling seed from its own seed and keeps it in its
``internal`` (``{"sobol": {"seed": ...}}``), and every later trial reads it from there, so the
sequence is the same across a resume and different for each experiment seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from scipy.stats import qmc  # ~1 s to import: this module is imported only when sobol is used

from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.algorithms._unit import box_for, choose, require_search_space
from pipetune.tuner.history import TrialRecord


def sequence_seed(history: Sequence[TrialRecord], seed: int, key: str) -> int:
    """The experiment-wide seed an algorithm kept in trial 0's ``internal[key]``, or ``seed``
    for trial 0 itself (and for a history whose trial 0 lacks it)."""
    if history:
        internal = history[0].internal
        kept = internal.get(key) if isinstance(internal, Mapping) else None
        if isinstance(kept, Mapping) and isinstance(kept.get("seed"), int):
            return int(kept["seed"])
    return seed


class Sobol(Algorithm):
    """See the module docstring."""

    name = "sobol"

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        _settings.parse(self.settings, {})

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        box = box_for(require_search_space(space, self.name))
        scramble = sequence_seed(history, seed, "sobol")
        index = len(history)
        # Repeats (a finite space) step further along the sequence: draw k looks at point
        # index + k, so the choice stays a function of the history.
        offsets = {seed: 0}

        def draw(draw_seed: int) -> dict[str, Any]:
            offset = offsets.setdefault(draw_seed, len(offsets) * 7919)
            engine = qmc.Sobol(d=max(box.dims, 1), scramble=True, seed=scramble)
            if index + offset:  # scipy refuses to fast-forward by 0
                engine.fast_forward(index + offset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "balance properties" of non-2^m counts
                point = engine.random(1)[0]
            return box.decode(point[: box.dims])

        assignment = choose(box, history, draw, seed, self.deterministic)
        internal = {"sobol": {"seed": scramble}} if index == 0 else None
        return Suggestion(assignment, internal)
