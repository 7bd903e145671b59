"""Checkpoints: atomic saves, latest, retention, collection, and the faults around them."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipetune.checkpoints import MARKER, CheckpointStore, Retention
from pipetune.errors import ContractError, UsageError


def save(store: CheckpointStore, step: int, payload: str = "x", **metadata) -> None:
    with store.writing(step=step, **metadata) as directory:
        (directory / "state.txt").write_text(f"{payload}-{step}")
        (directory / "sub").mkdir()
        (directory / "sub" / "more.bin").write_bytes(os.urandom(64))


def test_a_saved_checkpoint_is_the_latest_with_its_metadata(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpts")
    assert store.latest() is None
    save(store, 1, kind="data-prep", shards_done=7)
    save(store, 2, kind="data-prep", shards_done=14)
    latest = store.latest()
    assert latest is not None and latest.complete
    assert (latest.name, latest.step) == ("ckpt-000002", 2)
    assert latest.metadata == {"kind": "data-prep", "shards_done": 14}
    assert latest.size and latest.size > 64
    assert (store.load(latest) / "state.txt").read_text() == "x-2"
    # Nothing temporary is left behind.
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["ckpt-000001", "ckpt-000002"]


def test_step_is_optional_and_metadata_free_form(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    with store.writing(component="score-batch", rows=[1, 2, 3]) as directory:
        (directory / "done.json").write_text("{}")
    assert store.latest().step is None and store.latest().metadata["rows"] == [1, 2, 3]


def test_an_exception_inside_the_block_publishes_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    with pytest.raises(RuntimeError):
        with store.writing(step=2) as directory:
            (directory / "half").write_text("...")
            raise RuntimeError("disk trouble")
    assert store.latest().step == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-000001"]


def test_a_directory_without_marker_is_ignored_listed_and_collected(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, Retention(keep_last=5))
    save(store, 1)
    broken = tmp_path / "ckpt-000002"
    broken.mkdir()
    (broken / "state.txt").write_text("half")
    old = time.time() - 3600
    os.utime(broken, (old, old))
    assert store.latest().name == "ckpt-000001"
    listed = {i.name: i.complete for i in store.list()}
    assert listed == {"ckpt-000001": True, "ckpt-000002": False}
    assert [getattr(i, "name", i) for i in store.plan_collection()] == ["ckpt-000002"]
    assert broken.exists()  # planning removes nothing
    store.collect()
    assert not broken.exists() and store.latest().name == "ckpt-000001"


def test_a_marker_with_unreadable_metadata_is_not_trusted(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    save(store, 2)
    (tmp_path / "ckpt-000002" / MARKER).write_text("{not json")
    info = {i.name: i for i in store.list()}["ckpt-000002"]
    assert not info.complete and "is unreadable" in info.problem
    assert store.latest().name == "ckpt-000001"


def test_retention_keeps_the_last_n_and_the_best_k(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, Retention(keep_last=2, keep_best=1, metric="accuracy"))
    for step, accuracy in enumerate([0.5, 0.9, 0.6, 0.7, 0.65], start=1):
        save(store, step, metrics={"accuracy": accuracy})
    kept = [(i.step, i.metric("accuracy")) for i in store.list()]
    assert kept == [(2, 0.9), (4, 0.7), (5, 0.65)]


def test_the_checkpoint_being_resumed_from_is_never_collected(tmp_path: Path, monkeypatch) -> None:
    store = CheckpointStore(tmp_path, Retention(keep_last=1))
    save(store, 1)
    monkeypatch.setenv("PIPETUNE_RESUME_FROM", str(tmp_path / "ckpt-000001"))
    save(store, 2)
    save(store, 3)
    assert [i.step for i in store.list()] == [1, 3]


def test_bad_settings_and_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="keep_last: expected 1 or more"):
        Retention(keep_last=0)
    with pytest.raises(UsageError, match="keep_best: needs a metric"):
        Retention(keep_best=2)
    store = CheckpointStore(tmp_path)
    with pytest.raises(UsageError, match="checkpoint step: expected a whole number >= 0, got -1"):
        with store.writing(step=-1):
            pass
    with pytest.raises(UsageError, match="metrics.loss: expected a finite number"):
        with store.writing(metrics={"loss": float("nan")}):
            pass
    with pytest.raises(ContractError, match="checkpoint ckpt-000009: does not exist"):
        store.get("ckpt-000009")


def test_a_failing_write_leaves_the_previous_checkpoint_the_latest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    if os.geteuid() == 0:
        # Root ignores permissions: a full disk is the same fault, simulated by the OS error.
        with pytest.raises(OSError):
            with store.writing(step=2) as directory:
                raise OSError(28, "No space left on device", str(directory / "big"))
    else:
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(OSError):
                save(store, 2)
        finally:
            tmp_path.chmod(0o700)
    assert store.latest().step == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-000001"]


WRITER = """
import os, sys
from pipetune.checkpoints import CheckpointStore, Retention
store = CheckpointStore(sys.argv[1], Retention(keep_last=2))
step = (store.latest().step if store.latest() else 0)
while True:
    step += 1
    with store.writing(step=step, payload_bytes=200_000) as directory:
        for i in range(4):
            (directory / f"part-{i}.bin").write_bytes(bytes([step % 256]) * 50_000)
