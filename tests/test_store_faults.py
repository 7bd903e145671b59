"""The run store and pipetune's own files under faults: a corrupt ``runs.db``, a lock held by
another process, a read-only store, a full disk. Each is one line naming the file (exit 1),
never a traceback; readers never write; files pipetune writes get the mode ``open`` gives."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from conftest import DATA, ROOT
from pipetune.atomic import atomic_write_text
from pipetune.errors import RunError, UsageError
from pipetune.store import TIMEOUT_ENV, RunRecord, RunStore

QUADRATIC = DATA / "experiments" / "quadratic.yaml"


def _one_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The error a user sees: exit ``code`` and one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _store_with_runs(state_dir: Path) -> list[str]:
    store = RunStore(state_dir)
    parent = store.create(RunRecord(id="exp-demo-000000", component="experiment/demo", engine="local",
                                    status="Succeeded", started_at=1.0, finished_at=2.0))
    child = store.create(RunRecord(id="20261123-201500-3fa2c1d0", component="demo-0000", engine="local",
                                   status="Succeeded", parent_id=parent.id, metrics={"loss": 0.5}))
    store.close()
    return [parent.id, child.id]


def _corrupt(state_dir: Path) -> Path:
    _store_with_runs(state_dir)
    path = state_dir / "runs.db"
    path.write_bytes(b"this is not a database, it is a note somebody saved here\n" * 100)
    return path


def _experiment(tmp_path: Path) -> Path:
    """The quadratic experiment, two fast trials."""
    data = yaml.safe_load(QUADRATIC.read_text())
    data["spec"]["maxTrialCount"] = 2
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = container["command"][:6]
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _files(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file directly in ``folder``: its size, mtime and bytes."""
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.iterdir()) if p.is_file()
    }


# -- a corrupt store -------------------------------------------------------------------------------


def test_a_corrupt_store_is_one_error_naming_it(tmp_path: Path) -> None:
    path = _corrupt(tmp_path / "state")
    store = RunStore(tmp_path / "state")
    for call in (
        lambda: store.list(),
        lambda: store.get("exp"),
        lambda: store.find("exp-demo-000000"),
        lambda: store.create(RunRecord(id="x", component="c", engine="local", status="Running")),
        lambda: store.update("x", status="Failed"),
    ):
        with pytest.raises(RunError, match=rf"^{path}: the run store is corrupt \(file is not a database\)"):
            call()


def test_a_corrupt_store_on_the_command_line(cli, state_dir: Path, tmp_path: Path) -> None:
    """Issue 14: `runs list` on a corrupt runs.db was a sqlite3.DatabaseError traceback."""
    path = _corrupt(state_dir)
    for args in (("runs", "list"), ("runs", "list", "--json"), ("runs", "show", "exp")):
        line = _one_line(cli(*args))
        assert line.startswith(f"pipetune: error: {path}: the run store is corrupt")
    line = _one_line(cli("tune", str(_experiment(tmp_path)), "--dir", str(tmp_path / "exp"), "-q"))
    assert f"{path}: the run store is corrupt" in line


# -- readers do not write --------------------------------------------------------------------------


def test_readers_write_nothing(cli, state_dir: Path) -> None:
    """Issue 14: every open switched the database to WAL and wrote its version, so even
    `runs list` failed on a store it could not write. Readers now open it read-only: the
    file is untouched and no -wal or -shm file appears."""
    parent, child = _store_with_runs(state_dir)
    before = _files(state_dir)
    assert sorted(before) == ["runs.db"]
    time.sleep(0.01)
    listing = cli("runs", "list")
    assert listing.returncode == 0 and parent in listing.stdout and child in listing.stdout, listing.stderr
    assert [json.loads(line)["id"] for line in cli("runs", "list", "--json").stdout.splitlines()] == [parent, child]
    assert cli("runs", "show", child[:10]).returncode == 0
    store = RunStore(state_dir)
    assert store.get(parent).status == "Succeeded" and store.find("nothing") is None
    assert [r.id for r in store.list(parent_id=parent)] == [child]
    assert _files(state_dir) == before


def test_readers_leave_the_journal_mode_and_the_version_alone(cli, state_dir: Path) -> None:
    """A store in SQLite's rollback mode (bytes 18 and 19 of the header are 1; WAL makes them
    2) stays so, byte for byte, through every reader."""
    parent, _ = _store_with_runs(state_dir)
    db = sqlite3.connect(state_dir / "runs.db")
    assert db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    db.close()
    before = _files(state_dir)
    assert before["runs.db"][2][18:20] == b"\x01\x01"
    assert cli("runs", "list").returncode == 0
    assert cli("runs", "show", parent).returncode == 0
    assert _files(state_dir) == before


def test_an_empty_store_file_reads_as_no_runs(cli, state_dir: Path) -> None:
    """A store created and never written (a 0-byte runs.db) holds no runs, and stays so."""
    state_dir.mkdir()
    (state_dir / "runs.db").write_bytes(b"")
    result = cli("runs", "list")
    assert result.returncode == 0 and "no runs recorded" in result.stderr
    assert cli("runs", "list", "--json").stdout == ""
    assert _files(state_dir) == {"runs.db": (0, (state_dir / "runs.db").stat().st_mtime_ns, b"")}
    store = RunStore(state_dir)
    store.create(RunRecord(id="x", component="c", engine="local", status="Running"))
    assert store.get("x").status == "Running"


