"""Checkpoints at a URI: written atomically, listed, loaded, retained and collected.

Layout under the store's root (a local path or any fsspec URI)::

    <root>/ckpt-000001/...files...          a checkpoint
    <root>/ckpt-000001/_COMPLETE.json       its completion marker: the metadata, written last
    <root>/.tmp-<random>/                   a save in progress (never read)

A save fills a temporary directory, flushes every file, renames the directory into place and
only then writes the marker (itself written to a temporary name and renamed, where the file
system can rename; a single PUT on an object store). A reader trusts only directories with a
readable marker, so a crash at any point leaves either the previous state or the new, complete
checkpoint as the latest. Sequence numbers order checkpoints; ``step`` is the run's own, and
optional.

Retention (``Retention``) keeps the newest ``keep_last`` complete checkpoints and, with a
``metric``, the best ``keep_best`` by it; ``protect`` names checkpoints never removed (the one
results.yaml points at, the one a run resumes from). ``gc`` also removes directories without a
marker and temporary directories older than ``stale_seconds``.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from pipetune.errors import ContractError, UsageError

MARKER = "_COMPLETE.json"
PREFIX = "ckpt-"
TMP_PREFIX = ".tmp-"
FORMAT = "pipetune.dev/checkpoint-v1"


@dataclass(frozen=True)
class Retention:
    """Which complete checkpoints survive collection."""

    keep_last: int = 3
    keep_best: int = 0
    metric: str | None = None
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.keep_last < 1:
            raise UsageError(f"keep_last: expected 1 or more (the newest is always kept), got {self.keep_last}")
        if self.keep_best < 0:
            raise UsageError(f"keep_best: expected 0 or more, got {self.keep_best}")
        if self.keep_best and not self.metric:
            raise UsageError("keep_best: needs a metric to rank checkpoints by")
        if self.mode not in ("max", "min"):
            raise UsageError(f"mode: expected max or min, got {self.mode!r}")


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint directory as a listing sees it."""

    name: str
    uri: str
    sequence: int
    complete: bool
    step: int | None = None
    created: float | None = None
    size: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Why the marker could not be read, for a directory that has one.
    problem: str | None = None

    def metric(self, name: str) -> float | None:
        value = (self.metadata.get("metrics") or {}).get(name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class CheckpointStore:
    """The checkpoints of one entity (a run, a trial) under ``uri``."""

    def __init__(self, uri: str | os.PathLike[str], retention: Retention | None = None, **storage: Any) -> None:
        self.uri = str(uri).rstrip("/") or "/"
        self.fs, self.root = fsspec.core.url_to_fs(self.uri, **storage)
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        self.retention = retention or Retention()

    # -- reading -------------------------------------------------------------------------------

    def list(self) -> builtins.list[CheckpointInfo]:
        """Every checkpoint directory, complete or not, oldest first (temporary ones left out)."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry.get("type") != "directory" or not name.startswith(PREFIX):
                continue
            try:
                sequence = int(name[len(PREFIX):])
            except ValueError:
                continue
            found.append(self._info(name, sequence))
        return sorted(found, key=lambda info: info.sequence)

    def latest(self) -> CheckpointInfo | None:
        """The newest complete checkpoint, or None."""
        complete = [info for info in self.list() if info.complete]
        return complete[-1] if complete else None

    def get(self, name_or_uri: str) -> CheckpointInfo:
        """A complete checkpoint by its name (``ckpt-000003``) or URI; ``ContractError`` naming
        it when there is none."""
        name = str(name_or_uri).rstrip("/").rsplit("/", 1)[-1]
        info = next((i for i in self.list() if i.name == name), None)
        if info is None or not info.complete:
            why = "does not exist" if info is None else f"is not complete ({info.problem or 'no ' + MARKER})"
            raise ContractError(f"checkpoint {name_or_uri}: {why}")
        return info

    def load(self, info: CheckpointInfo | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
        """A local directory holding the checkpoint's files (the checkpoint itself when the
        store is local; a downloaded copy otherwise)."""
        info = info or self.latest()
        if info is None:
            raise ContractError(f"{self.uri}: no complete checkpoint to load")
        path = f"{self.root}/{info.name}"
        if self.local:
            return Path(path)
        target = Path(cache_dir or tempfile.mkdtemp(prefix="pipetune-checkpoint-")) / info.name
        if not (target / MARKER).exists():
            self.fs.get(path + "/", str(target) + "/", recursive=True)
        return target

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def writing(self, step: int | None = None, **metadata: Any) -> Iterator[Path]:
        """Yield a local directory to fill; when the block ends without an exception, it
        becomes the newest checkpoint (see the module docstring), then retention runs.
        The new checkpoint's ``CheckpointInfo`` is ``self.last_saved``."""
        if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
            raise UsageError(f"checkpoint step: expected a whole number >= 0, got {step!r}")
        _check_json(metadata)
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.root))
        else:
            staging = Path(tempfile.mkdtemp(prefix="pipetune-checkpoint-"))
        try:
            yield staging
            self.last_saved = self._publish(staging, step, metadata)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.collect()

    def save(self, source: str | os.PathLike[str], step: int | None = None, **metadata: Any) -> CheckpointInfo:
        """Make a checkpoint of a copy of ``source`` (a directory or one file)."""
        source = Path(source)
        if not source.exists():
            raise UsageError(f"checkpoint source {source}: does not exist")
        with self.writing(step, **metadata) as directory:
            if source.is_dir():
                shutil.copytree(source, directory, dirs_exist_ok=True)
            else:
                shutil.copy2(source, directory / source.name)
        return self.last_saved

    def _publish(self, staging: Path, step: int | None, metadata: Mapping[str, Any]) -> CheckpointInfo:
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files)
        if self.local:
            for path in files:
                _fsync(path)
            _fsync_dir(staging)
        sequence = self._last_sequence() + 1
        name = f"{PREFIX}{sequence:06d}"
        target = f"{self.root}/{name}"
        marker = {
            "format": FORMAT,
            "name": name,
            "sequence": sequence,
            "step": step,
            "created": time.time(),
            "size": size,
            "files": len(files),
            "metadata": dict(metadata),
        }
        text = json.dumps(marker, indent=2, sort_keys=True) + "\n"
        if self.local:
            os.rename(staging, target)  # atomic on one file system; the marker comes after
            _fsync_dir(Path(self.root))
            staging.mkdir()  # for the caller's cleanup
            _write_marker_local(Path(target), text)
        else:
            self.fs.put(str(staging) + "/", target + "/", recursive=True)
            with self.fs.open(f"{target}/{MARKER}", "w") as handle:  # one PUT: all or nothing
                handle.write(text)
        return self._info(name, sequence)

    # -- collection ----------------------------------------------------------------------------

    def plan_collection(
        self, protect: set[str] | None = None, stale_seconds: float = 3600.0
    ) -> builtins.list[CheckpointInfo | str]:
        """What ``collect`` would remove: checkpoints retention drops, directories without a
        readable marker, and temporary directories older than ``stale_seconds`` (their paths)."""
        protect = {str(p).rstrip("/").rsplit("/", 1)[-1] for p in (protect or set())} | _resuming()
        infos = self.list()
        complete = [i for i in infos if i.complete]
        keep = {i.name for i in complete[-self.retention.keep_last:]}
        metric = self.retention.metric
        if self.retention.keep_best and metric:
            ranked = [i for i in complete if i.metric(metric) is not None]
            sign = -1.0 if self.retention.mode == "max" else 1.0
            ranked.sort(key=lambda i: (sign * (i.metric(metric) or 0.0), -i.sequence))
            keep |= {i.name for i in ranked[: self.retention.keep_best]}
        doomed: list[CheckpointInfo | str] = [
            i for i in infos if i.name not in keep and i.name not in protect and (i.complete or not self._fresh(i))
        ]
        doomed += self._stale_temporaries(stale_seconds)
        return doomed

    def collect(self, protect: set[str] | None = None, stale_seconds: float = 3600.0) -> builtins.list[str]:
        """Remove what ``plan_collection`` lists; returns their URIs."""
        removed = []
        for item in self.plan_collection(protect, stale_seconds):
            path = item.uri if isinstance(item, CheckpointInfo) else item
            local_path = path if isinstance(item, str) else f"{self.root}/{item.name}"
            if isinstance(item, CheckpointInfo) and item.complete:
                # The marker goes first: a crash mid-removal leaves an incomplete directory,
                # which no reader trusts and the next collection removes.
                try:
                    self.fs.rm(f"{local_path}/{MARKER}")
                except FileNotFoundError:
                    pass
            self.fs.rm(local_path, recursive=True)
            removed.append(path)
        return removed

    # -- helpers -------------------------------------------------------------------------------

    def _last_sequence(self) -> int:
        """The highest sequence number taken, from the directory names alone (no marker reads)."""
        try:
            names = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return 0
        numbers = []
        for path in names:
            name = str(path).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(PREFIX) and name[len(PREFIX):].isdigit():
                numbers.append(int(name[len(PREFIX):]))
        return max(numbers, default=0)

    def _info(self, name: str, sequence: int) -> CheckpointInfo:
        uri = f"{self.uri}/{name}"
        try:
            with self.fs.open(f"{self.root}/{name}/{MARKER}", "r") as handle:
                text = handle.read()
        except FileNotFoundError:
            return CheckpointInfo(name, uri, sequence, False, size=self._size(name))
        try:
            marker = json.loads(text)
            if not isinstance(marker, dict) or marker.get("format") != FORMAT:
                raise ValueError(f"expected format {FORMAT}")
            metadata = marker.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise ValueError("metadata is not a map")
        except ValueError as exc:
            return CheckpointInfo(name, uri, sequence, False, size=self._size(name),
                                  problem=f"{MARKER} is unreadable: {exc}")
        return CheckpointInfo(
            name, uri, sequence, True,
            step=marker.get("step"), created=marker.get("created"), size=marker.get("size"),
            metadata=metadata,
        )

    def _size(self, name: str) -> int | None:
        try:
            return int(self.fs.du(f"{self.root}/{name}"))
        except (OSError, ValueError):
            return None

    def _fresh(self, info: CheckpointInfo) -> bool:
        """An incomplete directory younger than a minute may be a save about to write its
        marker; the next collection takes it if it stays incomplete."""
        if info.problem:
            return False
        path = f"{self.root}/{info.name}"
        try:
            if self.local:
                modified = self.fs.modified(path).timestamp()
            else:
                # An object store has no directories: the newest object under the prefix says
                # when the save last wrote (an upload still in progress is recent).
                found = self.fs.find(path, detail=True).values()
                stamps = [_timestamp(entry) for entry in found]
                modified = max((stamp for stamp in stamps if stamp is not None), default=0.0)
        except (OSError, NotImplementedError, AttributeError):
            return False
        return time.time() - modified < 60

    def _stale_temporaries(self, stale_seconds: float) -> builtins.list[str]:
        if not self.local:
            return []
        stale = []
        for path in Path(self.root).glob(TMP_PREFIX + "*"):
            try:
                if time.time() - path.stat().st_mtime > stale_seconds:
                    stale.append(str(path))
            except FileNotFoundError:
                continue
        return stale


def _timestamp(entry: Mapping[str, Any]) -> float | None:
    """An object's modification time from an fsspec listing entry, as seconds."""
    for key in ("LastModified", "mtime", "last_modified", "updated"):
        value = entry.get(key)
        if value is not None and hasattr(value, "timestamp"):
            return float(value.timestamp())
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _resuming() -> set[str]:
    """The checkpoint this process resumes from (``PIPETUNE_RESUME_FROM``): never collected."""
    value = os.environ.get("PIPETUNE_RESUME_FROM", "").strip()
    return {value.rstrip("/").rsplit("/", 1)[-1]} if value else set()


def _check_json(metadata: Mapping[str, Any]) -> None:
    metrics = metadata.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        raise UsageError(f"checkpoint metadata metrics: expected a map of numbers, got {metrics!r}")
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise UsageError(f"checkpoint metadata metrics.{key}: expected a finite number, got {value!r}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"checkpoint metadata: expected JSON values (and finite numbers): {exc}") from None


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_marker_local(directory: Path, text: str) -> None:
    temporary = directory / f".{MARKER}.{uuid.uuid4().hex}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / MARKER)
    _fsync_dir(directory)
