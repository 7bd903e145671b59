"""``pipetune runs list|show|delete|gc|check``: the run store, as a table, in full, and pruned."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from pipetune.cli._common import (
    duration,
    metrics_inline,
    record_json,
    size_text,
    table,
    time_text,
    value_text,
)
from pipetune.engines.base import Reason
from pipetune.errors import UsageError
from pipetune.store import RunQuery, RunRecord, RunStore, disk_usage, remove_tree
from pipetune.tracking import parse_age, parse_since, state_dir_line, trial_index
from pipetune.tuner.journal import TrialState

#: How much of the parameters a table row shows.
_PARAMS_WIDTH = 60


def run_query(args: argparse.Namespace, top_level: bool) -> RunQuery:
    """The ``runs list`` flags as a query (``limit`` is applied to rows shown, not here)."""
    order, metric = args.sort, None
    if order.startswith("metric:"):
        order, metric = "created", order.removeprefix("metric:")
        if metric in ("", "-"):
            raise UsageError("--sort metric:NAME: expected a metric name (metric:-NAME for smallest first)")
    statuses = tuple(s.strip() for value in args.status for s in value.split(",") if s.strip())
    return RunQuery(
        status=tuple(s[:1].upper() + s[1:] for s in statuses),
        component=args.component,
        experiment=args.experiment,
        top_level=top_level,
        since=parse_since(args.since) if args.since else None,
        search=args.search,
        order=order,
        metric=metric,
    )


def list_runs(args: argparse.Namespace) -> int:
    """Recorded runs, newest first. Unfiltered, each experiment's or pipeline's children are
    listed under it (oldest first); with a filter, matching runs at any level. ``--limit``
    counts the rows printed."""
    store = RunStore(args.state_dir)
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: expected 0 (all) or more")
    filtered = bool(args.status or args.component or args.experiment or args.since or args.search)
    query = run_query(args, top_level=not filtered)
    limit = args.limit or None
    rows: list[tuple[RunRecord, bool]] = []
    hidden = 0
    # At most ``limit`` tops are needed: each is a row; children fill the rest.
    tops = store.query(dataclasses.replace(query, limit=limit))
    children = {} if filtered else store.children([r.id for r in tops])
    for record in tops:
        if limit is not None and len(rows) >= limit:
            break
        rows.append((record, False))
        for child in children.get(record.id, []):
            if limit is not None and len(rows) >= limit:
                hidden += 1
                continue
            rows.append((child, True))
    trials = trial_index(store, [r for r, _ in rows])
    if args.json:
        for record, _child in rows:
            print(json.dumps(_row_json(record, trials.get(record.id))))
        return 0
    total = store.count()
    print(f"runs in {state_dir_line(store)}: {total} recorded", file=sys.stderr)
    if not rows:
        print(f"no runs{' match' if filtered else ' recorded'} in {store.path}", file=sys.stderr)
        return 0
    out = [["RUN", "COMPONENT", "STATUS", "STARTED", "DURATION", "METRICS", "PARAMETERS"]]
    for run, nested in rows:
        trial = trials.get(run.id)
        component = run.component if trial is None else f"trial {trial.index} ({run.component})"
        parameters = trial.assignment if trial is not None else run.parameters
        out.append(
            [
                ("  " if nested else "") + run.id,
                component,
                run.status + (f" ({Reason.CACHED})" if run.reason == Reason.CACHED else ""),
                time_text(run.started_at or run.created_at),
                duration(run.duration),
                metrics_inline(run.metrics, limit=3),
                _inline(parameters),
            ]
        )
    print(table(out))
    if hidden:
        print(f"... {hidden} more child runs not shown (--limit {args.limit}; 0 for all)", file=sys.stderr)
    return 0


def _inline(values: dict[str, object] | None) -> str:
    text = " ".join(f"{k}={value_text(v)}" for k, v in (values or {}).items())
    return text if len(text) <= _PARAMS_WIDTH else text[: _PARAMS_WIDTH - 3] + "..."


def _row_json(record: RunRecord, trial: TrialState | None) -> dict[str, object]:
    data = record_json(record)
    if trial is not None:
        data["trial"] = {"index": trial.index, "parameters": trial.assignment, "status": trial.status.value}
    return data


def show_run(args: argparse.Namespace) -> int:
    """One run in full: where it ran, how it ended, its parameters, metrics and outputs."""
    store = RunStore(args.state_dir)
    record = store.get(args.run_id)
    trial = trial_index(store, [record]).get(record.id)
    if args.json:
        print(json.dumps(_row_json(record, trial), indent=2))
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
    if trial is not None:
        lines.append(("trial", f"{trial.index} ({trial.status.value})"))
    lines += [
        ("started", time_text(record.started_at)),
        ("finished", time_text(record.finished_at)),
        ("duration", duration(record.duration)),
        ("exit code", "-" if record.exit_code is None else str(record.exit_code)),
        ("outputs dir", record.outputs_dir or "-"),
        # A function trial that succeeded has no folder at all (FunctionEngine).
        ("logs", str(logs) if (logs := store.run_dir(record.id) / "logs").is_dir() else "-"),
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


def delete_runs(args: argparse.Namespace) -> int:
    """Remove the named runs with their children, outputs and logs; print the space freed."""
    store = RunStore(args.state_dir)
    removal = store.delete(args.run_ids, dry_run=args.dry_run, force=args.force)
    _report(store, removal.records, removal.freed, args.dry_run)
    return 0


def collect(args: argparse.Namespace) -> int:
    """``runs gc``: remove all but the newest ``--keep`` top-level runs and/or those older than
    ``--older-than`` (with their children), and run folders left without a run."""
    if args.keep is None and args.older_than is None:
        raise UsageError("runs gc: expected --keep N and/or --older-than AGE (e.g. 7d)")
    if args.keep is not None and args.keep < 0:
        raise UsageError(f"--keep {args.keep}: expected 0 or more")
    store = RunStore(args.state_dir)
    tops = store.query(RunQuery(top_level=True))
    doomed = tops[args.keep:] if args.keep is not None else tops
    if args.older_than is not None:
        cutoff = time.time() - parse_age(args.older_than)
        doomed = [r for r in doomed if r.created_at < cutoff]
    skipped = [r for r in doomed if r.status in ("Pending", "Running")]
    doomed = [r for r in doomed if r.status not in ("Pending", "Running")]
    removal = store.delete([r.id for r in doomed], dry_run=args.dry_run) if doomed else None
    orphans = store.orphans()
    from_orphans = 0
    if orphans:
        from_orphans = disk_usage(orphans)
        if not args.dry_run:
            for path in orphans:
                remove_tree(path, store.state_dir)
    records = removal.records if removal else []
    _report(store, records, (removal.freed if removal else 0) + from_orphans, args.dry_run)
    if orphans:
        print(f"{'would remove' if args.dry_run else 'removed'} {len(orphans)} run folder(s) with no run")
    for record in skipped:
        print(f"kept {record.id}: it is {record.status}", file=sys.stderr)
    return 0


def _report(store: RunStore, records: list[RunRecord], freed: int, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleted"
    tops = [r for r in records if r.parent_id is None or r.parent_id not in {x.id for x in records}]
    for record in tops:
        print(f"{verb} {record.id}  {record.component}  {record.status}")
    children = len(records) - len(tops)
    print(
        f"{verb} {len(records)} run(s) ({children} of them child runs); "
        f"{'would free' if dry_run else 'freed'} {size_text(freed)} ({freed} bytes) in {store.state_dir}"
    )


def check_store(args: argparse.Namespace) -> int:
    """``runs check``: the store's integrity; 1 when something is wrong."""
    store = RunStore(args.state_dir)
    problems = store.check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {store.state_dir}", file=sys.stderr)
        return 1
    print(f"{store.path}: ok, {store.count()} runs")
    return 0