#: Linux's prctl(PR_CAPBSET_DROP) and the capabilities that let root ignore permissions.
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


def _without_root_powers() -> None:
    """In a child about to exec: drop the capabilities that let root write a read-only file,
    so permissions bind it as they bind any user (tests run as root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def bound_by_permissions(tmp_path: Path) -> Callable[[], None] | None:
    """What makes a child process respect file permissions: nothing for a plain user; for
    root, dropping its override capabilities (skipped where that is not allowed)."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        result = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}, 'a')"],
                                capture_output=True, preexec_fn=_without_root_powers, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("can't drop root's capabilities here")
    if result.returncode == 0:
        pytest.skip("root still writes a read-only file with its capabilities dropped")
    return _without_root_powers


def test_a_read_only_store_can_still_be_listed(
    tmp_path: Path, bound_by_permissions: Callable[[], None] | None
) -> None:
    """Issue 14: a store this user can't write (read-only permissions, or a read-only mount)
    could not even be listed. Now it lists and shows; only a write fails, in one line."""
    state = tmp_path / "state"
    parent, child = _store_with_runs(state)
    for path in (*state.rglob("*"), state):
        path.chmod(0o555 if path.is_dir() else 0o444)
    experiment = _experiment(tmp_path)

    def pipetune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pipetune", "--state-dir", str(state), *args],
            capture_output=True, text=True, timeout=120, cwd=ROOT, preexec_fn=bound_by_permissions,
        )

    try:
        before = _files(state)
        listing = pipetune("runs", "list")
        assert listing.returncode == 0 and parent in listing.stdout and child in listing.stdout, listing.stderr
        assert json.loads(pipetune("runs", "show", parent, "--json").stdout)["id"] == parent
        assert _files(state) == before
        line = _one_line(pipetune("tune", str(experiment), "--dir", str(tmp_path / "exp"), "-q"))
        assert f"{state / 'runs.db'}: can't write the run store: it is read-only" in line
        assert _files(state) == before
    finally:
        for path in (state, *state.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)


# -- a lock held by another process ----------------------------------------------------------------


