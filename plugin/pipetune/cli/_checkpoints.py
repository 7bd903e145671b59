"""``pipetune checkpoints list`` and ``pipetune checkpoints gc``: the checkpoints of a run, an
experiment or a store."""

from __future__ import annotations

import argparse
import json
import time

from pipetune.checkpoints import CheckpointInfo, CheckpointStore, Retention, find_entities
from pipetune.cli._common import age, size_text, table
from pipetune.store import RunStore


def list_checkpoints(args: argparse.Namespace) -> int:
    """Every checkpoint of the target, with a star on those its results.yaml points at."""
    rows = [["ENTITY", "CHECKPOINT", "STEP", "SIZE", "AGE", "COMPLETE", "METADATA"]]
    now = time.time()
    starred = False
    for entity in find_entities(args.target, RunStore(args.state_dir)):
        for info in CheckpointStore(entity.uri).list():
            if args.json:
                print(json.dumps({"entity": entity.name, "name": info.name, "uri": info.uri,
                                  "step": info.step, "size": info.size, "created": info.created,
                                  "complete": info.complete, "problem": info.problem,
                                  "metadata": dict(info.metadata)}, sort_keys=True))
                continue
            starred = starred or info.name in entity.protect
            rows.append([
                entity.name,
                info.name + (" *" if info.name in entity.protect else ""),
                "-" if info.step is None else str(info.step),
                size_text(info.size),
                age(now - info.created) if info.created else "-",
                "yes" if info.complete else f"no ({info.problem or 'no marker'})",
                json.dumps(dict(info.metadata), sort_keys=True) if info.metadata else "",
            ])
    if not args.json:
        if len(rows) == 1:
            print(f"no checkpoints in {args.target}")
        else:
            print(table(rows))
            if starred:
                print("* results.yaml points at it")
    return 0


def collect(args: argparse.Namespace) -> int:
    """What retention drops, incomplete checkpoints and abandoned saves: listed, or with
    ``--apply`` removed."""
    retention = Retention(args.keep_last, args.keep_best, args.metric, args.mode)
    total = 0
    for entity in find_entities(args.target, RunStore(args.state_dir)):
        store = CheckpointStore(entity.uri, retention)
        plan: list[CheckpointInfo | str] = store.plan_collection(set(entity.protect), args.stale_seconds)
        for item in plan:
            what = f"{item.name} ({'complete' if item.complete else 'incomplete'}, " \
                f"{size_text(item.size)})" if isinstance(item, CheckpointInfo) else f"{item} (abandoned save)"
            print(f"{'removed' if args.apply else 'would remove'}  {entity.name}  {what}")
        if args.apply:
            store.collect(set(entity.protect), args.stale_seconds)
        total += len(plan)
    verb = "removed" if args.apply else "would remove"
    print(f"{verb} {total} item(s)" + ("" if args.apply or not total else "; run again with --apply"))
    return 0
