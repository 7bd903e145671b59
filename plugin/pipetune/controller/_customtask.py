"""The Tekton custom-task contract for the tuner's CustomRun, as a pure decision.

``decide(customrun, progress, now)`` reads a ``tekton.dev/v1beta1`` CustomRun (its ``spec``
and ``status``) and the tuner's progress, and returns the CustomRun's next status and what it
means for the tuner: stop the running trials, start a new attempt, or nothing more to do.
The rules, from Tekton's custom-task contract:

* A new run gets ``Succeeded=Unknown`` (reason ``Started``) and its ``startTime``.
* ``spec.status: RunCancelled`` stops the trials and ends ``Succeeded=False`` with reason
  exactly ``CustomRunCancelled`` (the only reason Tekton counts as a cancelled custom task).
* ``spec.timeout`` (a Go duration; absent: Tekton's default 60 minutes; ``0``: none) bounds
  each attempt, measured from ``status.startTime``; expiry ends it with ``CustomRunTimedOut``.
* A failed or timed-out attempt with ``spec.retries`` left is copied (its own
  ``retriesStatus`` cleared) to ``status.retriesStatus``, ``startTime`` resets and a new
  attempt starts (reason ``Retrying``); ``False`` only when the retries are used up.
* While trials run: ``Unknown`` with reason ``Running`` and a message a person can read
  (``12/30 trials, 3 running, best accuracy 0.931``). On success: ``True`` with the results,
  every value a string: ``best-<parameter>``, ``best-objective``, ``best-parameters`` (JSON),
  and with several objectives ``pareto-front`` (JSON: ``[{trial, parameters, values}]``).
* The controller's own state lives in ``status.extraFields`` (the CustomRun status schema
  prunes anything else): here the attempt number.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipetune.controller._parent import STATE_FIELD, Progress, condition_of, iso, parse_iso
from pipetune.durations import parse_duration
from pipetune.tekton import PARETO_FRONT_RESULT, custom_task_results

CANCELLED = "CustomRunCancelled"
TIMED_OUT = "CustomRunTimedOut"
DEFAULT_TIMEOUT_SECONDS = 60 * 60.0


@dataclass(frozen=True)
class Decision:
    """The CustomRun's next status, and what it means for the tuner."""

    status: dict[str, Any]
    stop_trials: bool = False
    new_attempt: bool = False
    done: bool = False


def is_new(customrun: Mapping[str, Any]) -> bool:
    """Whether the CustomRun has not been started yet (no ``startTime``)."""
    return not (customrun.get("status") or {}).get("startTime")


def is_over(customrun: Mapping[str, Any]) -> bool:
    """Whether the CustomRun has ended (``Succeeded`` True or False): nothing more to do."""
    return condition_of(customrun.get("status") or {}, "Succeeded").get("status") in ("True", "False")


def timeout_of(customrun: Mapping[str, Any]) -> float:
    """Seconds an attempt may take (``spec.timeout``; Tekton's default an hour; 0: no limit);
    ``ValueError`` naming ``spec.timeout`` for one that is not a Go duration (see
    :func:`pipetune.durations.parse_duration`) or is negative."""
    timeout = (customrun.get("spec") or {}).get("timeout")
    if timeout is None:
        return DEFAULT_TIMEOUT_SECONDS
    text = str(timeout).strip()
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"spec.timeout: {exc}") from None
    if seconds < 0:
        # Go's grammar has a sign, but a negative limit would time every attempt out at once:
        # refused as the mistake it is, naming the field.
        raise ValueError(f"spec.timeout: {text!r} is negative; expected 0 (no limit) or a duration such as 1h30m")
    return seconds