@pytest.fixture
def locked(state_dir: Path) -> Iterator[sqlite3.Connection]:
    """The store, with another connection holding its write lock (BEGIN EXCLUSIVE)."""
    _store_with_runs(state_dir)
    holder = sqlite3.connect(state_dir / "runs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield holder
    finally:
        holder.rollback()
        holder.close()


def test_a_held_lock_ends_in_one_error_after_the_timeout(state_dir: Path, locked: sqlite3.Connection) -> None:
    store = RunStore(state_dir, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(RunError, match=rf"^{state_dir / 'runs.db'}: the run store is locked by another "
                                       r"process; gave up after 0\.2 s \(\$PIPETUNE_STORE_TIMEOUT"):
        store.create(RunRecord(id="x", component="c", engine="local", status="Running"))
    assert time.monotonic() - started < 10
    assert len(store.list()) == 2  # reads go on: WAL readers take no write lock
    locked.rollback()
    store.create(RunRecord(id="x", component="c", engine="local", status="Running"))
    assert store.get("x").status == "Running"


def test_a_held_lock_on_the_command_line(
    cli, state_dir: Path, tmp_path: Path, locked: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a lock held over 30 s was a `database is locked` traceback. Now `tune` gives
    up after $PIPETUNE_STORE_TIMEOUT seconds in one line, and `runs list` still answers."""
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    started = time.monotonic()
    line = _one_line(cli("tune", str(_experiment(tmp_path)), "--dir", str(tmp_path / "exp"), "-q"))
    assert f"{state_dir / 'runs.db'}: the run store is locked by another process; gave up after 0.3 s" in line
    assert time.monotonic() - started < 30
    assert cli("runs", "list").returncode == 0


def test_a_bad_store_timeout_is_a_usage_error(cli, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store_with_runs(state_dir)
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    assert "$PIPETUNE_STORE_TIMEOUT: expected a number of seconds, got 'soon'" in _one_line(cli("runs", "list"), 2)
    with pytest.raises(UsageError):
        RunStore(state_dir)


# -- an unwritable or full disk --------------------------------------------------------------------


def test_a_store_that_cannot_be_made_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the state directory should be")
    store = RunStore(tmp_path / "state")
    assert store.list() == []
    with pytest.raises(RunError, match=r"state: can't open the run store: "):
        store.create(RunRecord(id="x", component="c", engine="local", status="Running"))


def test_a_full_disk_under_the_store_is_one_error(tmp_path: Path) -> None:
    """RLIMIT_FSIZE, in a process of its own, stands in for a full disk: the kernel refuses
    to grow the store's files."""
    script = f"""
import os, resource, signal
from pipetune.errors import RunError
from pipetune.store import RunRecord, RunStore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
store = RunStore({str(tmp_path / "state")!r})
store.create(RunRecord(id="a", component="c", engine="local", status="Running"))
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(store.path), resource.RLIM_INFINITY))
try:
    for i in range(1000):
        store.create(RunRecord(id=f"b{{i}}", component="c" * 4000, engine="local", status="Running"))
except RunError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"{tmp_path / 'state' / 'runs.db'}: can't write the run store: ")


def test_a_full_disk_under_the_journal_fails_the_tune_in_one_line(cli, state_dir: Path, tmp_path: Path) -> None:
    """The journal's disk fills up mid-record while trials run: one line naming the journal,
    the journal left whole (no half record), and the experiment's run says why it stopped
    instead of Running. The same command resumes once there is room."""
    directory = tmp_path / "exp"
    script = f"""
import errno, os, sys
from pipetune.cli import main
real, seen = os.write, [0]
def write(fd, data):
    if os.readlink(f"/proc/self/fd/{{fd}}").endswith("journal.jsonl"):
        seen[0] += 1
        if seen[0] == 6:
            return real(fd, bytes(data[: len(data) // 2]))
        if seen[0] > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
    return real(fd, data)
os.write = write
sys.exit(main(["--state-dir", {str(state_dir)!r}, "tune", {str(_experiment(tmp_path))!r}, "--dir", {str(directory)!r}, "-q"]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    line = _one_line(result)
    assert line == (f"pipetune: error: {directory / 'journal.jsonl'}: can't append to the journal: "
                    "No space left on device (the record was not written)")
    data = (directory / "journal.jsonl").read_bytes()
    assert data.endswith(b"\n") and all(json.loads(raw) for raw in data.splitlines())
    runs = [json.loads(raw) for raw in cli("runs", "list", "--json").stdout.splitlines()]
    experiment = next(run for run in runs if run["component"] == "experiment/quadratic")
    assert (experiment["status"], experiment["reason"]) == ("Failed", "TunerFailed")
    assert "No space left on device" in experiment["message"]
    resumed = cli("tune", str(_experiment(tmp_path)), "--dir", str(directory), "-q")
    assert resumed.returncode == 0, resumed.stderr
    runs = [json.loads(raw) for raw in cli("runs", "list", "--json").stdout.splitlines()]
    assert next(run for run in runs if run["component"] == "experiment/quadratic")["status"] == "Succeeded"


# -- atomic writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_writes_get_the_mode_open_gives(tmp_path: Path, umask: int) -> None:
    """Issue 14: results.yaml and trials.json came out 0600 (tempfile.mkstemp's mode) whatever
    the umask, so a teammate could not read them; now 0666 less the umask, as for open()."""
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        (tmp_path / "old.txt").write_text("before")
        os.chmod(tmp_path / "old.txt", 0o600)
        atomic_write_text(tmp_path / "old.txt", "after")
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "old.txt").stat().st_mode) == expected
    assert (tmp_path / "old.txt").read_text() == "after"


def test_the_tuners_files_are_readable_by_a_teammate(cli, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    assert cli("tune", str(_experiment(tmp_path)), "--dir", str(directory), "-q").returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    for name in ("results.yaml", "trials.json", "journal.jsonl"):
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        assert mode & 0o044 == 0o044 & ~mask, (name, oct(mode))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name a file descriptor")
def test_an_atomic_write_syncs_the_file_then_the_directory_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync {kind} {Path(os.readlink(f'/proc/self/fd/{fd}')).name}")
        real_fsync(fd)

    def replace(source: str, target: str) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_text(tmp_path / "results.yaml", "a: 1\n")
    assert events[0].startswith("fsync file .results.yaml.")
    assert events[1:] == ["rename", f"fsync directory {tmp_path.name}"]


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trials.json"
    target.write_text("[]\n")
    real = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, json.dumps([{"trial": i} for i in range(100)]))
    monkeypatch.undo()
    assert len(calls) == 2  # the short write was followed up
    assert target.read_text() == "[]\n" and sorted(p.name for p in tmp_path.iterdir()) == ["trials.json"]


def test_a_full_disk_in_an_atomic_write_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """trials.json on a full disk was reported as the experiment's directory (os.write names
    no file), so the message said where but not what."""
    import errno

    from pipetune.atomic import atomic_write_text

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError) as caught:
        atomic_write_text(tmp_path / "trials.json", "[]")
    assert caught.value.filename == str(tmp_path / "trials.json") and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_create_many_inserts_every_record_or_none(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state")
    store.create(RunRecord(id="b", component="c", engine="kubernetes", status="Running"))
    records = [RunRecord(id=i, component="c", engine="kubernetes", status="Succeeded") for i in ("a", "c")]
    store.create_many(records)
    assert sorted(r.id for r in store.list()) == ["a", "b", "c"]
    with pytest.raises(RunError):  # "b" exists: the whole batch is refused
        store.create_many([RunRecord(id="d", component="c", engine="k", status="Pending"),
                           RunRecord(id="b", component="c", engine="k", status="Pending")])
    assert sorted(r.id for r in store.list()) == ["a", "b", "c"]
