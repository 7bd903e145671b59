"""What following a running trial's metrics costs, before and after issue 20.

    python bench/katib_progress.py              # 3 repeats
    python bench/katib_progress.py --repeats 5 --reads 2000 --polls 500

Two cases, each timed ``old`` (the code before the fix, copied below) against ``new`` (what the
engines run now), medians over ``--repeats``:

* ``kubernetes``: a trial's log read for progress in ``--reads`` slices of ``--lines`` Katib
  StdOut lines each (what ``KubernetesEngine.intermediate`` does every ``progress_interval``).
  ``old`` parsed each slice with a new reader and appended its history to a tuple, copying the
  whole history every read (quadratic in the reads); ``new`` feeds one reader (linear, and its
  history bounded).
* ``results.yaml``: ``LocalEngine.intermediate`` asked ``--polls`` times while the run's
  results.yaml (``--entries`` history entries) does not change. ``old`` parsed the file on every
  call; ``new`` parses it once and then only stats it.

The table goes to stdout, the figures to ``bench/out/katib_progress.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from pipetune.contract import LogMetrics, Results, ResultsWatch, read_results, write_results
from pipetune.engines.kubernetes._engine import LogProgress

OUT = Path(__file__).resolve().parent / "out" / "katib_progress.json"


def old_add(history: tuple, lines: list[str], spec: LogMetrics) -> tuple:
    """LogProgress.add before the fix (reports handling left out: no report lines here)."""
    found = spec.read(lines)
    if found is not None and found.history:
        history = (*history, *found.history)
    return history


def kubernetes_case(reads: int, lines_per_read: int) -> dict[str, float]:
    spec = LogMetrics(names=("loss",))
    slices = [[f"epoch {r}: loss={1 / (r * lines_per_read + i + 1)}" for i in range(lines_per_read)]
              for r in range(reads)]
    start = time.perf_counter()
    history: tuple = ()
    for piece in slices:
        history = old_add(history, piece, spec)
        _ = history  # intermediate() returned it
    old = time.perf_counter() - start
    start = time.perf_counter()
    progress = LogProgress()
    for piece in slices:
        progress.add(piece, spec)
        _ = progress.history
    new = time.perf_counter() - start
    return {"old": old, "new": new}


def results_case(polls: int, entries: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        history = [{"step": step + 1, "loss": 1 / (step + 1)} for step in range(entries)]
        write_results(Results(metrics={"loss": 1 / entries}, history=history), folder)
        start = time.perf_counter()
        for _ in range(polls):
            _ = read_results(folder).history
        old = time.perf_counter() - start
        watch = ResultsWatch(folder)
        start = time.perf_counter()
        for _ in range(polls):
            watch.read()
        new = time.perf_counter() - start
    return {"old": old, "new": new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--entries", type=int, default=500)
    args = parser.parse_args()
    cases = {
        f"kubernetes: {args.reads} reads of {args.lines} lines": lambda: kubernetes_case(args.reads, args.lines),
        f"results.yaml: {args.polls} polls, {args.entries} entries": lambda: results_case(args.polls, args.entries),
    }
    figures = {}
    print(f"{'case':<44} {'old s':>9} {'new s':>9} {'old/new':>8}")
    for name, case in cases.items():
        runs = [case() for _ in range(args.repeats)]
        old = statistics.median(r["old"] for r in runs)
        new = statistics.median(r["new"] for r in runs)
        figures[name] = {"old_s": old, "new_s": new, "ratio": old / new if new else None}
        print(f"{name:<44} {old:>9.3f} {new:>9.3f} {old / new:>8.1f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
