"""Component input and output types, KFP's names and aliases, and typed values."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

#: KFP's parameter types and their aliases (case-insensitive); any other type is an artifact.
PARAMETER_TYPES = {
    "string": "String",
    "str": "String",
    "text": "String",
    "integer": "Integer",
    "int": "Integer",
    "float": "Float",
    "double": "Float",
    "bool": "Bool",
    "boolean": "Bool",
    "jsonobject": "JsonObject",
    "dict": "JsonObject",
    "jsonarray": "JsonArray",
    "list": "JsonArray",
}

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def parameter_type(type_name: Any) -> str | None:
    """The canonical parameter type for a declared type, or None for an artifact type."""
    if isinstance(type_name, str):
        return PARAMETER_TYPES.get(type_name.lower())
    return None


def coerce(value: Any, type_name: str) -> Any:
    """Turn ``value`` (a command-line string or a YAML value) into ``type_name``'s Python type.

    Raises ``ValueError`` with ``expected a/an <Type>, got <value>`` on a mismatch.
    """
    kind = parameter_type(type_name) or "String"
    if kind == "String":
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return value if isinstance(value, str) else format_value(value)
    if kind == "Integer":
        if isinstance(value, bool):
            raise _mismatch("an Integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _mismatch("an Integer", value)
    if kind == "Float":
        if isinstance(value, bool):
            raise _mismatch("a Float", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _mismatch("a Float", value) from None
        if not math.isfinite(number):
            raise _mismatch("a finite Float", value)
        return number
    if kind == "Bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _mismatch("a Bool (true or false)", value)
    expected, pytype = ("a JsonObject", dict) if kind == "JsonObject" else ("a JsonArray", list)
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise _mismatch(f"{expected} (JSON text)", value) from None
    if not isinstance(parsed, pytype):
        raise _mismatch(expected, value)
    return parsed


def format_value(value: Any) -> str:
    """A typed value as text, on a command line or inside a longer string, the way KFP's
    launcher writes it: ``5``, ``0.1``, ``1e-05``, ``true``, ``adam``, ``{"a":1}``."""
    value = plain_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)  # for a float, the shortest round-trip text


def plain_value(value: Any) -> Any:
    """``value`` as a plain Python scalar: numpy's ints, floats and strings become int, float
    and str, so a tree dumps as YAML or JSON and formats without ``np.float64(...)``."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _mismatch(expected: str, value: Any) -> ValueError:
    return ValueError(f"expected {expected}, got {value!r}")
