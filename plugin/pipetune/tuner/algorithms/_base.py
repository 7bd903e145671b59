"""The algorithm interface: a pure function of (space, history, seed) behind one method."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipetune.errors import SpecError
from pipetune.tuner.algorithms import _settings
from pipetune.tuner.history import TrialRecord


@dataclass(frozen=True)
class Suggestion:
    """One suggested assignment, plus the algorithm's own encoding of it when needed."""

    assignment: dict[str, Any]
    internal: dict[str, Any] | None = field(default=None, compare=False)


class Exhausted(Exception):
    """The algorithm has nothing left to suggest (a grid fully visited)."""


class Algorithm(abc.ABC):
    """Suggests the next assignment from the history alone: no state survives between calls,
    so the same (space, history, seed) always gives the same suggestion.

    ``settings`` are Katib's ``algorithmSettings`` as a name -> string map; each algorithm
    declares the names it accepts in ``SETTINGS`` and refuses others with a ``SpecError``.
    Every algorithm also accepts ``random_state`` (the seed) and ``deterministic``.

    Finite spaces: unless ``deterministic`` is true, an objective is taken to be noisy, so once
    every point of a finite space has been tried, points are tried again (the algorithm's own
    choice, which favours the good ones) for as long as the budget lasts. With
    ``deterministic: "true"`` a point is never repeated and ``Exhausted`` ends the experiment
    when all are tried. Grid search is exhaustive by nature and always ends.
    """

    name: ClassVar[str]
    SETTINGS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        settings = dict(settings or {})
        common = set(_settings.COMMON)
        unknown = sorted(set(settings) - set(self.SETTINGS) - common)
        if unknown:
            known = ", ".join(sorted({*self.SETTINGS, *common}))
            raise SpecError(
                f"algorithmSettings: {unknown[0]!r} is not a setting of algorithm "
                f"{self.name!r}; it accepts: {known}"
            )
        self.settings = settings
        raw = settings.get("deterministic")
        #: The objective is a function of the parameters alone (no noise): see the class doc.
        self.deterministic = bool(_settings.COMMON["deterministic"]("deterministic", raw)) if raw is not None else False

    @abc.abstractmethod
    def suggest(self, space: Any, history: Sequence[TrialRecord], seed: int) -> Suggestion:
        """The next assignment. Pending and running trials in ``history`` count as taken.

        Raises ``Exhausted`` when there is nothing left to try.
        """


def seed_for(seed: int, label: str) -> int:
    """A further seed from ``seed`` for one purpose (``label``): stable across processes."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def trial_seed(seed: int, index: int) -> int:
    """The seed for trial ``index`` of an experiment seeded with ``seed``: stable across
    processes and Python versions (no ``hash()``), and in hyperopt's accepted range."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def suggest_batch(
    algorithm: Algorithm,
    space: Any,
    history: Sequence[TrialRecord],
    seed: int,
    count: int,
) -> list[Suggestion]:
    """``count`` suggestions asked one at a time, each with the earlier ones in the history as
    pending trials, so a batch never repeats itself (Katib's hyperopt service does: #1329).

    Fewer than ``count`` come back when the algorithm is exhausted.
    """
    batch: list[Suggestion] = []
    history = list(history)
    for _ in range(count):
        index = len(history)
        try:
            suggestion = algorithm.suggest(space, history, trial_seed(seed, index))
        except Exhausted:
            break
        history.append(TrialRecord.pending(index, suggestion.assignment, suggestion.internal))
        batch.append(suggestion)
    return batch
