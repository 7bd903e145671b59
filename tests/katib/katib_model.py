"""Katib's own rules, re-written plainly for the tests to compare pipetune against.

Written from Katib v1beta1's source (commit 33c8ff4e5), not from pipetune's code:

* ``collect_text`` / ``collect_json``: ``pkg/metricscollector/v1beta1/file-metricscollector``
  (``parseLogsInTextFormat``, ``parseLogsInJsonFormat``, ``newObservationLog``): a line
  counts only if it holds a metric name; an RFC 3339 timestamp before the first space dates
  it; each match of each filter gives a (name, value), both trimmed, kept when the name is a
  metric; JSON values count only when they are strings; no objective value at all gives the
  single value ``unavailable``;
* ``observation``: ``pkg/controller.v1beta1/trial`` ``getMetrics``: min and max over the
  values that parse as numbers, latest the value with the latest timestamp (ties: the later
  one);
* ``objective_value``: ``experiment/util`` ``getObjectiveMetricValue``;
* ``median_stop``: ``pkg/earlystopping/v1beta1/medianstop`` (the rule is the mean of each
  succeeded trial's mean of its first ``start_step`` values, given to a trial when it is
  created) and the file collector's ``watchMetricsFile`` (the rule is tested once, at the
  ``start_step``-th value, against the best value so far);
* ``experiment_failed``: ``UpdateExperimentStatusCondition``: failed trials (Failed and
  MetricsUnavailable) reaching ``maxFailedTrialCount``, when there is one and some failed.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
UNAVAILABLE = "unavailable"
ZERO = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class MetricLog:
    time: datetime.datetime
    name: str
    value: str


def _rfc3339(text: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # Go's RFC3339 needs the T, the zone and a full date and time.
    if "T" not in text or moment.tzinfo is None:
        return None
    return moment


def _objective_or_unavailable(logs: list[MetricLog], metrics: Sequence[str]) -> list[MetricLog]:
    if any(log.name == metrics[0] for log in logs):
        return logs
    return [MetricLog(ZERO, metrics[0], UNAVAILABLE)]


def collect_text(lines: Iterable[str], metrics: Sequence[str], filters: Sequence[str] = ()) -> list[MetricLog]:
    """Katib's TEXT collection (StdOut and File TEXT) of ``lines``."""
    # Go's regexp classes are ASCII.
    patterns = [re.compile(f, re.ASCII) for f in (filters or [DEFAULT_FILTER])]
    logs = []
    for line in lines:
        if not any(m in line for m in metrics):
            continue
        head, _, _ = line.partition(" ")
        stamp = _rfc3339(head) if " " in line else None
        for pattern in patterns:
            for match in pattern.finditer(line):
                if pattern.groups < 2:
                    continue
                name, value = (match.group(1) or "").strip(), (match.group(2) or "").strip()
                if name in metrics:
                    logs.append(MetricLog(stamp or ZERO, name, value))
    return _objective_or_unavailable(logs, metrics)


def collect_json(lines: Iterable[str], metrics: Sequence[str]) -> list[MetricLog]:
    """Katib's JSON collection (File JSON) of ``lines``."""
    logs = []
    for line in lines:
        if not line:
            continue
        record = json.loads(line)
        stamp = ZERO
        given = record.get("timestamp")
        if isinstance(given, str):
            stamp = _rfc3339(given) or ZERO
        elif isinstance(given, (int, float)):
            stamp = datetime.datetime.fromtimestamp(given, datetime.UTC)
        for name in metrics:
            if isinstance(record.get(name), str):
                logs.append(MetricLog(stamp, name, record[name]))
    return _objective_or_unavailable(logs, metrics)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def observation(logs: Sequence[MetricLog], names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each metric's min, max and latest as Katib's trial controller records them."""
    found = {name: {"min": UNAVAILABLE, "max": UNAVAILABLE, "latest": UNAVAILABLE} for name in names}
    latest: dict[str, datetime.datetime] = {}
    for log in logs:
        metric = found.get(log.name)
        if metric is None:
            continue
        value = _number(log.value)
        if value is not None:
            if metric["min"] == UNAVAILABLE:
                metric["min"] = metric["max"] = log.value
            elif value < float(metric["min"]):
                metric["min"] = log.value
            elif value > float(metric["max"]):
                metric["max"] = log.value
        if log.name not in latest or not latest[log.name] > log.time:
            latest[log.name] = log.time
            metric["latest"] = log.value
    return found


def objective_value(observed: dict[str, dict[str, str]], metric: str, strategy: str) -> float | None:
    """The trial's objective value, None when unavailable."""
    entry = observed[metric]
    text = entry["latest"] if strategy == "latest" or entry[strategy] == UNAVAILABLE else entry[strategy]
    return None if text == UNAVAILABLE else _number(text)


def values_in_order(logs: Sequence[MetricLog], metric: str) -> list[float]:
    """The metric's values as a running trial reports them (what the sidecar tests)."""
    return [v for log in logs if log.name == metric and (v := _number(log.value)) is not None]


def median_stop(
    trials: Sequence[Sequence[float]], minimize: bool, min_trials_required: int = 3, start_step: int = 4
) -> set[int]:
    """Which of ``trials`` (their objective values in report order, run one at a time in
    this order) Katib's medianstop stops."""
    averages: list[float] = []
    stopped = set()
    for index, values in enumerate(trials):
        rule = sum(averages) / len(averages) if len(averages) >= min_trials_required else None
        if rule is not None and len(values) >= start_step:
            best = min(values[:start_step]) if minimize else max(values[:start_step])
            if (best > rule) if minimize else (best < rule):
                stopped.add(index)
                continue
        first = values[:start_step]
        averages.append(sum(first) / len(first))
    return stopped


def experiment_failed(failed: int, max_failed: int | None) -> bool:
    """Whether Katib fails the experiment for its failed trials."""
    return max_failed is not None and failed != 0 and failed >= max_failed
