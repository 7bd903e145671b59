"""The journal under faults: short writes, a full disk mid-record, unsynced directories, bad
lines (each named by file and line), and ``repair``; the torn last line a ``kill -9`` leaves
stays the normal case, read without complaint."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import DATA
from pipetune.errors import RunError, SpecError
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import Journal, JournalError, load_state, replay

FINISHED = {"trial": 0, "attempt": 0, "status": "Succeeded", "objective": 0.5, "metrics": {"loss": 0.5},
            "reason": "Completed", "message": None, "run_id": "r0", "time": 3.0}


def _started(journal: Journal) -> None:
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
    journal.append("trial_created", trial=0, assignment={"x": 0.1}, internal=None, time=2.0)
    journal.append("trial_started", trial=0, attempt=0, run_id="r0", time=2.1)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- writes ----------------------------------------------------------------------------------------


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.write`` may write less than it is given: every byte still lands, in order."""
    journal = Journal(tmp_path / "journal.jsonl")
    _started(journal)
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    journal.append("trial_finished", **FINISHED)
    monkeypatch.undo()
    assert all(line.endswith(b"\n") and json.loads(line) for line in _lines(journal.path))
    assert load_state(tmp_path).trials[0].status is TrialStatus.SUCCEEDED


def _full_disk(monkeypatch: pytest.MonkeyPatch, fail_truncate: bool = False) -> list[int]:
    """``os.write`` writes half of the next record, then the disk is full (ENOSPC)."""
    real = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    if fail_truncate:
        def truncate(_fd: int, _length: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "ftruncate", truncate)
    return calls


def test_a_full_disk_mid_record_raises_and_leaves_no_half_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a 5198-byte record wrote 3883 bytes without an error, the next record merged
    into it and replay lost both. Now the append fails naming the file, the file is cut back
    to where the record began, and the next record (space freed) is read back."""
    journal = Journal(tmp_path / "journal.jsonl")
    _started(journal)
    before = journal.path.read_bytes()
    calls = _full_disk(monkeypatch)
    with pytest.raises(RunError, match=rf"{journal.path}: can't append to the journal: No space left"):
        journal.append("trial_finished", **{**FINISHED, "message": "m" * 5000})
    monkeypatch.undo()
    assert len(calls) == 2  # the short write was followed up, and that one failed
    assert journal.path.read_bytes() == before
    journal.append("trial_finished", **FINISHED)
    assert load_state(tmp_path).trials[0].status is TrialStatus.SUCCEEDED


def test_a_half_record_that_could_not_be_cut_is_cut_before_the_next_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    _started(journal)
    _full_disk(monkeypatch, fail_truncate=True)
    with pytest.raises(RunError, match="No space left"):
        journal.append("trial_finished", **FINISHED)
    monkeypatch.undo()
    assert not journal.path.read_bytes().endswith(b"\n")  # a torn line, as after a crash
    assert load_state(tmp_path).trials[0].status is TrialStatus.RUNNING
    journal.append("trial_finished", **FINISHED)
    assert all(json.loads(line) for line in _lines(journal.path))
    assert load_state(tmp_path).trials[0].status is TrialStatus.SUCCEEDED


def test_a_file_size_limit_hit_mid_record(tmp_path: Path) -> None:
    """The real thing, without root: RLIMIT_FSIZE makes the kernel write part of a record and
    refuse the rest (EFBIG), as a disk that fills up does."""
    script = f"""
import resource, signal
from pipetune.errors import RunError
from pipetune.tuner.journal import Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
journal = Journal({str(tmp_path / "journal.jsonl")!r})
journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
journal.append("trial_created", trial=0, assignment={{"x": 0.1}}, internal=None, time=2.0)
size = journal.path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, resource.RLIM_INFINITY))
try:
    journal.append("trial_started", trial=0, attempt=0, run_id="r" * 200, time=2.1)
except RunError as exc:
    print(exc)
assert journal.path.stat().st_size == size, journal.path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
journal.append("trial_started", trial=0, attempt=0, run_id="r0", time=2.2)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "can't append to the journal: File too large" in result.stdout
    assert load_state(tmp_path).trials[0].run_id == "r0"


