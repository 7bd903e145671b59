"""The field-checking kit the Experiment's parser and model share.

Each check takes a value and ``where`` (the field's path, ``spec.trialTemplate.retain``) and
returns the value as the model wants it, or raises :class:`_FieldError` naming the field and
what was expected. The loader puts the file in front of that message. Nothing here knows an
Experiment's fields: that is :mod:`pipetune.experiment._parse`'s business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, overload

from pipetune.durations import parse_duration
from pipetune.errors import SpecError


class _FieldError(SpecError):
    """A problem in one field; the loader prefixes the file. Still a SpecError if it leaks."""


def _check_keys(
    data: Mapping[str, Any],
    known: tuple[str, ...],
    where: str,
    *,
    extensions: tuple[str, ...] = (),
    extension_api: str = "",
) -> None:
    """Refuse a key not in ``known``; a key in ``extensions`` is refused as needing
    ``apiVersion: extension_api``, so a Katib document that uses one is told why."""
    for key in data:
        if key in known:
            continue
        if key in extensions:
            raise _FieldError(
                f"{where}.{key}: a pipetune extension; expected apiVersion {extension_api} to use it "
                f"(Katib's fields: {', '.join(known)})"
            )
        raise _FieldError(f"{where}: unknown field {key!r}; expected one of {', '.join(known)}")


def _mapping(value: Any, where: str, optional: bool = False) -> dict[str, Any]:
    if value is None and optional:
        return {}
    if value is None:
        raise _FieldError(f"{where}: required; expected a mapping")
    if not isinstance(value, dict):
        raise _FieldError(f"{where}: expected a mapping, got {_shown(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _FieldError(f"{where}: expected a list, got {_shown(value)}")
    return value


@overload
def _string(value: Any, where: str, default: str) -> str: ...


@overload
def _string(value: Any, where: str, default: None) -> str | None: ...


def _string(value: Any, where: str, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _FieldError(f"{where}: expected a string, got {value!r}")
    return value


#: Katib declares its counts as int32.
INT32_MAX = 2**31 - 1


@overload
def _int(value: Any, where: str, minimum: int, default: int) -> int: ...


@overload
def _int(value: Any, where: str, minimum: int, default: None) -> int | None: ...


def _int(value: Any, where: str, minimum: int, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _FieldError(f"{where}: expected an integer of {minimum} or more, got {value!r}")
    if value > INT32_MAX:
        # A budget of 10**400 trials would run without end (and print 401-digit counts).
        shown = repr(value) if len(repr(value)) <= 20 else f"an integer of {len(repr(value))} digits"
        raise _FieldError(f"{where}: expected an integer of at most {INT32_MAX} (Katib's int32), got {shown}")
    return value


def _number(value: Any, where: str) -> float:
    """A finite number, or a string holding one (Katib writes some numbers as strings)."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise _FieldError(f"{where}: expected a number, got {value!r}")
    return number


def _duration(value: Any, where: str) -> float | None:
    """Positive seconds, as a number (or a string holding one) or a Go duration (``90s``,
    ``10m``, ``1h30m``, ``.5s``: :func:`pipetune.durations.parse_duration`). Zero and negative
    values are refused: every duration an Experiment has is a limit."""
    if value is None:
        return None
    seconds: float | None = None
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                seconds = parse_duration(text)
            except ValueError:
                seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise _FieldError(
            f"{where}: expected a positive number of seconds or a duration such as 90s, 10m, 1h30m; "
            f"got {value!r}"
        )
    return seconds


def _placed(message: str, field: str, children: tuple[str, ...] = ()) -> str:
    """Another module's message placed under the spec field it concerns:
    ``algorithm.algorithmName: x`` and ``algorithmSettings: x`` go under ``spec.algorithm``; a
    message that names no field becomes ``spec.algorithm: message``."""
    if message.startswith("spec."):
        return message
    parent, _, head = field.rpartition(".")
    token = re.match(r"^([A-Za-z_]+)", message)
    first = token.group(1) if token else ""
    if first == head:
        return f"{parent}.{message}"
    if first in children:
        return f"{field}.{message}"
    return f"{field}: {message}"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)
