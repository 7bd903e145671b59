"""The journal: durable appends, replay into state, torn tails, and the v1 format kept readable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipetune.errors import SpecError
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import Journal, load_state, replay

DATA = Path(__file__).parent / "data"


def _write_sample(journal: Journal) -> None:
    journal.append("experiment_started", version=1, name="demo", seed=7, spec="abc", time=1.0)
    journal.append("trial_created", trial=0, assignment={"lr": 0.1}, internal=None, time=2.0)
    journal.append("trial_started", trial=0, attempt=0, run_id="r0", time=2.1)
    journal.append("trial_created", trial=1, assignment={"lr": 0.2}, internal=None, time=2.2)
    journal.append("trial_started", trial=1, attempt=0, run_id="r1", time=2.3)
    journal.append("trial_finished", trial=0, attempt=0, status="Succeeded", objective=0.9,
                   metrics={"acc": 0.9}, reason="Completed", message=None, run_id="r0", time=3.0)


def test_replay_rebuilds_trials(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    _write_sample(journal)
    state = replay(journal.records())
    assert (state.name, state.seed, state.spec_digest) == ("demo", 7, "abc")
    first, second = state.ordered()
    assert (first.status, first.objective, first.metrics) == (TrialStatus.SUCCEEDED, 0.9, {"acc": 0.9})
    assert (second.status, second.run_id, second.assignment) == (TrialStatus.RUNNING, "r1", {"lr": 0.2})
    assert not state.finished


@pytest.mark.parametrize("cut", [1, 7, 20])
def test_a_crash_at_any_byte_leaves_it_readable(tmp_path: Path, cut: int) -> None:
    """Cut the file inside its last record: replay drops that record and nothing else, and the
    next append lands on a line of its own."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    _write_sample(journal)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + cut])
    state = load_state(tmp_path)
    assert state.trials[0].status is TrialStatus.RUNNING  # the torn trial_finished is gone
    again = Journal(path)
    again.append("trial_finished", trial=0, attempt=0, status="Failed", objective=None,
                  metrics={}, reason="X", message=None, run_id="r0", time=4.0)
    lines = path.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)
    assert load_state(tmp_path).trials[0].status is TrialStatus.FAILED


def test_every_prefix_of_the_file_replays(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _write_sample(Journal(path))
    data = path.read_bytes()
    for end in range(len(data) + 1):
        (tmp_path / "cut").mkdir(exist_ok=True)
        (tmp_path / "cut" / "journal.jsonl").write_bytes(data[:end])
        state = load_state(tmp_path / "cut")
        assert len(state.trials) <= 2


def test_the_v1_journal_stays_readable(tmp_path: Path) -> None:
    """A journal written by pipetune 0.1 is kept in tests/tuner/data for good."""
    shutil.copy(DATA / "journal-v1.jsonl", tmp_path / "journal.jsonl")
    state = load_state(tmp_path)
    assert state.name == "tune-sklearn" and state.status == "Succeeded"
    assert state.reason == "ExperimentMaxTrialsReached"
    assert len(state.trials) == 4
    assert state.trials[2].status is TrialStatus.FAILED and state.trials[2].attempt == 1
    assert state.trials[3].status is TrialStatus.EARLY_STOPPED
    assert state.trials[1].assignment == {"n_estimators": 120, "max_features": "log2"}


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path / "journal.jsonl").append("experiment_started", version=9, name="x")
    with pytest.raises(SpecError, match="journal version 9 is newer"):
        load_state(tmp_path)
