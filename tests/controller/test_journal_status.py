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
