"""Success and failure conditions: JSONPath over a resource, with Katib's GJSON translated.

A condition holds when its JSONPath (jsonpath-ng's extended syntax, filters included) finds
at least one value that is not empty, null or ``false``. A filter at the root,
``$[?(...)]``, tests the resource itself: ``$[?(@.status.phase=="Succeeded")]``.

Katib writes conditions in GJSON. The forms its trial templates use are translated:

* ``a.b.#(k=="v")#`` (all elements of the array ``a.b`` where ``k == "v"``), with further
  ``|#(...)#`` filters joined by *and*: ``a.b[?(@.k=="v" && ...)]``;
* ``a.[@this].#(k=="v")#`` (``a`` itself, tested): ``$[?(@.a.k=="v")]``;
* the last query may be ``#(...)`` without the trailing ``#`` (GJSON's first match, which
  Katib's own tests use: ``status.[@this].#(succeeded==1)``): Katib counts a condition as met
  when its result is an object or a non-empty array, so the first match is met exactly when
  some element matches, as the all-matches form is;
* comparisons ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` against a quoted string, a number,
  ``true``, ``false`` or ``null``.

Any other GJSON (modifiers, wildcards, a first-match ``#(...)`` followed by more queries) is
refused with the expression quoted; write it as JSONPath instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse

_QUERY = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][\w.-]*)\s*(?P<op>==|!=|<=|>=|<|>)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)\s*$""",
    re.VERBOSE,
)
_FILTER = re.compile(r"^#\((?P<query>.*)\)(?P<all>#?)$")


class ConditionError(ValueError):
    """A condition that is neither JSONPath nor a GJSON form pipetune translates."""


@dataclass(frozen=True)
class Condition:
    """A compiled condition: ``text`` as written, ``jsonpath`` as evaluated."""

    text: str
    jsonpath: str
    _compiled: JSONPath

    def holds(self, resource: Any) -> bool:
        """Whether the condition is true of ``resource`` (a manifest as a dict)."""
        root = [resource] if self.jsonpath.startswith("$[") else resource
        return any(_truthy(match.value) for match in self._compiled.find(root))


def compile_condition(text: str) -> Condition:
    """Compile a JSONPath or Katib GJSON condition; ``ConditionError`` says what is wrong."""
    source = text.strip()
    if not source:
        raise ConditionError("an empty condition; expected a JSONPath such as "
                             "status.conditions[?(@.type==\"Succeeded\")]")
    expression = translate_gjson(source) if is_gjson(source) else source
    try:
        compiled = parse(expression)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # noqa: BLE001
        # jsonpath-ng raises bare Exceptions from its lexer for some inputs.
        raise ConditionError(f"{source!r} is not valid JSONPath: {exc}") from None
    return Condition(source, expression, compiled)


def is_gjson(text: str) -> bool:
    """Whether ``text`` uses GJSON syntax (queries ``#(...)`` or ``[@this]``)."""
    return "#(" in text or "@this" in text


def translate_gjson(text: str) -> str:
    """The JSONPath equivalent of one of Katib's GJSON condition forms (module docstring)."""
    head, pipe, rest = text.partition("|")
    segments = _split(head)
    filters: list[str] = []
    path: list[str] = []
    this = False
    first = False  # a first-match query was read: no query may follow it
    for segment in segments:
        match = _FILTER.match(segment)
        if match:
            if first:
                raise ConditionError(f"GJSON {text!r}: a query after a first-match #(...) is not "
                                     "supported; end the earlier one with '#' (all matches)")
            first = not match.group("all")
            filters.append(_query(match.group("query"), text))
        elif segment == "[@this]":
            if filters or this:
                raise ConditionError(f"GJSON {text!r}: [@this] after a query is not supported")
            this = True
        elif filters:
            raise ConditionError(f"GJSON {text!r}: a path after a query is not supported; "
                                 "write it as JSONPath")
        elif re.fullmatch(r"[A-Za-z_][\w-]*", segment):
            path.append(segment)
        else:
            raise ConditionError(f"GJSON {text!r}: segment {segment!r} is not supported; "
                                 "write the condition as JSONPath")
    for part in (rest.split("|") if pipe else []):
        match = _FILTER.match(part.strip())
        if not match:
            raise ConditionError(f"GJSON {text!r}: after '|' expected a query #(...)#, "
                                 f"got {part!r}")
        if first:
            raise ConditionError(f"GJSON {text!r}: a query after a first-match #(...) is not "
                                 "supported; end the earlier one with '#' (all matches)")
        first = not match.group("all")
        filters.append(_query(match.group("query"), text))
    if not filters:
        raise ConditionError(f"GJSON {text!r}: no query #(...)#; write the condition as JSONPath")
    if not path:
        raise ConditionError(f"GJSON {text!r}: a query needs a path before it")
    dotted = ".".join(path)
    if this:
        tests = " && ".join(f"@.{dotted}.{f}" for f in filters)
        return f"$[?({tests})]"
    return f"{dotted}[?({' && '.join('@.' + f for f in filters)})]"


def _split(text: str) -> list[str]:
    """Split on dots outside ``#(...)`` and ``[...]``."""
    out: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "." and depth == 0:
            out.append(current)
            current = ""
        else:
            current += char
    out.append(current)
    return [segment for segment in out if segment != ""]


def _query(query: str, text: str) -> str:
    match = _QUERY.match(query)
    if not match:
        raise ConditionError(f"GJSON {text!r}: query {query!r} is not supported; "
                             "expected key==\"value\" (or !=, <, <=, >, >=)")
    return f"{match.group('key')}{match.group('op')}{match.group('value')}"


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", [], {})
