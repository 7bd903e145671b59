"""Results recovered from a run's log, for runs that wrote no results.yaml.

Two conventions are read: pipetune's own ``pipetune.report {...}`` lines, and Katib's StdOut
metrics collector (``name=value``, matched with Katib's default regular expression), so Katib
trial images work unchanged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from pipetune.contract._report import REPORT_PREFIX
from pipetune.contract._results import Results

#: Katib's default metrics filter for the StdOut collector.
KATIB_DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


@dataclass(frozen=True)
class LogMetrics:
    """How to read metrics from a run's log, Katib's collector settings in one value.

    ``names`` keeps only those metrics (None: all); ``filters`` are ``metricsFormat`` regular
    expressions (None: Katib's default); ``file`` is a metrics file to read instead of stdout
    (Katib's File collector, the path as the run sees it) and ``json`` says its lines are JSON
    objects rather than text.
    """

    names: tuple[str, ...] | None = None
    filters: tuple[str, ...] | None = None
    file: str | None = None
    json: bool = False

    def read(self, lines: Iterable[str]) -> Results | None:
        if self.json:
            return results_from_json_lines(lines, self.names)
        return results_from_log(lines, self.names, self.filters)


def results_from_json_lines(
    lines: Iterable[str], metric_names: Collection[str] | None = None
) -> Results | None:
    """Katib's File collector in JSON format: one JSON object of metrics per line (values may
    be numbers or numeric strings; other keys, such as ``timestamp``, are skipped)."""
    history = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        kept: dict[str, float] = {}
        for name, value in entry.items():
            if metric_names is not None and name not in metric_names:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and not isinstance(value, bool):
                kept[name] = number
        if kept:
            history.append(kept)
    if not history:
        return None
    metrics: dict[str, float] = {}
    for entry in history:
        metrics.update(entry)
    return Results(metrics=metrics, history=history)


def results_from_log(
    lines: Iterable[str],
    metric_names: Collection[str] | None = None,
    filters: Collection[str] | None = None,
) -> Results | None:
    """Build results from log lines, or None when the log holds no metrics at all.

    ``pipetune.report`` lines win when present. Otherwise each line's ``name=value`` pairs
    (Katib's filter, or ``filters``) become one history entry and the last value of each name
    its metric. ``metric_names`` keeps only those names, as Katib's collector does.
    """
    lines = list(lines)
    reports = _report_entries(lines)
    history = reports if reports else _katib_entries(lines, filters or [KATIB_DEFAULT_FILTER])
    if metric_names is not None:
        wanted = set(metric_names)
        history = [
            kept
            for entry in history
            if (kept := {k: v for k, v in entry.items() if k in wanted or k == "step"})
            and set(kept) != {"step"}
        ]
    if not history:
        return None
    metrics: dict[str, float] = {}
    for entry in history:
        metrics.update({k: v for k, v in entry.items() if k != "step"})
    return Results(metrics=metrics, history=history)


def _report_entries(lines: list[str]) -> list[dict[str, float]]:
    entries = []
    for line in lines:
        start = line.find(REPORT_PREFIX)
        if start < 0:
            continue
        try:
            entry = json.loads(line[start + len(REPORT_PREFIX) :])
        except ValueError:
            continue
        if isinstance(entry, dict):
            clean = {k: v for k, v in entry.items() if _finite(v)}
            if clean:
                entries.append(clean)
    return entries


def _katib_entries(lines: list[str], filters: Collection[str]) -> list[dict[str, float]]:
    patterns = [re.compile(f) for f in filters]
    entries = []
    for line in lines:
        entry: dict[str, float] = {}
        for pattern in patterns:
            for match in pattern.finditer(line):
                name, text = match.group(1), match.group(2)
                try:
                    value = float(text)
                except ValueError:
                    continue  # Katib's expression also matches "name=" with no number
                if math.isfinite(value):
                    entry[name] = value
        if entry:
            entries.append(entry)
    return entries


def _finite(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
