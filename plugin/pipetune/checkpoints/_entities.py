"""Which checkpoint stores a target names: a store itself, a run, or an experiment.

Entities nest: an experiment's trials each have a store (``<dir>/checkpoints/trial-NNNN``),
a run has one (``<outputs>/checkpoints``, unless it was given another). ``find_entities``
turns what a user types into those stores, each with the checkpoint its results.yaml points
at (never collected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipetune.checkpoints._store import MARKER, PREFIX
from pipetune.contract import RESULTS_FILE, read_results
from pipetune.errors import ContractError, UsageError

if TYPE_CHECKING:
    from pipetune.store import RunStore


@dataclass(frozen=True)
class Entity:
    """One store of checkpoints and what owns it."""

    name: str
    uri: str
    protect: frozenset[str] = field(default_factory=frozenset)


def find_entities(target: str, store: RunStore | None = None) -> list[Entity]:
    """The stores ``target`` names: an fsspec URI or path of a store (or of a folder of
    stores), an experiment directory, or a run id (or unique prefix) in the run store.
    ``UsageError`` naming the target when it is none of these."""
    if "://" in target:
        return [Entity(target, target)]
    path = Path(target)
    if path.is_dir():
        return _from_directory(path)
    if store is not None:
        record = store.find(target)
        if record is not None and record.outputs_dir:
            outputs = Path(record.outputs_dir)
            if (outputs / "journal.jsonl").exists():
                return _from_directory(outputs)
            entity = Entity(f"run {record.id}", str(outputs / "checkpoints"), _pointed_at(outputs))
            return [entity]
    raise UsageError(
        f"{target}: expected a checkpoint store (a path or URI), an experiment directory or a run id"
    )


def _from_directory(path: Path) -> list[Entity]:
    if _is_store(path):
        return [Entity(str(path), str(path), _pointed_at(path.parent))]
    if (path / "checkpoints").is_dir() and (path / "journal.jsonl").exists():
        trials = sorted(p for p in (path / "checkpoints").iterdir() if p.is_dir())
        return [Entity(f"trial {p.name.removeprefix('trial-')}", str(p)) for p in trials]
    if (path / "checkpoints").is_dir():
        return [Entity(str(path), str(path / "checkpoints"), _pointed_at(path))]
    stores = sorted(p for p in path.iterdir() if p.is_dir() and _is_store(p))
    if stores:
        return [Entity(p.name, str(p)) for p in stores]
    raise UsageError(f"{path}: holds no checkpoints (expected {PREFIX}* folders, or an experiment or run directory)")


def _is_store(path: Path) -> bool:
    return any(child.name.startswith(PREFIX) or child.name.startswith(".tmp-") for child in path.iterdir())


def _pointed_at(outputs: Path) -> frozenset[str]:
    """The checkpoint a results.yaml in ``outputs`` points at, by name."""
    if not (outputs / RESULTS_FILE).exists():
        return frozenset()
    try:
        checkpoint = read_results(outputs).checkpoint
    except ContractError:
        return frozenset()
    return frozenset({checkpoint.uri.rstrip("/").rsplit("/", 1)[-1]}) if checkpoint else frozenset()


__all__ = ["MARKER", "Entity", "find_entities"]
