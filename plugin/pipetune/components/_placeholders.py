"""Resolve a component's command line: placeholders in, a plain argv out. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipetune.components._spec import ComponentSpec
from pipetune.components._types import format_value
from pipetune.errors import SpecError

# A placeholder whose input is absent resolves to this, and the argument holding it is
# dropped, as KFP does for optional inputs used outside an ``if``.
_ABSENT = object()


def resolve_command(
    spec: ComponentSpec,
    arguments: Mapping[str, Any],
    output_paths: Mapping[str, str],
    executor_input: str | None = None,
) -> list[str]:
    """The argv for one run: ``command`` then ``args`` with every placeholder resolved.

    ``arguments`` are bound values (see :meth:`ComponentSpec.bind`); an artifact input's value
    is its path or URI. ``output_paths`` gives each declared output's file or directory.
    ``executor_input`` is KFP's (its launcher substitutes it itself); elsewhere it is empty.
    """
    resolver = _Resolver(spec, arguments, output_paths, executor_input)
    argv: list[str] = []
    for node in (*spec.container.command, *spec.container.args):
        argv.extend(resolver.expand(node))
    return argv


class _Resolver:
    def __init__(
        self,
        spec: ComponentSpec,
        arguments: Mapping[str, Any],
        output_paths: Mapping[str, str],
        executor_input: str | None,
    ) -> None:
        self.spec = spec
        self.arguments = arguments
        self.output_paths = output_paths
        self.executor_input = executor_input

    def expand(self, node: Any) -> list[str]:
        """One argv element may become zero (absent, false ``if``) or several (``if``)."""
        if isinstance(node, dict) and "if" in node:
            cond = node["if"]
            branch = cond["then"] if self.condition(cond["cond"]) else cond.get("else", [])
            return [item for child in branch for item in self.expand(child)]
        value = self.value(node)
        return [] if value is _ABSENT else [value]

    def value(self, node: Any) -> Any:
        if isinstance(node, str):
            return node
        if isinstance(node, (int, float, bool)):
            return format_value(node)
        key, ref = next(iter(node.items()))
        if key == "inputValue":
            if ref not in self.arguments:
                return _ABSENT
            return format_value(self.arguments[ref])
        if key in ("inputPath", "inputUri"):
            if ref not in self.arguments:
                return _ABSENT
            return str(self.arguments[ref])
        if key in ("outputPath", "outputUri"):
            return self.output_paths[ref]
        if key == "concat":
            parts = [self.value(part) for part in ref]
            if any(part is _ABSENT for part in parts):
                return _ABSENT
            return "".join(parts)
        if key == "executorInput":
            # Outside KFP there is none: an empty argument, which the publisher's
            # --kfp-executor-input reads as "not under KFP".
            return "" if self.executor_input is None else self.executor_input
        raise SpecError(f"{self.spec.source}: placeholder {key!r} is not valid here")

    def condition(self, cond: Any) -> bool:
        if isinstance(cond, bool):
            return cond
        if isinstance(cond, str):
            return cond.strip().lower() == "true"
        if isinstance(cond, dict) and "isPresent" in cond:
            return cond["isPresent"] in self.arguments
        value = self.value(cond)
        return value is not _ABSENT and str(value).strip().lower() == "true"
