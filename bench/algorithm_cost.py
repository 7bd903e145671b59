"""What the tuner's algorithms cost, beside Optuna, in one run.

    python bench/algorithm_cost.py [--repeats 5] [--history 100,1000,2000]

1. Import time, each in a fresh interpreter, median of ``--repeats``: ``import optuna``,
   ``import pipetune``, ``import pipetune`` then ``from hyperopt import hp`` (a hyperopt
   expression space, the Python API's way), and ``import pipetune`` plus building ``auto``
   (what a tuner loads before its first suggestion); and whether ``scipy.stats`` got loaded.
2. Time per suggestion as the history grows, the algorithm alone (no engine, no journal):
   one ``auto`` object asked trial after trial, as the tuner asks it, on a 6-parameter space;
   beside Optuna's own ask + tell with its default TPE sampler on the same space. Reported
   is the mean over the last 20 trials before each history size, so growth is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

IMPORTS = {
    "import optuna": "import optuna",
    "import hyperopt": "import hyperopt",
    "import pipetune": "import pipetune",
    "import pipetune; from hyperopt import hp": "import pipetune\nfrom hyperopt import hp",
    "import pipetune; get_algorithm('auto')": (
        "import pipetune\nfrom pipetune.tuner.algorithms import get_algorithm\nget_algorithm('auto')"
    ),
}


def import_seconds(code: str) -> tuple[float, bool]:
    probe = (f"import time, sys\nt = time.perf_counter()\n{code}\n"
             "print(time.perf_counter() - t, 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    seconds, stats = out.stdout.split()
    return float(seconds), stats == "True"


def suggestion_times(sizes: list[int]) -> dict[str, dict[int, float]]:
    import math

    import optuna

    from pipetune.tuner.algorithms import get_algorithm, trial_seed
    from pipetune.tuner.history import TrialRecord, TrialStatus
    from pipetune.tuner.space import DoubleParameter, SearchSpace

    space = SearchSpace(tuple(DoubleParameter(f"x{i}", 0.0, 1.0) for i in range(6)))

    def f(a: dict) -> float:
        return sum((a[f"x{i}"] - 0.3) ** 2 + 0.1 * math.sin(9 * a[f"x{i}"]) for i in range(6))

    out: dict[str, dict[int, float]] = {"pipetune auto": {}, "optuna TPESampler ask+tell": {}}
    algorithm = get_algorithm("auto")
    history: list[TrialRecord] = []
    spent: list[float] = []
    for k in range(max(sizes)):
        start = time.perf_counter()
        s = algorithm.suggest(space, history, trial_seed(0, k))
        spent.append(time.perf_counter() - start)
        history.append(TrialRecord(k, s.assignment, TrialStatus.SUCCEEDED, f(s.assignment)))
        if k + 1 in sizes:
            out["pipetune auto"][k + 1] = statistics.fmean(spent[-20:]) * 1000

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    spent = []
    for k in range(max(sizes)):
        start = time.perf_counter()
        trial = study.ask()
        x = {f"x{i}": trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)}
        study.tell(trial, f(x))
        spent.append(time.perf_counter() - start)
        if k + 1 in sizes:
            out["optuna TPESampler ask+tell"][k + 1] = statistics.fmean(spent[-20:]) * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", default="100,1000,2000")
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.history.split(","))
    result: dict[str, object] = {"imports": {}, "ms_per_suggestion": {}}
    print(f"| import (median of {args.repeats}, fresh interpreter) | seconds | scipy.stats loaded |")
    print("|---|---:|---|")
    for label, code in IMPORTS.items():
        runs = [import_seconds(code) for _ in range(args.repeats)]
        seconds = statistics.median(r[0] for r in runs)
        result["imports"][label] = {"seconds": seconds, "scipy_stats": runs[0][1]}  # type: ignore[index]
        print(f"| `{label}` | {seconds:.3f} | {'yes' if runs[0][1] else 'no'} |")
    times = suggestion_times(sizes)
    result["ms_per_suggestion"] = times
    print()
    print("| ms per trial, mean of the 20 before | " + " | ".join(str(n) for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for label, row in times.items():
        print(f"| {label} | " + " | ".join(f"{row[n]:.1f}" for n in sizes) + " |")
    OUT.mkdir(exist_ok=True)
    (OUT / "algorithm_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
