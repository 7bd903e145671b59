"""Reading Katib's ``algorithmSettings`` (a name -> string map) into typed values.

Every refusal is a ``SpecError`` that names the setting, the expected value and what was given:
``algorithmSettings.gamma: expected a number in (0, 1), got '2'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pipetune.errors import SpecError

Check = Callable[[str, Any], Any]


def number(low: float | None = None, high: float | None = None, *, low_open: bool = True,
           high_open: bool = True) -> Check:
    """A float setting, optionally bounded; ``*_open`` excludes the bound itself."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    if low is not None and high is not None:
        expected = f"a number in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        expected = f"a number {'above' if low_open else 'at least'} {low:g}"
    else:
        expected = "a number"

    def check(name: str, raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise SpecError(f"algorithmSettings.{name}: expected {expected}, got {raw!r}")
        return value

    return check


def integer(low: int) -> Check:
    """An integer setting of at least ``low``."""

    def check(name: str, raw: Any) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            value = None
        if isinstance(raw, bool) or value is None or value < low:
            raise SpecError(
                f"algorithmSettings.{name}: expected an integer of at least {low}, got {raw!r}"
            )
        return value

    return check


def boolean() -> Check:
    """``true`` or ``false`` (any case), as Katib writes every setting: a string."""

    def check(name: str, raw: Any) -> bool:
        text = str(raw).strip().lower()
        if isinstance(raw, bool):
            return raw
        if text not in ("true", "false"):
            raise SpecError(f"algorithmSettings.{name}: expected true or false, got {raw!r}")
        return text == "true"

    return check


#: Accepted by every algorithm. ``random_state``: the caller turns it into the seed.
#: ``deterministic``: the objective gives the same value for the same parameters, so a trial
#: is never repeated and a finite space ends the experiment once every point is tried
#: (``Algorithm.deterministic``).
COMMON: Mapping[str, Check] = {"random_state": integer(0), "deterministic": boolean()}


def parse(settings: Mapping[str, Any], checks: Mapping[str, Check]) -> dict[str, Any]:
    """The settings named in ``checks``, converted; the ``COMMON`` ones are checked, then
    dropped (``Algorithm`` reads them)."""
    values: dict[str, Any] = {}
    for name, raw in settings.items():
        if name in COMMON:
            COMMON[name](name, raw)
        elif name in checks:
            values[name] = checks[name](name, raw)
    return values
