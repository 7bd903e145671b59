"""YAML in and out, safely: ``safe_load`` only, and errors that name the file and line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from pipetune.errors import SpecError


def load_yaml_file(
    path: str | os.PathLike[str], error: type[Exception] = SpecError, first: bool = False
) -> Any:
    """Parse one YAML document from ``path``; raise ``error`` naming the file on any problem.
    ``first``: the file may hold several documents (a compiled KFP pipeline with platform
    settings after it); the first is returned."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{file}: file not found") from None
    except IsADirectoryError:
        raise error(f"{file}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: cannot be read: {exc}") from None
    return load_yaml_text(text, str(file), error, first)


def load_yaml_text(text: str, source: str, error: type[Exception] = SpecError, first: bool = False) -> Any:
    """Parse YAML text; ``source`` names where it came from in the error message."""
    try:
        if first:
            return next(iter(yaml.safe_load_all(text)), None)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _malformed(exc, source, error) from None


def _malformed(exc: yaml.YAMLError, source: str, error: type[Exception]) -> Exception:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return error(f"{source}: malformed YAML{where}: {problem}")


def load_yaml_documents(path: Path, error: type[Exception] = SpecError) -> list[Any]:
    """Every YAML document in ``path`` (empty ones left out); ``error`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise _malformed(exc, str(path), error) from None


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
