"""Go durations: Go's own test table, and the Experiment parser and the controller agreeing.

The accepted and refused examples are those of Go's ``time.ParseDuration`` tests
(``src/time/time_test.go``: ``parseDurationTests``, ``parseDurationErrorTests``), each value in
nanoseconds as Go computes it: the seconds returned must be exactly that count over 1e9.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipetune.controller import TIMED_OUT, Progress, decide
from pipetune.controller._customtask import timeout_of
from pipetune.durations import parse_duration
from pipetune.errors import SpecError
from pipetune.experiment import API_VERSION, experiment_from_dict

NS = 1
US = 1_000 * NS
MS = 1_000 * US
S = 1_000 * MS
M = 60 * S
H = 60 * M

GO_ACCEPTS = [
    # simple
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    # sign
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    # decimal
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    # different units
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),  # micro sign
    ("12\u03bcs", 12 * US),  # Greek small letter mu
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    # composite durations
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    # large value
    ("52763797000ns", 52763797000 * NS),
    # more than 9 digits after the decimal point (golang.org/issue/6617)
    ("0.3333333333333333333h", 20 * M),
    # 1<<53+1 cannot be stored precisely in a float64
    ("9007199254740993ns", (1 << 53) + 1),
    # the largest durations an int64 of nanoseconds holds
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    # the largest negative round-trip value (golang.org/issue/48629)
    ("-2562047h47m16.854775808s", -(1 << 63)),
    # a huge string (golang.org/issue/15011)
    ("0.100000000000000000000h", 6 * M),
    # the first overflow check in Go's leadingFraction
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]

GO_REFUSES_AS_INVALID = [
    "",
    "3",
    "-",
    "s",
    ".",
    "-.",
    ".s",
    "+.s",
    "1d",
    "\x85\x85",
    "\xffff",
    "hello \xffff world",
    "\ufffd",
    "\ufffd hello \ufffd world",
]
GO_REFUSES_AS_OVERFLOW = [
    "9223372036854775810ns",
    "9223372036854775808ns",
    "-9223372036854775809ns",
    "9223372036854776us",
    "3000000h",
    "9223372036854775.808us",
    "9223372036854ms775us808ns",
]


@pytest.mark.parametrize(("text", "nanoseconds"), GO_ACCEPTS)
def test_what_go_accepts(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds / 1e9


@pytest.mark.parametrize("text", GO_REFUSES_AS_INVALID)
def test_what_go_refuses_as_invalid(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert message.startswith(f"{text!r} is not a duration such as 1h30m, 45s or .5s: ")
    assert "expected" in message


@pytest.mark.parametrize("text", GO_REFUSES_AS_OVERFLOW)
def test_what_go_refuses_as_out_of_range(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value).startswith(f"{text!r} is out of range; expected a duration within")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10", "'10' has no unit; expected one of ns, us, \u00b5s, ms, s, m or h (only 0 may go without)"),
        ("1h30", "'30' has no unit"),
        ("00", "'00' has no unit"),
        ("1d", "unknown unit 'd'; expected one of ns, us, \u00b5s, ms, s, m or h"),
        ("1h 30m", "unknown unit 'h '"),
        (" 1h", "expected a number before each unit"),
        ("1e3s", "unknown unit 'e'"),
        ("\u0661s", "expected a number before each unit"),  # an Arabic-Indic one: Go takes 0-9 only
        ("3000000h", "out of range; expected a duration within ±2562047h47m16.854775807s"),
    ],
)
def test_messages_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + repr(text)) as caught:
        parse_duration(text)
    assert reason in str(caught.value)


def test_not_a_string_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected a string"):
        parse_duration(90)  # type: ignore[arg-type]


def test_negatives_are_returned_for_the_caller_to_judge() -> None:
    assert parse_duration("-1.5h") == -5400.0
    assert parse_duration("-0") == 0.0


# -- the Experiment parser and the controller agree ----------------------------------------------

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
RUNNING = Progress(total=4, counts={"Running": 1}, running=1, metric="accuracy")
AGREED = [(".5s", 0.5), ("1h30m", 5400.0), ("1.5h", 5400.0), ("300ms", 0.3)]


def _experiment(trial_timeout: Any) -> dict[str, Any]:
    container = {"name": "training-container", "image": "python:3.11",
                 "command": ["python", "train.py", "--lr=${trialParameters.lr}"]}
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": "durations"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}}],
            "trialTimeout": trial_timeout,
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job",
                              "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}}},
            },
        },
    }


def _customrun(timeout: Any) -> dict[str, Any]:
    customrun: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "metadata": {"name": "tune-1"},
        "spec": {"customRef": {"apiVersion": API_VERSION, "kind": "Experiment", "name": "e"}, "timeout": timeout},
    }
    customrun["status"] = decide(customrun, None, T0).status
    return customrun


@pytest.mark.parametrize(("text", "seconds"), AGREED)
def test_the_experiment_and_the_custom_task_read_a_duration_alike(text: str, seconds: float) -> None:
    trial_timeout = experiment_from_dict(_experiment(text)).trial_timeout
    customrun = _customrun(text)
    assert trial_timeout == timeout_of(customrun) == parse_duration(text)
    assert trial_timeout == pytest.approx(seconds)
    # and the controller acts on it: still running just before, timed out just after
    before = decide(copy.deepcopy(customrun), RUNNING, T0 + timedelta(seconds=seconds * 0.99))
    after = decide(copy.deepcopy(customrun), RUNNING, T0 + timedelta(seconds=seconds * 1.01))
    assert not before.done
    assert after.done and any(c["reason"] == TIMED_OUT for c in after.status["conditions"])


@pytest.mark.parametrize("text", ["-5m", "-.5s"])
def test_both_refuse_a_negative_limit(text: str) -> None:
    with pytest.raises(SpecError, match=r"^experiment: spec\.trialTimeout: expected a positive number of seconds"):
        experiment_from_dict(_experiment(text))
    with pytest.raises(ValueError, match=rf"^spec\.timeout: {text!r} is negative; expected 0 \(no limit\)"):
        timeout_of(_customrun(text))


@pytest.mark.parametrize("text", ["", "1d", "1h 30m", ".s", "3000000h"])
def test_both_refuse_what_go_refuses(text: str) -> None:
    with pytest.raises(SpecError, match=r"^experiment: spec\.trialTimeout: expected a positive number of seconds"):
        experiment_from_dict(_experiment(text))
    with pytest.raises(ValueError, match=rf"^spec\.timeout: {text!r} is"):
        timeout_of(_customrun(text))


def test_a_bare_number_is_seconds_to_the_experiment_only() -> None:
    """``trialTimeout: "600"`` has always meant 600 seconds; Tekton's timeout is a Go duration."""
    assert experiment_from_dict(_experiment("600")).trial_timeout == 600.0
    with pytest.raises(ValueError, match=r"^spec\.timeout: '600' is not a duration .*'600' has no unit"):
        timeout_of(_customrun("600"))
