"""medianstop: a true median of completed trials at the same step, Katib's settings."""

from __future__ import annotations

import pytest

from pipetune.errors import SpecError
from pipetune.tuner.early_stopping import MedianStop, curve_from_history, get_early_stopping

COMPLETED = [
    [(1, 0.5), (2, 0.6), (3, 0.7), (4, 0.8)],
    [(1, 0.4), (2, 0.5), (3, 0.6), (4, 0.65)],
    [(1, 0.6), (2, 0.7), (3, 0.8), (4, 0.95)],
]


def test_a_trial_below_the_median_at_its_step_is_stopped() -> None:
    rule = MedianStop(min_trials_required=3, start_step=4)
    running = {
        5: [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.7)],   # median at step 4 is 0.8: stop
        6: [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.85)],  # above the median: keep
        7: [(1, 0.0), (2, 0.0), (3, 0.0)],             # fewer than start_step reports: keep
    }
    stop, state = rule.decide(COMPLETED, running, minimize=False)
    assert stop == [5]
    again, _ = rule.decide(COMPLETED, running, minimize=False, state=state)
    assert again == []  # never stopped twice


def test_median_not_mean() -> None:
    """Katib compares with a mean; an outlier must not drag the bar down."""
    completed = [[(1, 0.9)], [(1, 0.8)], [(1, -100.0)]]
    stop, _ = MedianStop(3, 1).decide(completed, {9: [(1, 0.7)]}, minimize=False)
    assert stop == [9]  # mean would be -32.8 and keep it; the median 0.8 stops it


def test_minimise_stops_trials_above_the_median() -> None:
    completed = [[(1, 1.0)], [(1, 2.0)], [(1, 3.0)]]
    stop, _ = MedianStop(3, 1).decide(completed, {1: [(1, 2.5)], 2: [(1, 1.5)]}, minimize=True)
    assert stop == [1]


def test_not_enough_completed_trials_stops_nothing() -> None:
    stop, _ = MedianStop(3, 1).decide(COMPLETED[:2], {1: [(1, 0.0)]}, minimize=False)
    assert stop == []


def test_settings_are_katibs_and_checked() -> None:
    rule = get_early_stopping("medianstop", {"min_trials_required": "2", "start_step": "5"})
    assert rule == MedianStop(2, 5)
    with pytest.raises(SpecError, match="'min_trails_required' is not a medianstop setting"):
        get_early_stopping("medianstop", {"min_trails_required": "2"})
    with pytest.raises(SpecError, match="start_step: expected an integer of 1 or more, got 'soon'"):
        get_early_stopping("medianstop", {"start_step": "soon"})
    with pytest.raises(SpecError, match="'hyperband' is not supported; expected medianstop"):
        get_early_stopping("hyperband", {})


def test_curves_come_from_results_history() -> None:
    history = [{"step": 10, "acc": 0.5}, {"loss": 1.0}, {"step": 30, "acc": 0.7}]
    assert curve_from_history(history, "acc") == [(10, 0.5), (30, 0.7)]
    assert curve_from_history([{"acc": 0.1}, {"acc": 0.2}], "acc") == [(1, 0.1), (2, 0.2)]