def decide(customrun: Mapping[str, Any], progress: Progress | None, now: datetime) -> Decision:
    """The next status of ``customrun`` (see the module docstring). ``progress`` is None
    when the tuner has not taken its turn."""
    spec = customrun.get("spec") or {}
    status = copy.deepcopy(dict(customrun.get("status") or {}))
    if is_over(customrun):
        return Decision(status, done=True)
    extra = dict(status.get(STATE_FIELD) or {})
    attempt = int(extra.get("attempt", 0))
    if is_new(customrun):
        status["startTime"] = iso(now)
        status[STATE_FIELD] = {**extra, "attempt": attempt}
        _set(status, "Unknown", "Started", "the experiment is starting")
        return Decision(status)
    if spec.get("status") == "RunCancelled":
        message = spec.get("statusMessage") or "the CustomRun was cancelled"
        _finish(status, now, "False", CANCELLED, message)
        return Decision(status, stop_trials=True, done=True)
    try:
        timeout = timeout_of(customrun)
    except ValueError as exc:
        _finish(status, now, "False", "InvalidTimeout", str(exc))
        return Decision(status, stop_trials=True, done=True)
    elapsed = (now - parse_iso(status["startTime"])).total_seconds()
    failure: tuple[str, str] | None = None
    if timeout and elapsed > timeout:
        failure = (TIMED_OUT, f"the attempt ran past its timeout of {spec.get('timeout') or '1h'}")
    elif progress is not None and progress.ended is not None and progress.ended[0] != "Succeeded":
        failure = (progress.ended[1], progress.ended[2])
    if failure is not None:
        retries = int(spec.get("retries") or 0)
        if len(status.get("retriesStatus") or []) < retries:
            previous = copy.deepcopy(status)
            previous.pop("retriesStatus", None)
            _set(previous, "False", *failure)
            status["retriesStatus"] = [*(status.get("retriesStatus") or []), previous]
            status["startTime"] = iso(now)
            status[STATE_FIELD] = {**extra, "attempt": attempt + 1}
            status.pop("results", None)
            _set(status, "Unknown", "Retrying", f"attempt {attempt + 1} failed ({failure[0]}): {failure[1]}")
            return Decision(status, stop_trials=True, new_attempt=True)
        _finish(status, now, "False", *failure)
        return Decision(status, stop_trials=True, done=True)
    if progress is None:
        return Decision(status)
    if progress.ended is not None:
        status["results"] = results_of(progress)
        _finish(status, now, "True", "Succeeded", progress.ended[2])
        return Decision(status, done=True)
    _set(status, "Unknown", "Running", progress.message)
    return Decision(status)


def ending(customrun: Mapping[str, Any], now: datetime) -> tuple[str, str] | None:
    """Why the current attempt must stop before the tuner takes another step (cancelled, timed
    out, an invalid timeout): the (reason, message) the tuner records; None while it may go on."""
    decision = decide(customrun, None, now)
    if not decision.stop_trials:
        return None
    condition = condition_of(decision.status, "Succeeded")
    return str(condition.get("reason") or "Stopped"), str(condition.get("message") or "")


def fail(customrun: Mapping[str, Any], now: datetime, reason: str, message: str) -> dict[str, Any]:
    """The status of a CustomRun that can't run at all (a missing Experiment, an invalid spec,
    an undeclared param): ``False`` at once, since another attempt would fail the same way."""
    status = copy.deepcopy(dict(customrun.get("status") or {}))
    status.setdefault("startTime", iso(now))
    _finish(status, now, "False", reason, message)
    return status


def results_of(progress: Progress) -> list[dict[str, str]]:
    """The CustomRun results: strings only, as the CustomRun schema requires."""
    best = dict(progress.best_parameters or {})
    names = custom_task_results(list(progress.parameter_names), progress.pareto_front is not None)
    values: dict[str, str] = {}
    for name in progress.parameter_names:
        value = best.get(name)
        values[f"best-{name}"] = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
    values["best-objective"] = "" if progress.best_objective is None else repr(float(progress.best_objective))
    values["best-parameters"] = json.dumps(best, sort_keys=True)
    if progress.pareto_front is not None:
        # Without run ids: the front is read by the next task, and a Task result is small.
        front = [{k: row[k] for k in ("trial", "parameters", "values") if k in row} for row in progress.pareto_front]
        values[PARETO_FRONT_RESULT] = json.dumps(front, sort_keys=True)
    return [{"name": name, "value": values[name]} for name in names]


def _set(status: dict[str, Any], value: str, reason: str, message: str) -> None:
    status["conditions"] = [
        c for c in status.get("conditions") or [] if c.get("type") != "Succeeded"
    ] + [{"type": "Succeeded", "status": value, "reason": reason, "message": message}]


def _finish(status: dict[str, Any], now: datetime, value: str, reason: str, message: str) -> None:
    _set(status, value, reason, message)
    status["completionTime"] = iso(now)
