"""Where a component puts an artifact, and how results.yaml refers to it."""

from __future__ import annotations

import os
from pathlib import Path

from pipetune.contract._results import outputs_dir


def artifact_dir(path: str | os.PathLike[str] | None, name: str) -> Path:
    """The directory for artifact ``name``: its ``outputPath`` when the engine gave one, else
    ``<outputs dir>/<name>``. Created if needed."""
    directory = Path(path) if path else outputs_dir() / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def artifact_ref(path: str | os.PathLike[str]) -> str:
    """How results.yaml names ``path``: relative to the outputs directory when inside it
    (a directory gets a trailing ``/``), else absolute."""
    target = Path(path).resolve()
    relative = os.path.relpath(target, outputs_dir().resolve())
    if relative.startswith(".."):
        return str(target)
    return relative + "/" if target.is_dir() else relative
