"""Tekton's variable substitution, as its reconciler applies it: ``$(params.x)``,
``$(params['x'])``, ``$(params.x[0])``, ``$(params.x[*])``, ``$(params.obj.key)``,
``$(results.r.path)``, ``$(workspaces.w.path)``, ``$(context.taskRun.name)``,
``$(tasks.t.results.r[*])``, ``$(tasks.status)``...

A *scope* is a nested mapping (``{"params": {...}, "context": {"taskRun": {"name": ...}}}``);
an expression names a path through it. What the scope does not hold is left as written, as
Tekton leaves it (a shell's ``$(date)`` in a script is not a Tekton variable). A whole array
or object replaces an argument only when the argument is that one reference (``[*]``), as
Tekton expands arrays in ``command``/``args``; a string holds strings only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: One ``$(...)`` reference: Tekton's variables hold no parentheses or spaces.
VARIABLE = re.compile(r"\$\(([^()\s]+)\)")
_TOKEN = re.compile(r"\.?([A-Za-z0-9_-]+)|\['([^']*)'\]|\[\"([^\"]*)\"\]|\[(\d+|\*)\]")

_MISSING = object()


def parse(expression: str) -> list[str | int] | None:
    """``params.x[0]`` as ``["params", "x", 0]``; ``[*]`` is ``"*"``; None when it is not one
    of Tekton's forms."""
    parts: list[str | int] = []
    at = 0
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if match is None or (match.group(1) is not None and at and expression[at] != "."):
            return None
        name, single, double, index = match.groups()
        if index is not None:
            parts.append("*" if index == "*" else int(index))
        else:
            parts.append(next(p for p in (name, single, double) if p is not None))
        at = match.end()
    return parts or None


def lookup(scope: Mapping[str, Any], expression: str) -> Any:
    """The value ``expression`` names in ``scope``, or ``_MISSING``."""
    parts = parse(expression)
    if parts is None:
        return _MISSING
    value: Any = scope
    for part in parts:
        if part == "*":
            return value if isinstance(value, (list, Mapping)) else _MISSING
        if isinstance(part, int):
            if not isinstance(value, list):
                return _MISSING
            if part >= len(value):
                raise IndexError(f"$({expression}): index {part} is out of range of {len(value)} values")
            value = value[part]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def references(text: str) -> list[str]:
    """The expressions ``text`` references."""
    return VARIABLE.findall(text)


def text(value: str, scope: Mapping[str, Any]) -> str:
    """``value`` with every reference ``scope`` holds a string for replaced."""

    def one(match: re.Match[str]) -> str:
        found = lookup(scope, match.group(1))
        if found is _MISSING or isinstance(found, (list, Mapping)):
            return match.group(0)
        return found if isinstance(found, str) else json.dumps(found)

    return VARIABLE.sub(one, value)


def whole(value: str, scope: Mapping[str, Any]) -> Any:
    """The array or object ``value`` is when it is exactly one reference to one, else None."""
    match = VARIABLE.fullmatch(value.strip())
    if match is None:
        return None
    found = lookup(scope, match.group(1))
    return found if isinstance(found, (list, Mapping)) else None


def value(item: Any, scope: Mapping[str, Any]) -> Any:
    """A param value (string, array or object) with ``scope`` substituted: an element that is
    one array reference expands in place, a string that is one reference to an array or
    object becomes it."""
    if isinstance(item, str):
        found = whole(item, scope)
        return found if found is not None else text(item, scope)
    if isinstance(item, list):
        out: list[Any] = []
        for element in item:
            found = whole(element, scope) if isinstance(element, str) else None
            if isinstance(found, list):
                out.extend(found)
            else:
                out.append(value(element, scope))
        return out
    if isinstance(item, Mapping):
        return {k: value(v, scope) for k, v in item.items()}
    return item


def strings(item: Any, scope: Mapping[str, Any]) -> Any:
    """Every string in a tree (a step, a when expression) substituted, arrays in lists
    expanded (``args: ["$(params.a[*])"]``)."""
    if isinstance(item, str):
        return text(item, scope)
    if isinstance(item, list):
        out: list[Any] = []
        for element in item:
            found = whole(element, scope) if isinstance(element, str) else None
            if isinstance(found, list):
                out.extend(str(v) for v in found)
            else:
                out.append(strings(element, scope))
        return out
    if isinstance(item, Mapping):
        return {k: strings(v, scope) for k, v in item.items()}
    return item


MISSING = _MISSING