def _synced_directories(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    real = os.fsync
    synced: list[str] = []

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name a file descriptor")
def test_the_directory_is_synced_when_the_journal_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new file's name is durable only once its directory is synced: the experiment
    directory (and the directories made for it, in their parents) when the file is created,
    and not again for every record."""
    synced = _synced_directories(monkeypatch)
    journal = Journal(tmp_path / "experiments" / "demo" / "journal.jsonl")
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
    assert synced == [str(tmp_path), str(tmp_path / "experiments"), str(tmp_path / "experiments" / "demo")]
    journal.append("trial_created", trial=0, assignment={"x": 0.1}, internal=None, time=2.0)
    journal.append("trial_finished", **FINISHED | {"status": "Failed"})
    assert len(synced) == 3
    assert (journal.path.stat().st_mode & 0o777) == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_unreadable_journal_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").mkdir()
    with pytest.raises(RunError, match=rf"{tmp_path / 'journal.jsonl'}: can't read the journal"):
        load_state(tmp_path)


# -- bad lines -------------------------------------------------------------------------------------

BAD_LINES = {
    "garbage": (b"garbage\n", "not JSON"),
    "a list": (b"[1, 2]\n", "not a journal record"),
    "no op": (b'{"trial": 0}\n', 'no "op"'),
    "a missing field": (b'{"op":"trial_created","trial":1,"internal":null}\n', "record has no 'assignment' field"),
    "a bad status": (b'{"op":"trial_finished","trial":0,"status":"Bogus"}\n', "record has a bad field"),
    "a bad type": (b'{"op":"trial_created","trial":1,"assignment":5}\n', "record has a bad field"),
    "an unknown trial": (b'{"op":"trial_finished","trial":9,"status":"Failed"}\n', "names trial 9, which was never created"),
    "bad bytes": (b'{"op":"trial_created","trial":1,"assignment":{"x":"\xff"}}\n', "not JSON"),
}


@pytest.mark.parametrize("name", BAD_LINES)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, name: str) -> None:
    """Issue 14: a garbage line was skipped without a word, a record missing a field was a
    KeyError traceback. Each is now one JournalError naming the file and the line, anywhere
    in the file, the last complete line included."""
    line, problem = BAD_LINES[name]
    path = tmp_path / "journal.jsonl"
    _started(Journal(path))
    good = path.read_bytes()
    for data, number in ((good + line, 4), (good + line + b'{"op":"trial_finished","trial":0,"status":"Failed"}\n', 4)):
        path.write_bytes(data)
        with pytest.raises(JournalError) as raised:
            load_state(tmp_path)
        message = str(raised.value)
        assert message.startswith(f"{path}: line {number}: ") and problem in message
        assert "--repair" in message and "\n" not in message


def test_a_torn_last_line_is_still_no_error(tmp_path: Path) -> None:
    """What a kill -9 (or a full disk) mid-append leaves: a last line without its newline,
    whatever its bytes. Read as today, without a repair."""
    path = tmp_path / "journal.jsonl"
    _started(Journal(path))
    for tail in (b'{"op":"trial_fin', b"\x00\x00\x00", b"garbage", b'{"op":"trial_finished","trial":9}'):
        (tmp_path / "t").mkdir(exist_ok=True)
        (tmp_path / "t" / "journal.jsonl").write_bytes(path.read_bytes() + tail)
        assert load_state(tmp_path / "t").trials[0].status is TrialStatus.RUNNING
        assert Journal(tmp_path / "t" / "journal.jsonl").repair() is None


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _started(Journal(path))
    path.write_bytes(b"\n" + path.read_bytes().replace(b"\n", b"\n\n", 1))
    assert load_state(tmp_path).trials[0].run_id == "r0"


def test_a_newer_journal_names_its_line_and_is_not_repaired_away(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("experiment_started", version=9, name="x")
    with pytest.raises(SpecError, match=rf"{journal.path}: line 1: journal version 9 is newer") as raised:
        load_state(tmp_path)
    assert not isinstance(raised.value, JournalError)
    with pytest.raises(SpecError, match="journal version 9 is newer"):
        journal.repair()
    assert not list(tmp_path.glob("*.bak-*"))


# -- repair ----------------------------------------------------------------------------------------


def test_repair_keeps_the_records_before_the_first_bad_line_and_a_copy(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    _started(journal)
    good = path.read_bytes()
    after = b'{"op":"trial_finished","trial":0,"attempt":0,"status":"Succeeded","objective":1.0}\n'
    original = good + b"garbage\n" + after + b'{"op":"trial_fin'
    path.write_bytes(original)
    repaired = journal.repair()
    assert repaired is not None
    assert (repaired.kept, repaired.first_bad, repaired.dropped) == (3, 4, 3)
    assert repaired.problem.startswith("not JSON")
    assert repaired.backup.name.startswith("journal.jsonl.bak-") and repaired.backup.read_bytes() == original
    assert path.read_bytes() == good
    assert str(repaired.backup) in repaired.describe() and "line 4" in repaired.describe()
    state = load_state(tmp_path)
    assert state.trials[0].status is TrialStatus.RUNNING  # the dropped result: run again
    # The journal goes on where the repair cut it.
    journal.append("trial_finished", **FINISHED)
    assert replay(journal.records()).trials[0].status is TrialStatus.SUCCEEDED
    # A second repair finds nothing, and a second backup never overwrites the first.
    assert journal.repair() is None
    path.write_bytes(original)
    again = journal.repair()
    assert again is not None and again.backup != repaired.backup and repaired.backup.read_bytes() == original


def test_repair_of_a_bad_first_line_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"op":"trial_created","trial":0}\n{"op":"experiment_started","version":1}\n')
    repaired = Journal(path).repair()
    assert repaired is not None and (repaired.kept, repaired.dropped) == (0, 2)
    assert path.read_bytes() == b""
    assert load_state(tmp_path).trials == {}


def test_repair_of_a_sound_journal_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _started(Journal(path))
    data = path.read_bytes()
    assert Journal(path).repair() is None
    assert Journal(tmp_path / "missing.jsonl").repair() is None
    assert path.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl"]


# -- on the command line ---------------------------------------------------------------------------


def _experiment(tmp_path: Path) -> Path:
    """The quadratic experiment, four fast trials."""
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"]["maxTrialCount"] = 4
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = container["command"][:6]
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _assignments(path: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    return {r["trial"]: r["assignment"] for r in records if r["op"] == "trial_created"}


def test_tune_refuses_a_bad_line_until_repair(cli, tmp_path: Path) -> None:
    """A bad line mid-journal: `tune` says where in one line (exit 2, nothing run); `tune
    --repair` keeps a copy, drops the line and what follows, and finishes the experiment with
    the trials an uninterrupted run suggests."""
    experiment = _experiment(tmp_path)
    directory = tmp_path / "exp"
    assert cli("tune", str(experiment), "--dir", str(directory), "-q").returncode == 0
    journal = directory / "journal.jsonl"
    reference = _assignments(journal)
    lines = _lines(journal)
    bad = next(i for i, line in enumerate(lines) if json.loads(line)["op"] == "trial_finished")
    lines[bad] = lines[bad].replace(b'"status"', b'"statu')
    journal.write_bytes(b"".join(lines))
    refused = cli("tune", str(experiment), "--dir", str(directory), "-q")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.splitlines() == [refused.stderr.strip()]
    assert refused.stderr.startswith(f"pipetune: error: {journal}: line {bad + 1}: not JSON")
    assert "--repair" in refused.stderr
    repaired = cli("tune", str(experiment), "--dir", str(directory), "-q", "--repair")
    assert repaired.returncode == 0 and "Traceback" not in repaired.stderr, repaired.stderr
    assert f"pipetune: repaired {journal}: line {bad + 1}: not JSON" in repaired.stderr
    (backup,) = directory.glob("journal.jsonl.bak-*")
    assert backup.read_bytes() == b"".join(lines)
    assert _assignments(journal) == reference
    assert all(row["status"] == "Succeeded" for row in json.loads((directory / "trials.json").read_text()))


def test_tune_resumes_past_a_torn_last_line_without_repair(cli, tmp_path: Path) -> None:
    """What kill -9 mid-append leaves needs no --repair, as before."""
    experiment = _experiment(tmp_path)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    assert cli("tune", str(experiment), "--dir", str(reference), "-q").returncode == 0
    data = (reference / "journal.jsonl").read_bytes()
    crashed.mkdir()
    (crashed / "journal.jsonl").write_bytes(data[: data.index(b'"op":"trial_finished"') + 12])
    result = cli("tune", str(experiment), "--dir", str(crashed), "-q")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert _assignments(crashed / "journal.jsonl") == _assignments(reference / "journal.jsonl")
    assert not list(crashed.glob("*.bak-*"))
