"""The Tekton custom-task contract for the tuner's CustomRun, as a pure decision.

``decide(customrun, progress, now)`` reads a ``tekton.dev/v1beta1`` CustomRun (its ``spec``
and ``status``) and the tuner's progress, and returns what to write and do: the new status
(written through the ``/status`` subresource) and whether to stop the running trials or
start a new attempt. The controller does the I/O around it; the rules, from Tekton's
custom-task contract:

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
  every value a string: ``best-<parameter>``, ``best-objective``, ``best-parameters`` (JSON).
* The controller's own state lives in ``status.extraFields`` (the CustomRun status schema
  prunes anything else): here the attempt number.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from pipetune.tekton._pipeline import custom_task_results

CANCELLED = "CustomRunCancelled"
TIMED_OUT = "CustomRunTimedOut"
DEFAULT_TIMEOUT_SECONDS = 60 * 60.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Progress:
    """What the tuner reports about the current attempt."""

    total: int
    done: int = 0
    running: int = 0
    metric: str = "objective"
    best_objective: float | None = None
    best_parameters: Mapping[str, Any] | None = None
    parameter_names: tuple[str, ...] = ()
    #: The experiment's end, when it has ended: "Succeeded" or "Failed", its reason, message.
    ended: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Decision:
    """What the controller must do after one reconcile."""

    status: dict[str, Any]
    stop_trials: bool = False
    new_attempt: bool = False
    done: bool = False
    changed: bool = True
    problems: list[str] = field(default_factory=list)


def parse_duration(text: Any) -> float:
    """Seconds of a Go duration (``1h30m``, ``10s``, ``0``); ``ValueError`` naming it."""
    value = str(text).strip()
    if value in ("0", ""):
        return 0.0
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"spec.timeout: {value!r} is not a duration such as 1h30m or 45s")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def decide(customrun: Mapping[str, Any], progress: Progress | None, now: datetime) -> Decision:
    """The next status of ``customrun`` (see the module docstring). ``progress`` is None
    before the tuner has started the attempt."""
    spec = customrun.get("spec") or {}
    status = copy.deepcopy(dict(customrun.get("status") or {}))
    condition = _condition(status)
    if condition is not None and condition.get("status") in ("True", "False"):
        return Decision(status, done=True, changed=False)
    extra = dict(status.get("extraFields") or {})
    attempt = int(extra.get("attempt", 0))
    if not status.get("startTime"):
        status["startTime"] = iso(now)
        status["extraFields"] = {**extra, "attempt": attempt}
        _set(status, "Unknown", "Started", "the experiment is starting")
        return Decision(status)
    if spec.get("status") == "RunCancelled":
        message = spec.get("statusMessage") or "the CustomRun was cancelled"
        _finish(status, now, "False", CANCELLED, message)
        return Decision(status, stop_trials=True, done=True)
    try:
        timeout = DEFAULT_TIMEOUT_SECONDS if spec.get("timeout") is None else parse_duration(spec["timeout"])
    except ValueError as exc:
        _finish(status, now, "False", "InvalidTimeout", str(exc))
        return Decision(status, stop_trials=True, done=True, problems=[str(exc)])
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
            status["extraFields"] = {**extra, "attempt": attempt + 1}
            status.pop("results", None)
            _set(status, "Unknown", "Retrying", f"attempt {attempt + 1} failed ({failure[0]}): {failure[1]}")
            return Decision(status, stop_trials=True, new_attempt=True)
        _finish(status, now, "False", *failure)
        return Decision(status, stop_trials=True, done=True)
    if progress is None:
        return Decision(status, changed=False)
    if progress.ended is not None:
        status["results"] = results_of(progress)
        _finish(status, now, "True", "Succeeded", progress.ended[2])
        return Decision(status, done=True)
    message = progress_message(progress)
    changed = _condition(status) is None or _condition(status).get("message") != message  # type: ignore[union-attr]
    _set(status, "Unknown", "Running", message)
    return Decision(status, changed=changed)


def fail(customrun: Mapping[str, Any], now: datetime, reason: str, message: str) -> dict[str, Any]:
    """The status of a CustomRun that can't run at all (a missing Experiment, an invalid spec,
    an undeclared param): ``False`` at once, since another attempt would fail the same way."""
    status = copy.deepcopy(dict(customrun.get("status") or {}))
    status.setdefault("startTime", iso(now))
    _finish(status, now, "False", reason, message)
    return status


def progress_message(progress: Progress) -> str:
    """``12/30 trials, 3 running, best accuracy 0.931``."""
    text = f"{progress.done}/{progress.total} trials, {progress.running} running"
    if progress.best_objective is not None:
        text += f", best {progress.metric} {progress.best_objective:.6g}"
    return text


def results_of(progress: Progress) -> list[dict[str, str]]:
    """The CustomRun results: strings only, as the CustomRun schema requires."""
    best = dict(progress.best_parameters or {})
    names = custom_task_results(list(progress.parameter_names))
    values: dict[str, str] = {}
    for name in progress.parameter_names:
        value = best.get(name)
        values[f"best-{name}"] = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
    values["best-objective"] = "" if progress.best_objective is None else repr(float(progress.best_objective))
    values["best-parameters"] = json.dumps(best, sort_keys=True)
    return [{"name": name, "value": values[name]} for name in names]


def _condition(status: Mapping[str, Any]) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Succeeded":
            return condition
    return None


def _set(status: dict[str, Any], value: str, reason: str, message: str) -> None:
    status["conditions"] = [
        c for c in status.get("conditions") or [] if c.get("type") != "Succeeded"
    ] + [{"type": "Succeeded", "status": value, "reason": reason, "message": message}]


def _finish(status: dict[str, Any], now: datetime, value: str, reason: str, message: str) -> None:
    _set(status, value, reason, message)
    status["completionTime"] = iso(now)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
