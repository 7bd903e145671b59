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
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
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
_Records = list["RunRecord"]
_Paths = list[Path]
_Lines = list[str]


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

    def create_many(self, records: Sequence[RunRecord]) -> None:
        """Insert ``records`` in one transaction: all of them, or none on an error."""
        if not records:
            return
        rows = [_to_row(record) for record in records]
        columns = ", ".join(rows[0])
        marks = ", ".join("?" for _ in rows[0])
        with self._lock:
            db = self._writer()
            with self._errors("write"):
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany(f"INSERT INTO runs ({columns}) VALUES ({marks})", [list(r.values()) for r in rows])
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise

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

    def query(self, query: RunQuery) -> _Records:
        """The runs ``query`` selects, in its order (see ``RunQuery``)."""
        if not self.path.exists():
            return []
        where, params = query.where()
        sql = "SELECT * FROM runs" + (f" WHERE {where}" if where else "")
        sql += f" ORDER BY {query.order_by()}"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [_from_row(row) for row in self._read(sql, params)]

    def children(self, parent_ids: Sequence[str]) -> dict[str, _Records]:
        """Each parent's children, oldest first, in one query per 500 parents."""
        found: dict[str, _Records] = {pid: [] for pid in parent_ids}
        if not self.path.exists() or not parent_ids:
            return found
        ids = list(parent_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self._read(
                f"SELECT * FROM runs WHERE parent_id IN ({marks}) ORDER BY created_at, id", chunk
            ):
                record = _from_row(row)
                found[record.parent_id or ""].append(record)
        return found

    def count(self) -> int:
        """How many runs the store holds (children included)."""
        if not self.path.exists():
            return 0
        rows = self._read("SELECT count(*) FROM runs", ())
        return int(rows[0][0]) if rows else 0  # no rows: a store file created and never written

    def delete(self, run_ids: Sequence[str], *, dry_run: bool = False, force: bool = False) -> Removal:
        """Remove runs, their children (and theirs), their folders under ``runs/`` and, for an
        experiment or pipeline whose folder lies inside the state directory, that folder.

        Rows go first, in one transaction, then the folders: a crash between leaves folders
        without a row, which ``check`` reports and ``orphans`` finds, never a row whose folder
        is half gone. Nothing outside the state directory is removed (a folder recorded
        elsewhere, a symlink pointing out: the link alone goes). ``dry_run`` removes nothing
        and says what would go. ``freed`` counts what ``du`` counts: allocated blocks, each
        hard-linked file once. A run still pending or running is refused (``UsageError``)
        unless ``force``: its process may still write there.
        """
        records = self._closure(run_ids)
        active = [r for r in records if r.status in ACTIVE]
        if active and not force:
            raise UsageError(
                f"run {active[0].id} is {active[0].status}; stop it first, or --force if it is a "
                "leftover of a process that died"
            )
        folders = [folder for record in records for folder in self.folders(record)]
        freed = disk_usage(folders)
        if dry_run or not records:
            return Removal(records, folders, freed, dry_run)
        ids = [record.id for record in records]
        with self._lock:
            db = self._writer()
            with self._errors("write"):
                db.execute("BEGIN IMMEDIATE")
                try:
                    for start in range(0, len(ids), 500):
                        chunk = ids[start:start + 500]
                        db.execute(f"DELETE FROM runs WHERE id IN ({', '.join('?' for _ in chunk)})", chunk)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        for folder in folders:
            remove_tree(folder, self.state_dir)
        return Removal(records, folders, freed, dry_run)

    def folders(self, record: RunRecord) -> _Paths:
        """The folders a run owns inside the state directory: ``runs/<id>`` and, when it lies
        inside the state directory too, its recorded outputs directory (an experiment's)."""
        found: _Paths = []
        candidates = [self.run_dir(record.id)]
        if record.outputs_dir:
            candidates.append(Path(record.outputs_dir))
        for path in candidates:
            if not (path.is_dir() or path.is_symlink()):
                continue
            if not inside(path, self.state_dir) or path == self.state_dir:
                continue
            if any(path == other or inside(path, other) for other in found):
                continue
            found = [other for other in found if not inside(other, path)] + [path]
        return found

    def _closure(self, run_ids: Sequence[str]) -> _Records:
        """The runs named (each resolved as ``get`` does) and all their descendants."""
        records: dict[str, RunRecord] = {}
        frontier = []
        for run_id in run_ids:
            record = self.get(run_id)
            if record.id not in records:
                records[record.id] = record
                frontier.append(record.id)
        while frontier:
            children = self.children(frontier)
            frontier = []
            for kids in children.values():
                for child in kids:
                    if child.id not in records:
                        records[child.id] = child
                        frontier.append(child.id)
        return list(records.values())

    def orphans(self, older_than: float = 3600.0, now: float | None = None) -> _Paths:
        """Run folders (``runs/<id>``) with no row, untouched for ``older_than`` seconds: what a
        crash mid-delete leaves. Young ones are skipped: a pipeline task's folder is made just
        before its row."""
        root = self.state_dir / "runs"
        if not root.is_dir():
            return []
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        known = self._ids()
        cutoff = (time.time() if now is None else now) - older_than
        return [p for p in folders if p.name not in known and p.stat().st_mtime < cutoff]

    def _ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {row[0] for row in self._read("SELECT id FROM runs", ())}

    def check(self) -> _Lines:
        """What is inconsistent in the store, one line each (empty: all is well): SQLite's own
        integrity check, runs whose parent is gone, run folders without a run."""
        if not self.path.exists():
            return []
        problems = [
            f"{self.path}: {row[0]}" for row in self._read("PRAGMA integrity_check", ()) if row[0] != "ok"
        ]
        for row in self._read(
            "SELECT id, parent_id FROM runs WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM runs)", ()
        ):
            problems.append(f"run {row[0]}: its parent {row[1]} is not in the store")
        problems += [f"{path}: a run folder with no run in the store" for path in self.orphans(older_than=0.0)]
        return problems

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


#: The statuses a run may have (``engines.base.Phase`` values), for checking filters.
STATUSES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
#: Statuses of a run that may still be writing its folder.
ACTIVE = ("Pending", "Running")
#: What ``RunQuery.order`` accepts, and the SQL each means (newest or largest first).
ORDERS = {
    "created": "created_at DESC, id DESC",
    "started": "coalesce(started_at, created_at) DESC, id DESC",
    "duration": "(finished_at - started_at) IS NULL, (finished_at - started_at) DESC, id DESC",
    "status": "status, created_at DESC, id DESC",
    "component": "component, created_at DESC, id DESC",
}


@dataclass(frozen=True)
class RunQuery:
    """Which runs to list: every field narrows (None: any).

    ``component`` is a glob (``train-*``) or a plain substring; ``search`` matches the id,
    component, status, reason, message or parameters (case-insensitive substring);
    ``experiment`` selects the trials of the experiment of that name; ``metric`` orders by
    that metric, largest first (``-name``: smallest first), runs without it last.
    """

    status: tuple[str, ...] = ()
    component: str | None = None
    parent_id: str | None = None
    top_level: bool = False
    experiment: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None
    order: str = "created"
    metric: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.status if s not in STATUSES]
        if unknown:
            raise UsageError(f"status {unknown[0]!r}: expected one of {', '.join(STATUSES)}")
        if self.order not in ORDERS:
            raise UsageError(f"sort {self.order!r}: expected one of {', '.join(ORDERS)}, or metric:NAME")
        if self.limit is not None and self.limit < 0:
            raise UsageError(f"limit {self.limit}: expected 0 or more")

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (without the word) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.status:
            clauses.append(f"status IN ({', '.join('?' for _ in self.status)})")
            params += list(self.status)
        if self.component:
            if any(c in self.component for c in "*?["):
                clauses.append("component GLOB ?")
                params.append(self.component)
            else:
                clauses.append("instr(lower(component), lower(?)) > 0")
                params.append(self.component)
        if self.parent_id is not None:
            clauses.append("parent_id = ?")
            params.append(self.parent_id)
        elif self.experiment is not None:
            clauses.append("parent_id IN (SELECT id FROM runs WHERE component = ?)")
            params.append(f"experiment/{self.experiment}")
        elif self.top_level:
            clauses.append("parent_id IS NULL")
        if self.since is not None:
            clauses.append("created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("created_at < ?")
            params.append(self.until)
        if self.search:
            fields = ("id", "component", "status", "coalesce(reason, '')", "coalesce(message, '')", "parameters")
            clauses.append("(" + " OR ".join(f"instr(lower({f}), lower(?)) > 0" for f in fields) + ")")
            params += [self.search] * len(fields)
        return " AND ".join(clauses), params

    def order_by(self) -> str:
        if self.metric:
            name, descending = (self.metric[1:], False) if self.metric.startswith("-") else (self.metric, True)
            path = "$." + json.dumps(name)
            return (f"json_extract(metrics, '{_sql_text(path)}') IS NULL, "
                    f"json_extract(metrics, '{_sql_text(path)}') {'DESC' if descending else 'ASC'}, id DESC")
        return ORDERS[self.order]


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


@dataclass(frozen=True)
class Removal:
    """What ``RunStore.delete`` removed (or, with ``dry_run``, would remove)."""

    records: list[RunRecord]
    folders: list[Path]
    #: Bytes on disk the folders held, as ``du`` counts them.
    freed: int
    dry_run: bool = False


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (as written, its last part not followed) lies under ``root``."""
    try:
        parent = Path(os.path.realpath(path.parent))
        Path(parent / path.name).relative_to(Path(os.path.realpath(root)))
    except ValueError:
        return False
    return True


def disk_usage(paths: Sequence[Path]) -> int:
    """Bytes allocated to ``paths`` and everything under them, as ``du -s -B1`` counts: each
    file's blocks once however many hard links it has, directories included, symlinks as
    themselves (never followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        for path in _walk(root):
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += info.st_blocks * 512
    return total


def _walk(root: Path) -> Iterator[Path]:
    yield root
    if root.is_symlink() or not root.is_dir():
        return
    for current, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            yield Path(current) / name


def remove_tree(path: Path, root: Path) -> None:
    """Remove ``path`` (a folder, or a symlink as itself) when it lies under ``root``."""
    if not inside(path, root):
        raise UsageError(f"{path}: outside {root}; not removed")
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RunError(f"{exc.filename or path}: can't remove: {exc.strerror or exc}") from None


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
    # The fields as they are (``asdict`` would deep-copy each value first, only for it to be
    # JSON-encoded next): one insert per run started.
    data = {f.name: getattr(values, f.name) for f in _RECORD_FIELDS} if isinstance(values, RunRecord) else dict(values)
    return {
        name: json.dumps(value) if name in _JSON_FIELDS and value is not None else value
        for name, value in data.items()
    }


_RECORD_FIELDS = fields(RunRecord)


def _from_row(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for name in _JSON_FIELDS:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
    return RunRecord(**data)
