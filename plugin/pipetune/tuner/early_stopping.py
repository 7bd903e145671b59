"""Early stopping: ``decide(...) -> (trials_to_stop, state)``, a pure function.

``medianstop`` follows Katib's settings (``min_trials_required``, default 3; ``start_step``,
default 4) with a true median where Katib takes a mean: a running trial that has reported at
least ``start_step`` values is stopped when its latest value is worse than the median of the
completed trials' values at the same step (each completed trial contributes its value at the
last step not after that one). The state is JSON-able, for the journal or ``status.extraFields``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipetune.errors import SpecError

MEDIANSTOP = "medianstop"
_SETTINGS = {"min_trials_required": 3, "start_step": 4}

#: A trial's intermediate values of the objective metric, oldest first: (step, value).
Curve = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class MedianStop:
    """Katib's median stopping rule, with validated settings."""

    min_trials_required: int = 3
    start_step: int = 4

    @classmethod
    def from_settings(cls, settings: Mapping[str, str] | None) -> MedianStop:
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise SpecError(
                f"earlyStopping.algorithmSettings: {unknown[0]!r} is not a medianstop setting; "
                f"expected {', '.join(_SETTINGS)}"
            )
        values: dict[str, int] = {}
        for name, default in _SETTINGS.items():
            text = settings.get(name, default)
            try:
                value = int(str(text))
            except ValueError:
                value = 0
            if value < 1:
                raise SpecError(
                    f"earlyStopping.algorithmSettings.{name}: expected an integer of 1 or more, "
                    f"got {text!r}"
                )
            values[name] = value
        return cls(**values)

    def decide(
        self,
        completed: Sequence[Curve],
        running: Mapping[int, Curve],
        minimize: bool,
        state: Mapping[str, Any] | None = None,
    ) -> tuple[list[int], dict[str, Any]]:
        """The running trials to stop now, and the state to pass next time.

        ``completed`` holds the curves of trials that finished normally; ``running`` maps each
        running trial's index to its curve so far. The state records the trials already
        stopped, so none is reported twice.
        """
        stopped = set((state or {}).get("stopped", []))
        decisions: list[int] = []
        if len(completed) >= self.min_trials_required:
            for index, curve in sorted(running.items()):
                if index in stopped or len(curve) < self.start_step:
                    continue
                step, value = curve[-1]
                peers = [v for v in (_value_at(c, step) for c in completed) if v is not None]
                if len(peers) < self.min_trials_required:
                    continue
                median = statistics.median(peers)
                if (value > median) if minimize else (value < median):
                    decisions.append(index)
        stopped.update(decisions)
        return decisions, {"stopped": sorted(stopped)}


def _value_at(curve: Curve, step: int) -> float | None:
    """The curve's value at the last step not after ``step``; None if it starts later."""
    value = None
    for at, v in curve:
        if at > step:
            break
        value = v
    return value


def get_early_stopping(name: str, settings: Mapping[str, str] | None) -> MedianStop:
    """The early-stopping rule called ``name``; ``SpecError`` for any other."""
    if name == MEDIANSTOP:
        return MedianStop.from_settings(settings)
    raise SpecError(
        f"earlyStopping.algorithmName: {name!r} is not supported; expected {MEDIANSTOP}"
    )


def curve_from_history(history: Sequence[Mapping[str, float]], metric: str) -> list[tuple[int, float]]:
    """A metric's curve from a results ``history``: entries without ``step`` count 1, 2, ..."""
    curve = []
    for position, entry in enumerate(history, start=1):
        if metric in entry:
            curve.append((int(entry.get("step", position)), float(entry[metric])))
    return curve
