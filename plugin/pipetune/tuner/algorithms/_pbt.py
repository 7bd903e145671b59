"""Population-based training (Katib's ``pbt``), built on checkpoints.

Trials come in generations of ``n_population`` members: trial ``k`` is member ``k % n`` of
generation ``k // n``. Generation 0 samples the search space. In a later generation each
member continues its lineage (its predecessor, the same member of the previous generation):

* if the predecessor finished in the bottom ``truncation_threshold`` of the finished members
  of its generation, the member **exploits** a member drawn from the top
  ``truncation_threshold``: it starts from that member's checkpoint with that member's
  parameters **explored**: each one resampled from the space with ``resample_probability``
  (default 0: never), else a number multiplied by 0.8 or 1.2 (clipped to the range, on its
  step, rounded for an int) and a categorical or discrete value kept;
* otherwise it continues from its predecessor's checkpoint with the same parameters;
* a predecessor that failed or reported nothing leaves a fresh sample with no checkpoint.

The suggestion's ``internal`` carries ``{"pbt": {"generation", "member", "parent"}}``;
``parent`` is the trial whose newest checkpoint the tuner hands the new trial as
``PIPETUNE_RESUME_FROM`` (see ``Tuner``), so the trial's program only needs to resume from a
checkpoint and train on. Katib's ``suggestion_trial_dir`` is accepted and not used: pipetune
keeps every trial's checkpoints in its own store. Deterministic for a seed and a history,
like every algorithm here; pending members of the previous generation count as not finished.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pipetune.errors import SpecError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.algorithms._base import Algorithm, Suggestion
from pipetune.tuner.history import TrialRecord
from pipetune.tuner.space import CategoricalParameter, DiscreteParameter, IntParameter, SearchSpace

FACTORS = (0.8, 1.2)


class PBT(Algorithm):
    """See the module docstring."""

    name = "pbt"
    SETTINGS: ClassVar[Mapping[str, str]] = {
        "n_population": "members of a generation (default 40, at least 2)",
        "truncation_threshold": "the share of members that exploit, and that are exploited (default 0.2)",
        "resample_probability": "chance a parameter is resampled instead of perturbed (default 0)",
        "suggestion_trial_dir": "Katib's checkpoint volume; accepted, not used",
    }
    CHECKS: ClassVar[Mapping[str, _settings.Check]] = {
        "n_population": _settings.integer(2),
        "truncation_threshold": _settings.number(0.0, 0.5, high_open=False),
        "resample_probability": _settings.number(0.0, 1.0, low_open=False, high_open=False),
        "suggestion_trial_dir": lambda _name, raw: str(raw),
    }

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        options = _settings.parse(self.settings, self.CHECKS)
        self.population = int(options.get("n_population", 40))
        self.threshold = float(options.get("truncation_threshold", 0.2))
        self.resample = float(options.get("resample_probability", 0.0))

    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        if not isinstance(space, SearchSpace):
            raise SpecError("algorithm pbt: expected a search space of Katib parameters")
        index = len(history)
        generation, member = divmod(index, self.population)
        rng = random.Random(seed)
        if generation == 0:
            return _tagged(sample(space, rng), generation, member, None)
        previous = [r for r in history if (r.index // self.population) == generation - 1]
        parent = next((r for r in previous if r.index % self.population == member), None)
        if parent is None or parent.loss is None:
            return _tagged(sample(space, rng), generation, member, None)
        finished = sorted((r for r in previous if r.loss is not None), key=lambda r: (r.loss, r.index))
        cut = max(1, math.ceil(self.threshold * len(finished)))
        top, bottom = finished[:cut], finished[-cut:]
        if len(finished) > 1 and parent in bottom and parent not in top:
            donor = rng.choice(top)
            return _tagged(explore(space, donor.assignment, rng, self.resample), generation, member, donor.index)
        return _tagged(dict(parent.assignment), generation, member, parent.index)


def sample(space: SearchSpace, rng: random.Random) -> dict[str, Any]:
    """A uniform draw from the space (log-uniform for log distributions), on its steps."""
    return {p.name: _draw(p, rng) for p in space.parameters}


def explore(space: SearchSpace, assignment: Mapping[str, Any], rng: random.Random, resample: float) -> dict[str, Any]:
    """A perturbed copy of ``assignment`` (module docstring)."""
    out: dict[str, Any] = {}
    for parameter in space.parameters:
        value = assignment[parameter.name]
        if rng.random() < resample:
            out[parameter.name] = _draw(parameter, rng)
        elif isinstance(parameter, (CategoricalParameter, DiscreteParameter)):
            out[parameter.name] = value
        else:
            out[parameter.name] = _fit(parameter, float(value) * rng.choice(FACTORS))
    return out


def _draw(parameter: Any, rng: random.Random) -> Any:
    if isinstance(parameter, (CategoricalParameter, DiscreteParameter)):
        return rng.choice(list(parameter.values))
    low, high = float(parameter.min), float(parameter.max)
    if parameter.distribution.startswith("log") and low > 0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return _fit(parameter, value)


def _fit(parameter: Any, value: float) -> Any:
    """``value`` clipped to the range, on the step grid, an int for an int parameter."""
    low, high = float(parameter.min), float(parameter.max)
    value = min(max(value, low), high)
    if parameter.step:
        steps = round((value - low) / parameter.step)
        value = min(low + steps * parameter.step, high)
        value = round(value, 12)
    if isinstance(parameter, IntParameter):
        return int(round(value))
    return float(value)


def _tagged(assignment: dict[str, Any], generation: int, member: int, parent: int | None) -> Suggestion:
    return Suggestion(assignment, {"pbt": {"generation": generation, "member": member, "parent": parent}})
