"""One objective with constraints: pipetune's algorithms before and after a change, beside
Optuna's constrained TPE, in one run.

    python bench/constrained.py [--before main] [--trials 100] [--seeds 10] [--problems NAME,...]
        [--algorithms auto,tpe,multivariate-tpe,cmaes,random]

``--before`` is a git revision: its ``plugin/`` is taken with ``git archive`` into a temporary
folder and run in a process of its own beside this checkout's, so the two are measured on the
same machine in the same run (``--before ''`` skips it).

Contenders, each ``--trials`` sequential trials for seeds 0..``--seeds``-1: pipetune's
``--algorithms`` (by default ``auto``, ``tpe``, ``multivariate-tpe``, ``cmaes`` and ``random``; each as the tuner asks them: every
settled trial's record is made by ``policy.settled_record`` from the trial's metrics, so an
infeasible trial reaches the algorithm as the tuner gives it), and Optuna's ``TPESampler``
with the constraint values set on each trial (``trial.set_constraint``, what ``constraints_func``
became in Optuna 5; both are read the same way by its TPE).

Problems (minimised; each constraint excludes the unconstrained optimum and 35-50% of the
space, measured on 20,000 uniform points and printed):

- ``branin-c``: Branin on [-5, 10] x [0, 15] with x0 >= 0 and x1 >= 4 (two constraints), which
  cut off all three global minima;
- ``hartmann6-c``: Hartmann-6 on [0, 1]^6 with sum(x) >= 2.8 (the optimum's sum is 2.07);
- ``svm-c``: bench/problems.py's SVM-like surface (categorical kernel, log C and gamma, int
  degree) with a fit-time budget: log10 seconds = log10 C + 0.25 degree (poly) + a kernel
  cost (rbf 0.5, poly 0, linear -1, sigmoid 0) <= 1, which rules out the rbf optimum (C = 10^1.5)
  and leaves rbf (0.069) and poly (0.071) close.

Reported per problem and contender: the median over seeds of the best feasible (noiseless)
value, its min and max, the share of infeasible trials over the run and over its second half,
and the seconds per run. The constrained optimum (best of a dense sample) is printed beside
each problem. Everything goes to ``bench/out/constrained.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from algorithms import optuna_params, pipetune_space  # noqa: E402
from problems import PROBLEMS, Problem  # noqa: E402

OUT = HERE / "out"
ROOT = HERE.parent
ALGORITHMS = ("auto", "tpe", "multivariate-tpe", "cmaes", "random")


@dataclass(frozen=True)
class Constrained:
    """A bench/problems.py problem with constraint metrics and their bounds."""

    name: str
    problem: Problem
    metrics: Callable[[Mapping[str, Any]], dict[str, float]]
    bounds: Mapping[str, tuple[float | None, float | None]]  # metric -> (min, max)

    def violations(self, x: Mapping[str, Any]) -> dict[str, float]:
        """Each constraint's violation, Optuna's convention (<= 0 when it holds)."""
        values = self.metrics(x)
        out = {}
        for metric, (low, high) in self.bounds.items():
            v = values[metric]
            out[metric] = max(v - high if high is not None else -math.inf, low - v if low is not None else -math.inf)
        return out

    def feasible(self, x: Mapping[str, Any]) -> bool:
        return all(v <= 0 for v in self.violations(x).values())


def _svm_seconds(x: Mapping[str, Any]) -> dict[str, float]:
    kernel = x["kernel"]
    cost = {"rbf": 0.5, "poly": 0.0, "linear": -1.0, "sigmoid": 0.0}[kernel]
    degree = 0.25 * int(x["degree"]) if kernel == "poly" else 0.0
    return {"log_seconds": math.log10(float(x["C"])) + degree + cost}


PROBLEMS_C: dict[str, Constrained] = {
    c.name: c for c in (
        Constrained("branin-c", PROBLEMS["branin"], lambda x: {"a": float(x["x0"]), "b": float(x["x1"])},
                    {"a": (0.0, None), "b": (4.0, None)}),
        Constrained("hartmann6-c", PROBLEMS["hartmann6"], lambda x: {"total": sum(float(x[f"x{i}"]) for i in range(6))},
                    {"total": (2.8, None)}),
        Constrained("svm-c", PROBLEMS["svm_like"], _svm_seconds, {"log_seconds": (None, 1.0)}),
    )
}


def uniform_points(problem: Problem, n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        x: dict[str, Any] = {}
        for p in problem.params:
            if p.kind == "cat":
                x[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.log:
                v = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
                x[p.name] = int(round(v)) if p.kind == "int" else v
            elif p.kind == "int":
                x[p.name] = int(rng.integers(int(p.low), int(p.high) + 1))
            else:
                x[p.name] = float(rng.uniform(p.low, p.high))
        points.append(x)
    return points


# -- the contenders ------------------------------------------------------------------------------

Run = list[tuple[float, bool]]  # each trial's noiseless value and whether it was feasible


def run_pipetune(algorithm_name: str, c: Constrained, trials: int, seed: int) -> Run:
    """Sequential trials as the tuner runs them, records made by the tuner's own policy."""
    from pipetune.tuner import policy
    from pipetune.tuner.algorithms import get_algorithm, trial_seed
    from pipetune.tuner.history import TrialStatus
    from pipetune.tuner.journal import TrialState
    from pipetune.tuner.objective import Constraint, Objective

    objective = Objective("value", type="minimize",
                          constraints=tuple(Constraint(m, lo, hi) for m, (lo, hi) in c.bounds.items()))
    space = pipetune_space(c.problem)
    algorithm = get_algorithm(algorithm_name)
    history: list[Any] = []
    run: Run = []
    for k in range(trials):
        x = dict(algorithm.suggest(space, history, trial_seed(seed, k)).assignment)
        value = c.problem.true(x)
        trial = TrialState(k, x, status=TrialStatus.SUCCEEDED, objective=value, metrics={"value": value, **c.metrics(x)})
        history.append(policy.settled_record(trial, objective))
        run.append((value, c.feasible(x)))
    return run


