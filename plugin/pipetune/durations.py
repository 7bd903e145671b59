"""Go durations (``1h30m``, ``45s``, ``.5s``, ``300ms``), as Kubernetes, Tekton and Katib write them.

:func:`parse_duration` follows Go's ``time.ParseDuration``: an optional sign, then one or more
decimal numbers, each with an optional fraction (``1.5``, ``.5``, ``1.``) and a unit: ``ns``,
``us``, ``µs`` (U+00B5), ``μs`` (U+03BC), ``ms``, ``s``, ``m`` or ``h``; ``0`` alone needs no
unit. Nothing else is accepted: no spaces, no ``d``, no bare number other than ``0``. Values are
computed as Go does (whole nanoseconds, a fraction's remainder truncated) and refused outside
Go's range, a signed 64-bit count of nanoseconds (about 292 years either way), so a value
accepted here is one a Go controller accepts too, with the same meaning.

Negative durations are parsed, as Go parses them (``-1.5h`` is -5400.0): the grammar has a sign,
and what a negative one means is the caller's business. A caller that takes a timeout or a
limit must refuse a negative result itself, naming its field.
"""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

#: Nanoseconds per unit; the two micro signs are both Go's.
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_UNITS_SHOWN = "ns, us, \u00b5s, ms, s, m or h"
_LIMIT = 1 << 63  # Go's Duration is an int64 of nanoseconds: -2**63 .. 2**63 - 1
# A number ([0-9]*, an optional .[0-9]*) then its unit: everything up to the next digit or '.',
# as Go reads it, so "1h 30m" has the unit "h " and is refused. [0-9], not \d: Python's \d
# takes other scripts' digits, which Go does not.
_PART = re.compile(r"([0-9]*)(\.[0-9]*)?([^0-9.]*)")
_EXAMPLE = "a duration such as 1h30m, 45s or .5s"


def parse_duration(text: str) -> float:
    """Seconds of the Go duration ``text`` (``"1h30m"`` is 5400.0, ``"-2m"`` is -120.0).

    ``ValueError`` for anything Go refuses, with a message that starts with ``text`` quoted and
    names the expected form; callers put their own file and field in front of it. Negative
    values are returned, not refused (see the module docstring)."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not {_EXAMPLE}: expected a string")
    body = text[1:] if text[:1] in ("-", "+") else text
    negative = text[:1] == "-"
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"{text!r} is not {_EXAMPLE}: expected numbers each followed by a unit ({_UNITS_SHOWN})")
    total = 0
    position = 0
    while position < len(body):
        match = _PART.match(body, position)
        assert match is not None  # every group may be empty: the pattern always matches
        whole, fraction, unit = match.groups()
        digits = (fraction or ".")[1:]
        if not whole and not digits:
            raise ValueError(f"{text!r} is not {_EXAMPLE}: expected a number before each unit ({_UNITS_SHOWN})")
        if not unit:
            raise ValueError(
                f"{text!r} is not {_EXAMPLE}: {match.group(0)!r} has no unit; expected one of {_UNITS_SHOWN} "
                "(only 0 may go without)"
            )
        scale = _UNIT_NS.get(unit)
        if scale is None:
            raise ValueError(f"{text!r} is not {_EXAMPLE}: unknown unit {unit!r}; expected one of {_UNITS_SHOWN}")
        total += int(whole or 0) * scale + _fraction_ns(digits, scale)
        if total > _LIMIT:
            break  # already out of range; no need to read the rest
        position = match.end()
    if total > _LIMIT or (total == _LIMIT and not negative):
        raise ValueError(
            f"{text!r} is out of range; expected a duration within ±2562047h47m16.854775807s "
            "(Go's limit, about 292 years)"
        )
    return -total / 1e9 if negative else total / 1e9


def _fraction_ns(digits: str, scale: int) -> int:
    """Nanoseconds of ``.digits`` of a unit ``scale`` ns long, rounded exactly as Go rounds:
    digits past 63 bits are dropped, the product is taken in float64 and truncated."""
    value = 0
    power = 1.0
    for digit in digits:
        following = value * 10 + int(digit)
        if value > (_LIMIT - 1) // 10 or following > _LIMIT:
            break  # Go ignores the digits that would overflow its uint64
        value = following
        power *= 10
    return int(float(value) * (float(scale) / power)) if value else 0
