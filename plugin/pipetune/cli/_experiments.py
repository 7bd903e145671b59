"""``pipetune experiments list|show|delete``: experiments as their journals tell them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipetune.cli._common import duration, short_path, size_text, table, time_text, value_text
from pipetune.store import RunStore, inside
from pipetune.tracking import ExperimentView, experiments, find_experiment, state_dir_line
from pipetune.tuner.display import failure_notes, trials_table


def list_experiments(args: argparse.Namespace) -> int:
    """Every experiment, newest first: status, progress, best objective, algorithm, timing."""
    store = RunStore(args.state_dir)
    views = experiments(store)
    if args.json:
        for view in views:
            print(json.dumps(summary_json(view)))
        return 0
    print(f"experiments in {state_dir_line(store)}", file=sys.stderr)
    if not views:
        print(f"no experiments recorded in {store.path}", file=sys.stderr)
        return 0
    rows = [["NAME", "STATUS", "TRIALS", "BEST", "ALGORITHM", "STARTED", "DURATION", "RUN"]]
    for view in views:
        best = view.best
        metric = view.state.metric if view.state else None
        rows.append([
            view.name,
            view.status,
            _progress(view),
            f"{metric} {best.objective:.6g} (trial {best.index})" if best and best.objective is not None else "-",
            view.algorithm or "-",
            time_text(view.started),
            duration(view.duration()),
            view.id,
        ])
    print(table(rows))
    return 0


def _progress(view: ExperimentView) -> str:
    counts = view.counts
    text = f"{view.done}/{len(view.trials)} done"
    if counts["Running"]:
        text += f", {counts['Running']} running"
    failed = counts["Failed"] + counts["MetricsUnavailable"]
    if failed:
        text += f", {failed} failed"
    return text


def summary_json(view: ExperimentView) -> dict[str, Any]:
    """An experiment's summary as ``--json`` prints it (and the dashboard serves it)."""
    best = view.best
    return {
        "id": view.id,
        "name": view.name,
        "status": view.status,
        "algorithm": view.algorithm,
        "metric": view.state.metric if view.state else None,
        "minimize": view.state.minimize if view.state else None,
        "trials": len(view.trials),
        "done": view.done,
        "counts": dict(view.counts),
        "best": None if best is None else {"trial": best.index, "objective": best.objective,
                                           "parameters": best.assignment, "run_id": best.run_id},
        "started": view.started,
        "duration": view.duration(),
        "directory": str(view.directory) if view.directory else None,
        "problem": view.problem,
    }


def show_experiment(args: argparse.Namespace) -> int:
    """One experiment: its summary, the trials table with the best starred, why trials failed."""
    store = RunStore(args.state_dir)
    view = find_experiment(store, args.experiment)
    if args.json:
        data = summary_json(view)
        data["trial_rows"] = [
            {"trial": t.index, "status": t.status.value, "parameters": t.assignment, "objective": t.objective,
             "metrics": t.metrics, "reason": t.reason, "message": t.message, "run_id": t.run_id}
            for t in view.trials
        ]
        print(json.dumps(data, indent=2))
        return 0
    lines = [
        ("experiment", view.name),
        ("run", view.id),
        ("status", view.status + (f" ({view.state.reason})" if view.state and view.state.reason else "")),
        ("algorithm", view.algorithm or "-"),
        ("trials", _progress(view)),
        ("started", time_text(view.started)),
        ("duration", duration(view.duration())),
        ("directory", short_path(str(view.directory)) if view.directory else "-"),
    ]
    if view.problem:
        lines.append(("problem", view.problem))
    width = max(len(k) for k, _ in lines)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in lines))
    objective = view.objective
    if objective is not None and view.trials:
        print()
        print(trials_table(view.trials, objective, view.best))
        for note in failure_notes(view.trials):
            print(note)
    best = view.best
    if best is not None and best.objective is not None and objective is not None:
        print()
        print(f"best {objective.metric} {best.objective:.6g} (trial {best.index}, run {best.run_id})")
        for name, value in best.assignment.items():
            print(f"  {name}: {value_text(value)}")
    return 0


def delete_experiment(args: argparse.Namespace) -> int:
    """Remove an experiment: its run, its trials' runs (outputs and logs), and its directory
    when that lies inside the state directory."""
    store = RunStore(args.state_dir)
    view = find_experiment(store, args.experiment)
    removal = store.delete([view.id], dry_run=args.dry_run, force=args.force)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} experiment {view.name} ({view.id}): {len(removal.records) - 1} trial run(s); "
          f"{'would free' if args.dry_run else 'freed'} {size_text(removal.freed)} ({removal.freed} bytes)")
    if view.directory and not inside(view.directory, store.state_dir):
        print(f"kept {view.directory}: it lies outside the state directory {store.state_dir}", file=sys.stderr)
    return 0
