"""How much the controller writes to a parent's status as an experiment grows (issue 15):
the journal as one list rewritten with every update (before) versus frozen compressed
segments plus the recent records (``controller._parent.journal_status``).

    python bench/controller_status.py [--trials 2000] [--curve 20]

The journal is the one a tuner writes, record for record (created, starting, started,
finished with metrics and an early-stopping curve of ``--curve`` points), grown one record
at a time, with one status write per record (the controller writes at most that often).
Each write's size is the JSON of the merge patch from the previous status (what the
Kubernetes client sends); the status size is the JSON of the whole extraFields.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from typing import Any

from pipetune.controller._journal import compact_records, journal_records, journal_status
from pipetune.controller._parent import status_patch


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


def measure(journal: list[dict[str, Any]], encode: Any) -> dict[str, float]:
    old: dict[str, Any] = {}
    writes = []
    for n in range(1, len(journal) + 1):
        new = encode(journal[:n], old)
        writes.append(len(json.dumps(status_patch(old, new), separators=(",", ":"))))
        old = new
    return {"final_status_bytes": len(json.dumps(old, separators=(",", ":"))), "median_write": statistics.median(writes),
            "max_write": max(writes), "total_written": sum(writes)}


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
    # Read back exact, less the fields no state depends on (record times).
    assert compact_records(journal_records(journal_status(journal))) == compact_records(journal)
    small = journal[:50]
    assert measure_one_list(small) == measure(small, lambda r, _old: {"journal": list(r)})
    rows = {"one list (before)": measure_one_list(journal),
            "segments (now)": measure(journal, journal_status)}
    print(f"{args.trials} trials, {len(journal)} records, curves of {args.curve} points, one status write per record")
    print(f"{'encoding':20} {'final status':>14} {'median write':>13} {'max write':>11} {'total written':>15}")
    for name, row in rows.items():
        print(f"{name:20} {row['final_status_bytes']:>14,.0f} {row['median_write']:>13,.0f} "
              f"{row['max_write']:>11,.0f} {row['total_written']:>15,.0f}")
    before, now = rows["one list (before)"], rows["segments (now)"]
    print(f"ratio (before / now): status {before['final_status_bytes'] / now['final_status_bytes']:.1f}x, "
          f"written {before['total_written'] / now['total_written']:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
