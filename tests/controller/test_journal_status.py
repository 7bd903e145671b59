"""The journal in a parent's status: frozen compressed segments plus the recent records. It
used to be one list rewritten with every status update (1.17 MB a write at 2,000 trials)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipetune.controller._parent import (
    JOURNAL_SEGMENT,
    ParentError,
    journal_records,
    journal_status,
    status_patch,
)
from pipetune.tuner.journal import replay


def journal(trials: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [{"op": "experiment_started", "version": 1, "name": "e", "seed": 1,
                                      "spec": "d", "metric": "loss", "minimize": True, "parameters": ["x"]}]
    for t in range(trials):
        records += [{"op": "trial_created", "trial": t, "assignment": {"x": t / 7}, "internal": None},
                    {"op": "trial_started", "trial": t, "attempt": 0, "run_id": f"r{t}"},
                    {"op": "trial_finished", "trial": t, "attempt": 0, "status": "Succeeded",
                     "objective": t / 3, "metrics": {"loss": t / 3}, "run_id": f"r{t}"}]
    return records


@pytest.mark.parametrize("count", [0, 1, JOURNAL_SEGMENT - 1, JOURNAL_SEGMENT, JOURNAL_SEGMENT + 1, 1000])
def test_every_record_reads_back_in_order(count: int) -> None:
    records = journal(400)[:count]
    state = journal_status(records)
    assert journal_records(state) == records
    assert len(state["journal"]) < JOURNAL_SEGMENT


def test_a_status_written_before_segments_still_reads() -> None:
    records = journal(100)
    assert journal_records({"journal": records}) == records


def test_each_write_carries_the_recent_records_and_at_most_one_new_segment() -> None:
    records = journal(300)
    old: dict[str, Any] = {}
    largest = 0
    for n in range(1, len(records) + 1):
        new = journal_status(records[:n], old)
        patch = status_patch(old, new)
        assert len(patch.get("journalSegments") or {}) <= 1
        largest = max(largest, len(json.dumps(patch)))
        old = new
    assert replay(journal_records(old)) == replay(records)  # the resume is exact
    whole = len(json.dumps({"journal": records}))
    assert largest < whole / 10 and len(json.dumps(old)) < whole


def test_segments_are_lent_only_when_the_journal_grew_from_them() -> None:
    """A journal is append-only within an attempt; one whose recent records differ (another
    attempt's) gets segments of its own."""
    first = journal_status(journal(100))
    other = journal(100)
    last = len(other) - 1
    other[last] = {**other[last], "objective": 99.0}
    assert first["journal"] and journal_records(journal_status(other, first)) == other


def test_a_segment_that_does_not_decode_names_its_field() -> None:
    state = journal_status(journal(100))
    state["journalSegments"]["000000"] = "not base64!"
    with pytest.raises(ParentError, match=r"status.extraFields.journalSegments\[000000\]: not a journal segment"):
        journal_records(state)


def test_a_record_that_is_not_one_is_reported_not_skipped() -> None:
    from pipetune.tuner.journal import JournalError, MemoryJournal

    with pytest.raises(JournalError, match=r"journal record 1: not a journal record"):
        MemoryJournal(journal_records({"journal": [journal(1)[0], {"trial": 0}]}))


def test_a_record_that_does_not_fit_is_reported_with_its_index() -> None:
    from pipetune.tuner.journal import JournalError, MemoryJournal

    records = journal(2)
    del records[4]["assignment"]  # the second trial_created
    with pytest.raises(JournalError, match=r"journal record 4: the 'trial_created' record has no 'assignment' field"):
        MemoryJournal(records).state()


def long_journal(trials: int, curve: int, seed: int = 0) -> list[dict[str, Any]]:
    """A journal as a cluster tuner writes it: full-precision times, objectives, metrics and
    (with early stopping) curves, each a random float, so nothing compresses for free."""
    import random

    rng = random.Random(seed)
    clock = 1.76e9
    records: list[dict[str, Any]] = [{"op": "experiment_started", "version": 1, "name": "e", "seed": seed,
                                      "spec": "d", "metric": "loss", "minimize": True, "parameters": ["lr", "n"],
                                      "time": clock}]
    for t in range(trials):
        run = f"e-{t:05d}-{rng.getrandbits(24):06x}"
        clock += rng.random()
        finished: dict[str, Any] = {
            "op": "trial_finished", "trial": t, "attempt": 0, "status": "Succeeded", "objective": rng.random(),
            "metrics": {"loss": rng.random(), "accuracy": rng.random()}, "reason": "Completed", "message": None,
            "run_id": run, "time": clock + 2}
        if curve:
            finished["curve"] = [[step, rng.random()] for step in range(curve)]
        records += [
            {"op": "trial_created", "trial": t, "assignment": {"lr": 10 ** rng.uniform(-5, -1), "n": rng.randint(1, 9)},
             "internal": None, "time": clock},
            {"op": "trial_starting", "trial": t, "attempt": 0, "run_id": run, "time": clock + 0.1},
            {"op": "trial_started", "trial": t, "attempt": 0, "run_id": run, "time": clock + 0.2},
            finished,
        ]
    return records


@pytest.mark.parametrize(("curve", "bound"), [(0, 350_000), (20, 1_300_000)])
def test_the_status_stays_under_its_bound_at_3000_trials_and_reads_back_exact(curve: int, bound: int) -> None:
    """Grown as the controller grows it (a status write every few records): at 3,000 trials the
    status is within ``bound`` bytes (etcd refuses objects past ~1.5 MiB; a journal written as
    one list was 1.8 MB without curves), every write stays small, and the state read back is the
    state the records give, trial for trial."""
    records = long_journal(3000, curve)
    old: dict[str, Any] = {}
    largest = 0
    for n in list(range(1, len(records), 7)) + [len(records)]:
        new = journal_status(records[:n], old)
        largest = max(largest, len(json.dumps(status_patch(old, new), separators=(",", ":"))))
        old = new
    size = len(json.dumps(old, separators=(",", ":")))
    assert size < bound
    assert largest < 40_000
    assert replay(journal_records(old)) == replay(records)
    assert [t.record(True) for t in replay(journal_records(old)).ordered()] == [
        t.record(True) for t in replay(records).ordered()]


def test_segments_read_back_without_the_record_times_and_written_again_the_same() -> None:
    """A segment leaves out what no state reads (record times); a restarted controller, whose
    journal is what it read back, writes the very segments it read."""
    from pipetune.controller._parent import compact_records

    records = long_journal(200, 5)
    status = journal_status(records)
    read = journal_records(status)
    assert len(read) == len(records)
    assert compact_records(read[: len(read) - len(status["journal"])]) == compact_records(
        records[: len(read) - len(status["journal"])])
    assert all("time" not in r for r in read[: len(read) - len(status["journal"])])
    again = journal_status(read + records[len(read):] + long_journal(210, 5)[len(records):], status)
    assert {k: v for k, v in again["journalSegments"].items() if k in status["journalSegments"]} == status[
        "journalSegments"]
    assert journal_status(read)["journalSegments"] == status["journalSegments"]


def test_a_tuner_resumed_from_the_compacted_status_suggests_what_an_uninterrupted_one_does(tmp_path) -> None:
    """The controller's tuner keeps its journal in the parent's status: one rebuilt from the
    status (segments read back) makes the same next suggestions as the one that kept running."""
    from pipetune.engines.local import FunctionEngine
    from pipetune.store import RunStore
    from pipetune.tuner import policy
    from pipetune.tuner.config import TunerConfig
    from pipetune.tuner.journal import MemoryJournal
    from pipetune.tuner.launchers import FunctionLauncher
    from pipetune.tuner.objective import Objective
    from pipetune.tuner.session import Session
    from pipetune.tuner.space import SearchSpace

    def objective(params: dict[str, float]) -> float:
        return (params["x"] - 0.3) ** 2

    space = SearchSpace.from_katib([{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}])

    def run(journal: MemoryJournal, trials: int, where: str) -> list[dict[str, Any]]:
        config = TunerConfig(name="e", space=space, objective=Objective("loss", type="minimize"),
                             budget=policy.Budget(trials, 2), algorithm="auto", seed=3)
        session = Session(config, FunctionLauncher("objective", objective))
        tuner = session.tuner(FunctionEngine(objective, "loss"), RunStore(tmp_path / where), tmp_path / where / "exp",
                              journal=journal)
        result = tuner.run()
        return [t.assignment for t in result.trials]

    first = MemoryJournal()
    run(first, 150, "a")
    status = journal_status(first.entries)
    assert status["journalSegments"]
    resumed = MemoryJournal(journal_records(status))
    kept = MemoryJournal(list(first.entries))
    assert run(resumed, 170, "b") == run(kept, 170, "c")
