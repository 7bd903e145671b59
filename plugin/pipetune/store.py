"""The run store: every run is recorded in an embedded SQLite database.

The state directory (default ``.pipetune/``) holds ``runs.db`` and one folder per run,
``runs/<id>/outputs`` and ``runs/<id>/logs``. One connection, shared by threads under a lock, is
kept open for writes; several processes may use the same store at once (SQLite's own locking,
WAL). A process that only reads opens it read-only, and writes nothing (see ``RunStore``).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipetune.atomic import make_directories
from pipetune.errors import RunError, UsageError

DEFAULT_STATE_DIR = ".pipetune"
#: The environment variable that sets how long the store waits for a lock, in seconds.
TIMEOUT_ENV = "PIPETUNE_STORE_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
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
#: Rows of a query (named here: inside ``RunStore``, ``list`` is its method).
_Rows = list[sqlite3.Row]


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
    """Runs recorded under a state directory.

    Reads (``get``, ``find``, ``list``) in a process that has written nothing yet open the
    database read-only (a ``mode=ro`` URI): they never switch its journal mode, set its
    version or create a file, so a store on a read-only file system, or one this user may
    not write, can still be listed. The first write opens the one writable connection, which
    reads go through from then on. Every failure of the database or its files (corrupt, locked
    by another process past ``timeout`` seconds, read-only, a full disk) is a ``RunError``
    naming ``runs.db``; a store newer than this pipetune is a ``UsageError``.
    """

    def __init__(self, state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR, timeout: float | None = None) -> None:
        # Absolute, so recorded paths stay valid from any working directory.
        self.state_dir = Path(state_dir).absolute()
        self.path = self.state_dir / "runs.db"
        #: How long a statement waits for another process's lock before it fails (seconds).
        self.timeout = busy_timeout() if timeout is None else timeout
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run: ``outputs/`` and ``logs/`` live in it."""
        return self.state_dir / "runs" / run_id

    def create(self, record: RunRecord) -> RunRecord:
        row = _to_row(record)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._write(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(row.values()))
        return record

    def update(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        row = _to_row(fields)
        assignments = ", ".join(f"{name} = ?" for name in row)
        self._write(f"UPDATE runs SET {assignments} WHERE id = ?", [*row.values(), run_id])

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix; ``UsageError`` otherwise."""
        if not self.path.exists():
            raise UsageError(f"no run {run_id!r}: {self.path} holds no runs yet")
        rows = self._read(
            "SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 3", (len(run_id), run_id)
        )
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
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _from_row(rows[0]) if rows else None

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
        return [_from_row(row) for row in self._read(query, params)]

    # -- connections -----------------------------------------------------------------------------

    def _write(self, statement: str, params: Sequence[Any]) -> None:
        """One statement through the writable connection (its own transaction)."""
        with self._lock:
            db = self._writer()
            with self._errors("write"):
                db.execute(statement, params)

    def _read(self, query: str, params: Sequence[Any]) -> _Rows:
        """A query's rows: through the writable connection once there is one, else read-only."""
        with self._lock:
            if self._db is not None:
                with self._errors("read"):
                    return self._db.execute(query, params).fetchall()
        # A file nobody writes (no -wal, no -journal beside it) is read as immutable: a
        # read-only WAL connection would otherwise create (and leave) -wal and -shm files. A
        # writer that appeared meanwhile would have made one, and then it is read again, through
        # SQLite's locks.
        settled = not self._write_in_progress()
        rows = self._read_only(query, params, immutable=settled)
        if settled and self._write_in_progress():
            rows = self._read_only(query, params, immutable=False)
        return rows

    def _write_in_progress(self) -> bool:
        return any(self.path.with_name(self.path.name + suffix).exists() for suffix in ("-wal", "-journal"))

    def _read_only(self, query: str, params: Sequence[Any], immutable: bool) -> _Rows:
        uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=ro" + ("&immutable=1" if immutable else "")
        with self._errors("read"):
            db = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            try:
                db.row_factory = sqlite3.Row
                if self._version(db) < _SCHEMA_VERSION and not _has_runs(db):
                    return []  # an empty file: a store created and never written
                return db.execute(query, params).fetchall()
            finally:
                db.close()

    def _writer(self) -> sqlite3.Connection:
        """The store's one writable connection, opened on first use and shared by threads
        under the lock (held by the caller).

        Opening and closing a connection per statement costs a WAL checkpoint at every close
        (about 2 ms a run); one long-lived connection writes each change as one small
        transaction. Other processes use the same file safely through SQLite's own locking.
        """
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        with self._errors("open"):
            make_directories(self.state_dir)
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            try:
                db.row_factory = sqlite3.Row
                if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                # WAL with NORMAL sync: a crash of this process loses nothing; a power cut may
                # lose the last writes, never the database. The tuner's journal, not this
                # store, is the record an experiment resumes from.
                db.execute("PRAGMA synchronous=NORMAL")
                if self._version(db) < _SCHEMA_VERSION:
                    db.executescript(_SCHEMA)
                    db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            except BaseException:
                db.close()
                raise
        return db

    def _version(self, db: sqlite3.Connection) -> int:
        """The store's schema version (0: a new file, or one a pipetune older than versions
        made); ``UsageError`` when it is newer than this pipetune reads."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > _SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: run store schema {version} is newer than this pipetune "
                f"reads ({_SCHEMA_VERSION}); upgrade pipetune"
            )
        return version

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """The database's and the file system's errors as one line naming the store."""
        try:
            yield
        except sqlite3.Error as exc:
            raise RunError(self._explain(exc, doing)) from None
        except OSError as exc:
            where = exc.filename or self.path
            raise RunError(f"{where}: can't {doing} the run store: {exc.strerror or exc}") from None

    def _explain(self, exc: sqlite3.Error, doing: str) -> str:
        code = str(getattr(exc, "sqlite_errorname", "") or "")
        text = str(exc)
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return (
                f"{self.path}: the run store is locked by another process; gave up after "
                f"{self.timeout:g} s (${TIMEOUT_ENV} sets how long to wait)"
            )
        if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "not a database" in text or "malformed" in text:
            return (
                f"{self.path}: the run store is corrupt ({text}); move it aside and pipetune starts "
                "a new one (the runs' folders are kept)"
            )
        if code.startswith("SQLITE_FULL") or "disk is full" in text:
            return f"{self.path}: can't {doing} the run store: the disk is full"
        if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or "readonly" in text:
            if doing == "read":
                return f"{self.path}: can't read the run store ({text})"
            return f"{self.path}: can't write the run store: it is read-only, or this user may not write it ({text})"
        if code.startswith("SQLITE_IOERR"):
            return f"{self.path}: can't {doing} the run store: {text} (a full disk, a file size limit or a failing device)"
        return f"{self.path}: can't {doing} the run store: {text}"

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def busy_timeout() -> float:
    """How long the run store waits for another process's lock: ``$PIPETUNE_STORE_TIMEOUT``
    seconds, else 30."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"${TIMEOUT_ENV}: expected a number of seconds, got {text!r}")
    return value


def _has_runs(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone() is not None


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
