"""The part of CEL that KFP's compiler writes into ``triggerPolicy.condition`` (``dsl.If``,
``Elif``, ``Else``, ``dsl.Condition``), evaluated as KFP's driver evaluates it: over the
task's input parameters as protobuf ``Value`` s, so every number is a double, ``int(...)`` /
``double(...)`` convert as CEL's do (a string is parsed, a double truncated), ``==``/``!=``
between values of different kinds are false/true (CEL's heterogeneous equality), and an
ordering between different kinds is an error that fails the task.

Grammar: ``||``, ``&&``, ``!``, the comparisons ``== != < <= > >=``, parentheses, calls to
``int``, ``double``, ``string`` and ``bool``, ``inputs.parameter_values['name']``, and string,
number, ``true``/``false``/``null`` literals. Anything else is refused when the plan is read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pipetune.errors import SpecError

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>!()\[\].])
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
)""", re.VERBOSE)
_CALLS = ("int", "double", "string", "bool")
Node = tuple[Any, ...]


class CelError(Exception):
    """A condition that cannot be evaluated over the values it got (KFP's driver fails the task)."""


def parse_condition(text: str, where: str) -> Node:
    """The syntax tree of condition ``text``; a ``SpecError`` naming ``where`` otherwise."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise SpecError(f"{where}: cannot read the condition {text!r} at {text[position:position + 20]!r} "
                            "(pipetune evaluates the CEL that KFP's compiler writes)")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    parser = _Parser(tokens, text, where)
    node = parser.expression()
    if parser.position != len(tokens):
        parser.fail()
    return node


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str, where: str) -> None:
        self.tokens, self.text, self.where, self.position = tokens, text, where, 0

    def fail(self) -> None:
        raise SpecError(f"{self.where}: cannot read the condition {self.text!r} (pipetune evaluates the CEL "
                        "that KFP's compiler writes: comparisons of inputs.parameter_values, !, &&, ||)")

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens) or (expected is not None and self.tokens[self.position][1] != expected):
            self.fail()
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self) -> Node:
        node = self.conjunction()
        while self.peek() == "||":
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self.peek() == "&&":
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return ("not", self.unary())
        node = self.primary()
        if self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            return ("compare", op, node, self.primary())
        return node

    def primary(self) -> Node:
        kind, value = self.take()
        if value == "(" and kind == "op":
            node = self.expression()
            self.take(")")
            return node
        if kind == "string":
            return ("literal", _string(value))
        if kind == "number":
            return ("literal", float(value))
        if kind == "name" and value in ("true", "false"):
            return ("literal", value == "true")
        if kind == "name" and value == "null":
            return ("literal", None)
        if kind == "name" and value in _CALLS and self.peek() == "(":
            self.take("(")
            argument = self.expression()
            self.take(")")
            return ("call", value, argument)
        if kind == "name" and value == "inputs":
            self.take(".")
            if self.take()[1] != "parameter_values":
                self.fail()
            self.take("[")
            key_kind, key = self.take()
            if key_kind != "string":
                self.fail()
            self.take("]")
            return ("input", _string(key))
        self.fail()
        raise AssertionError  # fail() raises


def _string(token: str) -> str:
    body = token[1:-1]
    return json.loads('"' + body.replace('\\\'', "'").replace('"', '\\"') + '"') if "\\" in body else body


def evaluate(node: Node, values: Mapping[str, Any]) -> Any:
    """The value of condition ``node`` over a task's input parameter ``values``; ``CelError``
    when CEL would fail (a missing input, an ordering between kinds, a bad conversion)."""
    head = node[0]
    if head == "literal":
        return node[1]
    if head == "input":
        if node[1] not in values:
            raise CelError(f"no such key: {node[1]}")
        return _value(values[node[1]])
    if head == "not":
        return not _boolean(evaluate(node[1], values))
    if head == "and":
        return _boolean(evaluate(node[1], values)) and _boolean(evaluate(node[2], values))
    if head == "or":
        return _boolean(evaluate(node[1], values)) or _boolean(evaluate(node[2], values))
    if head == "call":
        return _call(node[1], evaluate(node[2], values))
    op, left, right = node[1], evaluate(node[2], values), evaluate(node[3], values)
    if op in ("==", "!="):
        same = _kind(left) == _kind(right) and left == right
        return same if op == "==" else not same
    if _kind(left) != _kind(right) or _kind(left) not in ("number", "string", "bool"):
        raise CelError(f"no such overload: {_kind(left)} {op} {_kind(right)}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _value(value: Any) -> Any:
    """A parameter as a protobuf Value holds it: every number a double."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise CelError(f"no matching overload: expected a bool, got {_kind(value)} {value!r}")
    return value


def _call(name: str, value: Any) -> Any:
    try:
        if name == "int":
            if isinstance(value, bool):
                raise CelError("no matching overload for int(bool)")
            if isinstance(value, str):
                return float(int(value.strip()))
            if isinstance(value, float) and not math.isfinite(value):
                raise CelError(f"int({value}) is out of range")
            return float(math.trunc(float(value)))
        if name == "double":
            if isinstance(value, bool):
                raise CelError("no matching overload for double(bool)")
            return float(value)
        if name == "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, float):
                return str(int(value)) if value.is_integer() else repr(value)
            return str(value)
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if isinstance(value, bool):
            return value
        raise CelError(f"bool({value!r}): not a bool")
    except (TypeError, ValueError):
        raise CelError(f"{name}({value!r}): cannot convert") from None
