"""How much the controller writes to a parent's status as an experiment grows (issue 15):
the journal as one list rewritten with every update (oldest), frozen compressed segments kept
in the status (before), and those segments archived in ConfigMaps the parent owns with the
status holding the recent records and a constant-size reference (now,
``controller._journal.journal_status``).

    python bench/controller_status.py [--trials 2000] [--curve 20]

The journal is the one a tuner writes, record for record (created, starting, started,
finished with metrics and an early-stopping curve of ``--curve`` points), grown one record
at a time, with one status write per record (the controller writes at most that often).
Each write's size is the JSON of the merge patch from the previous status (what the
Kubernetes client sends) plus the JSON of its ConfigMap writes (a create's whole object, a
patch's JSON patch); the status size is the JSON of the whole extraFields. "Segments in the
status" is the status the same segments make when kept inline (``journalSegments``), the
layout of the commit before.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from typing import Any

from pipetune.controller._journal import (
    DEFAULT_LAYOUT,
    LINK_KEY,
    Layout,
    journal_labels,
    journal_records,
    journal_status,
)
from pipetune.controller._parent import status_patch

BASE = "bench-customrun-journal"
OWNER = {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "name": "bench",
         "uid": "6c1f0b1e-0000-4000-8000-000000000000", "controller": True}



def records(trials: int, curve: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    clock = 1.76e9  # time.time() stamps, as the tuner writes them: seconds apart, full precision

    def now() -> float:
        nonlocal clock
        clock += rng.uniform(0.01, 3.0)
        return clock

    out: list[dict[str, Any]] = [{"op": "experiment_started", "version": 1, "name": "bench", "seed": seed,
                                  "spec": "0" * 64, "metric": "loss", "minimize": True,
                                  "parameters": ["lr", "depth", "kernel"], "time": now()}]
    for trial in range(trials):
        # A Katib parameter list: the tuner journals no ``internal`` for it.
        assignment = {"lr": 10 ** rng.uniform(-5, -1), "depth": rng.randint(2, 12), "kernel": rng.choice("abc")}
        run = f"bench-{trial:05d}-{rng.getrandbits(24):06x}"
        finished: dict[str, Any] = {
            "op": "trial_finished", "trial": trial, "attempt": 0, "status": "Succeeded", "objective": rng.random(),
            "metrics": {"loss": rng.random(), "accuracy": rng.random()}, "reason": "Completed", "message": None,
            "run_id": run, "time": now()}
        if curve:
            finished["curve"] = [[s, rng.random()] for s in range(curve)]
        out += [
            {"op": "trial_created", "trial": trial, "assignment": assignment, "internal": None, "time": now()},
            {"op": "trial_starting", "trial": trial, "attempt": 0, "run_id": run, "time": now()},
            {"op": "trial_started", "trial": trial, "attempt": 0, "run_id": run, "time": now()},
            finished,
        ]
    return out


def measure(journal: list[dict[str, Any]], layout: Layout = DEFAULT_LAYOUT) -> dict[str, float]:
    """The figures of the ConfigMap archive, grown a record at a time (see the module docstring)."""
    old: dict[str, Any] = {}
    store: dict[str, dict[str, str]] = {}
    writes, statuses = [], []
    for n in range(1, len(journal) + 1):
        new = journal_status(journal[:n], old, BASE, layout)
        sent = len(json.dumps(status_patch(old, new.fields), separators=(",", ":")))
        for write in new.writes:
            if write.create:
                store[write.name] = dict(write.data)
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                    "name": write.name, "namespace": "ns", "labels": journal_labels("CustomRun", "bench"),
                    "ownerReferences": [OWNER]}, "data": dict(write.data)}
            else:
                store[write.name].update(write.data)
                body = [{"op": "add", "path": f"/data/{k}", "value": v} for k, v in write.data.items()]
            sent += len(json.dumps(body, separators=(",", ":")))
        writes.append(sent)
        statuses.append(len(json.dumps(new.fields, separators=(",", ":"))))
        old = new.fields
    assert journal_records(old, store) == journal  # read back exact
    segments = {k: v for data in store.values() for k, v in data.items() if k != LINK_KEY}
    inline = {"journalSegments": segments, "journal": old["journal"]}
    return {"final_status_bytes": statuses[-1], "max_status_bytes": max(statuses),
            "inline_status_bytes": len(json.dumps(inline, separators=(",", ":"))),
            "median_write": statistics.median(writes), "max_write": max(writes), "total_written": sum(writes),
            "configmaps": len(store),
            "largest_configmap": max((sum(len(k) + len(v) for k, v in d.items()) for d in store.values()), default=0)}


def measure_one_list(journal: list[dict[str, Any]]) -> dict[str, float]:
    """``measure`` of the one-list encoding, whose every patch is the whole list: summed record
    by record rather than serialised again at every write (the same figures, in linear time)."""
    wrap = len(json.dumps({"journal": []}, separators=(",", ":")))
    size, writes = wrap, []
    for n, record in enumerate(journal):
        size += len(json.dumps(record, separators=(",", ":"))) + (1 if n else 0)
        writes.append(size)
    return {"final_status_bytes": size, "median_write": statistics.median(writes), "max_write": max(writes),
            "total_written": sum(writes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--curve", type=int, default=20)
    args = parser.parse_args()
    journal = records(args.trials, args.curve)
    small = journal[:50]
    wrap = {"journal": small}
    assert measure_one_list(small)["final_status_bytes"] == len(json.dumps(wrap, separators=(",", ":")))
    oldest, now = measure_one_list(journal), measure(journal)
    print(f"{args.trials} trials, {len(journal)} records, curves of {args.curve} points, one status write per record")
    print(f"status: one list (oldest) {oldest['final_status_bytes']:,.0f} B; segments in the status (before) "
          f"{now['inline_status_bytes']:,.0f} B; ConfigMaps (now) {now['final_status_bytes']:,.0f} B at the end, "
          f"{now['max_status_bytes']:,.0f} B at most")
    print(f"writes (now): median {now['median_write']:,.0f} B, max {now['max_write']:,.0f} B, total "
          f"{now['total_written']:,.0f} B (one list: median {oldest['median_write']:,.0f} B, total "
          f"{oldest['total_written']:,.0f} B)")
    print(f"ConfigMaps: {now['configmaps']}, the largest {now['largest_configmap']:,.0f} B of data")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