def run_optuna(c: Constrained, trials: int, seed: int) -> Run:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    run: Run = []
    for _ in range(trials):
        trial = study.ask()
        x = optuna_params(trial, c.problem)
        for metric, v in c.violations(x).items():
            trial.set_constraint(metric, v)
        value = c.problem.true(x)
        study.tell(trial, value)
        run.append((value, c.feasible(x)))
    return run


def summary(runs: list[Run], seconds: list[float]) -> dict[str, Any]:
    bests = [min((v for v, ok in run if ok), default=math.inf) for run in runs]
    share = [sum(1 for _, ok in run if not ok) / len(run) for run in runs]
    late = [sum(1 for _, ok in run[len(run) // 2:] if not ok) / len(run[len(run) // 2:]) for run in runs]
    return {"bests": bests, "median": statistics.median(bests), "infeasible": statistics.median(share),
            "infeasible_late": statistics.median(late), "seconds": statistics.median(seconds)}


def measure(contender: str, c: Constrained, trials: int, seeds: int) -> dict[str, Any]:
    runs, seconds = [], []
    for seed in range(seeds):
        start = time.perf_counter()
        runs.append(run_optuna(c, trials, seed) if contender == "optuna" else run_pipetune(contender, c, trials, seed))
        seconds.append(time.perf_counter() - start)
    return summary(runs, seconds)


def worker(args: argparse.Namespace) -> None:
    """One side's pipetune contenders, as JSON on stdout (run with that side's PYTHONPATH)."""
    out = {name: {a: measure(a, PROBLEMS_C[name], args.trials, args.seeds) for a in args.algorithms.split(",")}
           for name in args.problems.split(",")}
    print(json.dumps(out))


def side(plugin: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(plugin)}
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", "--trials", str(args.trials), "--seeds", str(args.seeds),
         "--problems", args.problems, "--algorithms", args.algorithms], env=env, stdout=subprocess.PIPE, text=True)


def extract(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "plugin"],
                             check=True, capture_output=True).stdout
    tar_path = into / "before.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / "plugin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default=",".join(PROBLEMS_C))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    names = args.problems.split(",")
    algorithms = args.algorithms.split(",")
    with tempfile.TemporaryDirectory() as folder:
        # The two sides run at once, each in its own process; Optuna here meanwhile.
        after = side(ROOT / "plugin", args)
        before = side(extract(args.before, Path(folder)), args) if args.before else None
        optuna_rows = {name: measure("optuna", PROBLEMS_C[name], args.trials, args.seeds) for name in names}
        after_rows = json.loads(after.communicate()[0])
        before_rows = json.loads(before.communicate()[0]) if before is not None else {}
    report: dict[str, Any] = {"trials": args.trials, "seeds": args.seeds, "before": args.before, "problems": {}}
    print(f"{args.trials} trials, seeds 0-{args.seeds - 1}; best: median (min-max) over seeds of the best "
          "feasible value; infeasible: median share of infeasible trials (all, second half)")
    print("| problem | contender | best | min | max | infeasible | 2nd half | s/run |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        c = PROBLEMS_C[name]
        sample = uniform_points(c.problem, 20_000)
        share = sum(1 for x in sample if not c.feasible(x)) / len(sample)
        optimum = min(c.problem.true(x) for x in sample if c.feasible(x))
        rows = {f"pipetune {a} (after)": after_rows[name][a] for a in algorithms}
        rows.update({f"pipetune {a} (before)": before_rows[name][a] for a in algorithms if before_rows})
        rows["optuna TPE (constraints)"] = optuna_rows[name]
        order = [f"pipetune {a} ({s})" for a in algorithms for s in ("before", "after") if f"pipetune {a} ({s})" in rows]
        for label in [*order, "optuna TPE (constraints)"]:
            row = rows[label]
            print(f"| {name} | {label} | {row['median']:.4f} | {min(row['bests']):.4f} | {max(row['bests']):.4f} "
                  f"| {row['infeasible']:.0%} | {row['infeasible_late']:.0%} | {row['seconds']:.2f} |")
        print(f"| {name} | (infeasible share of the space {share:.0%}; best feasible of 20,000 uniform "
              f"points {optimum:.4f}) | | | | | | |", flush=True)
        report["problems"][name] = {"infeasible_share": share, "sample_best": optimum, "contenders": rows}
    OUT.mkdir(exist_ok=True)
    (OUT / "constrained.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
