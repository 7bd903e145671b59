"""What the command modules share: ``NAME=VALUE`` flags and how runs, sizes and times print."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipetune.errors import UsageError
from pipetune.store import RunRecord


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """``--input`` (or ``--param``) values by name; ``UsageError`` for a malformed or repeated one."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input {pair!r}: expected NAME=VALUE")
        if name in values:
            raise UsageError(f"--input {name}: given twice")
        values[name] = value
    return values


def summary(record: RunRecord) -> str:
    """A finished run as ``pipetune run`` prints it: status, reason, metrics, outputs."""
    head = f"run {record.id}  {record.component}  {record.status}  {duration(record.duration)}"
    lines = [head]
    if record.status != "Succeeded" and record.message:
        lines.append(f"  reason   {record.reason}: {record.message}")
    if record.metrics:
        width = max(len(name) for name in record.metrics)
        lines.append("  metrics")
        for name, value in record.metrics.items():
            lines.append(f"    {name:<{width}}  {value_text(value)}")
    if record.outputs_dir:
        lines.append(f"  outputs  {short_path(record.outputs_dir)}")
    return "\n".join(lines)


def short_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def record_json(record: RunRecord) -> dict[str, Any]:
    """A run record as the ``--json`` flags print it."""
    return asdict(record)


def value_text(value: Any) -> str:
    """A parameter, metric or output value: floats to 6 significant digits, structures as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def metrics_inline(metrics: dict[str, float] | None, limit: int) -> str:
    """The first ``limit`` metrics on one line, ``...`` when there are more."""
    if not metrics:
        return ""
    items = [f"{name}={value_text(value)}" for name, value in list(metrics.items())[:limit]]
    return " ".join(items) + (" ..." if len(metrics) > limit else "")


def time_text(stamp: float | None) -> str:
    """A timestamp in local time, ``-`` for none."""
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def duration(seconds: float | None) -> str:
    """``4.2s``, ``3m07s`` or ``2h05m``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{int(rest):02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def size_text(size: int | None) -> str:
    """A size in B, KB, MB or GB; ``-`` for unknown."""
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return "-"


def age(seconds: float) -> str:
    """How long ago, in the largest whole unit: ``3d``, ``5h``, ``12m``, ``40s``."""
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{seconds:.0f}s"


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )
