"""``pipetune runs list`` and ``pipetune runs show``: the run store, as a table or in full."""

from __future__ import annotations

import argparse
import json
import sys

from pipetune.cli._common import duration, metrics_inline, record_json, table, time_text, value_text
from pipetune.store import RunRecord, RunStore


def list_runs(args: argparse.Namespace) -> int:
    """Recorded runs, newest first, each experiment's or pipeline's children under it."""
    store = RunStore(args.state_dir)
    # Experiments and pipelines come with their children listed under them, oldest first.
    records: list[tuple[RunRecord, bool]] = []
    for record in store.list(limit=args.limit or None, top_level=True):
        records.append((record, False))
        records.extend((child, True) for child in reversed(store.list(parent_id=record.id)))
    if args.json:
        for record, _child in records:
            print(json.dumps(record_json(record)))
        return 0
    if not records:
        print(f"no runs recorded in {store.path}", file=sys.stderr)
        return 0
    rows = [["RUN", "COMPONENT", "STATUS", "STARTED", "DURATION", "METRICS"]]
    for record, child in records:
        rows.append(
            [
                ("  " if child else "") + record.id,
                record.component,
                record.status,
                time_text(record.started_at or record.created_at),
                duration(record.duration),
                metrics_inline(record.metrics, limit=3),
            ]
        )
    print(table(rows))
    return 0


def show_run(args: argparse.Namespace) -> int:
    """One run in full: where it ran, how it ended, its parameters, metrics and outputs."""
    record = RunStore(args.state_dir).get(args.run_id)
    if args.json:
        print(json.dumps(record_json(record), indent=2))
        return 0
    lines = [
        ("run", record.id),
        ("component", f"{record.component}" + (f"  ({record.component_path})" if record.component_path else "")),
        ("engine", record.engine),
        ("status", record.status + (f" ({record.reason})" if record.reason else "")),
    ]
    if record.message:
        lines.append(("message", record.message))
    if record.parent_id:
        lines.append(("parent", record.parent_id))
    lines += [
        ("started", time_text(record.started_at)),
        ("finished", time_text(record.finished_at)),
        ("duration", duration(record.duration)),
        ("exit code", "-" if record.exit_code is None else str(record.exit_code)),
        ("outputs dir", record.outputs_dir or "-"),
        ("command", " ".join(record.command) if record.command else "-"),
    ]
    width = max(len(key) for key, _ in lines)
    out = [f"{key:<{width}}  {value}" for key, value in lines]
    for title, values in (
        ("parameters", record.parameters),
        ("metrics", record.metrics),
        ("outputs", record.outputs),
    ):
        out.append(f"{title}:" if values else f"{title}: -")
        for name, value in (values or {}).items():
            out.append(f"  {name}: {value_text(value)}")
    print("\n".join(out))
    return 0
