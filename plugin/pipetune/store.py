"""The run store: every run is recorded in an embedded SQLite database.

The state directory (default ``.pipetune/``) holds ``runs.db`` and one folder per run,
``runs/<id>/outputs`` and ``runs/<id>/logs``. One connection, shared by threads under a lock, is
kept open; several processes may use the same store at once (SQLite's own locking, WAL).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipetune.errors import UsageError

DEFAULT_STATE_DIR = ".pipetune"
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    component TEXT NOT NULL,
    component_path TEXT,
    parameters TEXT NOT NULL,
    engine TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    message TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    exit_code INTEGER,
    outputs_dir TEXT,
    command TEXT,
    metrics TEXT,
    outputs TEXT
);
CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent_id);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""
_JSON_FIELDS = ("parameters", "command", "metrics", "outputs")


@dataclass
class RunRecord:
    """One row of the run store."""

    id: str
    component: str
    engine: str
    status: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    component_path: str | None = None
    reason: str | None = None
    message: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    outputs_dir: str | None = None
    command: list[str] | None = None
    metrics: dict[str, float] | None = None
    outputs: dict[str, Any] | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def new_run_id() -> str:
    """A run id that sorts by creation time and is unique: ``20261123-201500-3fa2c1d0``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(4)


class RunStore:
    """Runs recorded under a state directory."""

    def __init__(self, state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR) -> None:
        # Absolute, so recorded paths stay valid from any working directory.
        self.state_dir = Path(state_dir).absolute()
        self.path = self.state_dir / "runs.db"
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run: ``outputs/`` and ``logs/`` live in it."""
        return self.state_dir / "runs" / run_id

    def create(self, record: RunRecord) -> RunRecord:
        row = _to_row(record)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as db:
            db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(row.values()))
        return record

    def update(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        row = _to_row(fields)
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*row.values(), run_id])

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix; ``UsageError`` otherwise."""
        if not self.path.exists():
            raise UsageError(f"no run {run_id!r}: {self.path} holds no runs yet")
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 3",
                (len(run_id), run_id),
            ).fetchall()
        exact = [row for row in rows if row["id"] == run_id]
        if exact:
            return _from_row(exact[0])
        if not rows:
            raise UsageError(f"no run {run_id!r} in {self.path}; `pipetune runs list` shows them")
        if len(rows) > 1:
            raise UsageError(f"run id prefix {run_id!r} is ambiguous: {rows[0]['id']}, {rows[1]['id']}, ...")
        return _from_row(rows[0])

    def find(self, run_id: str) -> RunRecord | None:
        """The run with exactly this id, or None."""
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _from_row(row) if row else None

    def list(
        self, limit: int | None = None, parent_id: str | None = None, top_level: bool = False
    ) -> list[RunRecord]:
        """Runs, newest first; with ``parent_id``, only that run's children; with
        ``top_level``, only runs that have no parent (single runs and experiments)."""
        if not self.path.exists():
            return []
        query = "SELECT * FROM runs"
        params: list[Any] = []
        if parent_id is not None:
            query += " WHERE parent_id = ?"
            params.append(parent_id)
        elif top_level:
            query += " WHERE parent_id IS NULL"
        query += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._connect() as db:
            return [_from_row(row) for row in db.execute(query, params)]

    def _connect(self) -> _Connection:
        """The store's one connection, opened on first use and shared by threads under a lock.

        Opening and closing a connection per statement costs a WAL checkpoint at every close
        (about 2 ms a run); one long-lived connection writes each change as one small
        transaction. Other processes use the same file safely through SQLite's own locking.
        """
        with self._lock:
            if self._db is None:
                self._db = self._open()
        return _Connection(self._db, self._lock)

    def _open(self) -> sqlite3.Connection:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL sync: a crash of this process loses nothing; a power cut may lose the
        # last writes, never the database. The tuner's journal, not this store, is the record
        # an experiment resumes from.
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            db.close()
            raise UsageError(
                f"{self.path}: run store schema {version} is newer than this pipetune "
                f"reads ({_SCHEMA_VERSION}); upgrade pipetune"
            )
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        return db

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class _Connection:
    """The shared connection, held under the store's lock for one group of statements."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _to_row(values: Any) -> dict[str, Any]:
    data = asdict(values) if isinstance(values, RunRecord) else dict(values)
    return {
        name: json.dumps(value) if name in _JSON_FIELDS and value is not None else value
        for name, value in data.items()
    }


def _from_row(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for name in _JSON_FIELDS:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
    return RunRecord(**data)