"""


@pytest.mark.slow
def test_kill_9_at_random_points_never_leaves_a_half_checkpoint_as_latest(tmp_path: Path) -> None:
    root = tmp_path / "ckpts"
    rng = random.Random(7)
    steps_seen = []
    for _ in range(25):
        before = _latest_step(root)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)])
        # Wait for the writer's progress (a new complete checkpoint), however busy the machine
        # is, then kill it at a random point of a later write: a fixed sleep raced the start.
        deadline = time.monotonic() + 120
        while _latest_step(root) <= before and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert _latest_step(root) > before, "the writer made no checkpoint"
        time.sleep(rng.uniform(0.0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        latest = CheckpointStore(root).latest()
        if latest is None:
            continue
        directory = root / latest.name
        marker = json.loads((directory / MARKER).read_text())
        # Complete means every file whole, with the step's own bytes.
        parts = sorted(directory.glob("part-*.bin"))
        assert len(parts) == 4 and marker["files"] == 4
        assert all(p.read_bytes() == bytes([latest.step % 256]) * 50_000 for p in parts)
        steps_seen.append(latest.step)
    assert steps_seen and steps_seen == sorted(steps_seen)  # progress is never lost
    assert len(set(steps_seen)) == 25


def _latest_step(root: Path) -> int:
    # A checkpoint retention collects while it is read raises OSError: look again rather than
    # answer 0, which made the progress check after the wait fail on a busy machine.
    for _ in range(1000):
        try:
            latest = CheckpointStore(root).latest()
        except OSError:
            continue
        return latest.step if latest is not None and latest.step is not None else 0
    raise AssertionError(f"{root}: the newest checkpoint could not be read in 1000 tries")


def test_resume_latest_finds_the_newest_in_the_runs_own_store(tmp_path: Path, monkeypatch) -> None:
    """A replica restarted by its controller has the same environment as before: with
    PIPETUNE_RESUME=latest it resumes from the newest checkpoint in its store."""
    from pipetune.checkpoints import resume_from

    monkeypatch.setenv("PIPETUNE_CHECKPOINTS", str(tmp_path / "job"))
    monkeypatch.delenv("PIPETUNE_RESUME_FROM", raising=False)
    monkeypatch.setenv("PIPETUNE_RESUME", "latest")
    assert resume_from() is None  # nothing yet: a fresh start
    save(CheckpointStore(tmp_path / "job"), 4)
    assert (resume_from() / "state.txt").read_text() == "x-4"


def test_a_full_disk_while_the_marker_is_written_leaves_the_previous_latest(tmp_path: Path, monkeypatch) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)

    def full(*_args) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pipetune.checkpoints._store._write_marker_local", full)
    with pytest.raises(OSError, match="No space left"):
        save(store, 2)
    monkeypatch.undo()
    assert store.latest().step == 1
    assert {i.name: i.complete for i in store.list()} == {"ckpt-000001": True, "ckpt-000002": False}
    save(store, 3)  # the next save numbers past the broken one
    assert store.latest().name == "ckpt-000003"
