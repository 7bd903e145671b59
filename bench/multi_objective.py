"""Multi-objective search: pipetune beside Optuna's samplers on ZDT1 and ZDT2, in one run.

    python bench/multi_objective.py [--trials 100] [--seeds 5] [--dims 5]

Contenders, each run ``--trials`` trials sequentially for seeds 0..``--seeds``-1:

- ``pipetune auto``: ``pipetune.tune(objectives=[...])`` with the default algorithm (Optuna's
  multi-objective TPE over a study rebuilt from the history);
- ``pipetune nsga2``: the same with ``algorithm="nsga2"``;
- ``optuna TPE``: ``optuna.create_study(directions=[minimize, minimize], sampler=TPESampler(seed))``;
- ``optuna NSGA-II``: the same with ``NSGAIISampler(seed)``.

Problems (Zitzler, Deb and Thiele 2000) over ``--dims`` variables in [0, 1], both objectives
minimised: ZDT1 (convex front f2 = 1 - sqrt(f1)), ZDT2 (concave front f2 = 1 - f1^2); and
ZDT1-c, ZDT1 with the constraint x2 + x3 >= 0.5, which cuts off the true front (x2..xn = 0)
and an eighth of the space: pipetune gets ``constraints={"c": {"min": 0.5}}``, Optuna each
trial's ``set_constraint`` (0.5 - c), which both its samplers read. For ZDT1-c only feasible
trials count, the score is the hypervolume itself (higher is better; the constrained front is
not known in closed form), and the share of infeasible trials is reported too.
Reported per contender: the median over seeds of the hypervolume gap, the true front's
hypervolume less that of the trials' (exact 2-D, ``pipetune.tuner.pareto.hypervolume_2d``;
lower is better, 0 is the true front), with reference point (1.1, 11), which every point of
the space is inside (f1 <= 1, f2 <= 10), so no run scores a meaningless 0; the ratio of each
median gap to Optuna TPE's; and the seconds per run. Results go to
``bench/out/multi_objective.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
REFERENCE = (1.1, 11.0)


def zdt1(x: list[float]) -> tuple[float, float]:
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - math.sqrt(x[0] / g))


def zdt2(x: list[float]) -> tuple[float, float]:
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - (x[0] / g) ** 2)


PROBLEMS: dict[str, Callable[[list[float]], tuple[float, float]]] = {"ZDT1": zdt1, "ZDT2": zdt2, "ZDT1-c": zdt1}
CONSTRAINED = {"ZDT1-c"}
BOUND = 0.5
Point = tuple[float, float, bool]  # f1, f2, feasible


def constraint_value(x: list[float]) -> float:
    return x[1] + x[2]


def true_hypervolume(problem: str, points: int = 20001) -> float:
    """The hypervolume of the true front (g = 1), from a dense sample of it."""
    front = [(u, 1 - math.sqrt(u) if problem == "ZDT1" else 1 - u * u)
             for u in (i / (points - 1) for i in range(points))]
    from pipetune.tuner.pareto import hypervolume_2d

    return hypervolume_2d(front, REFERENCE)


def run_pipetune(problem: str, dims: int, trials: int, seed: int, algorithm: str) -> list[Point]:
    import pipetune

    f = PROBLEMS[problem]
    space = [{"name": f"x{i}", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
             for i in range(dims)]

    def objective(p: dict[str, Any]) -> dict[str, float]:
        x = [p[f"x{i}"] for i in range(dims)]
        f1, f2 = f(x)
        return {"f1": f1, "f2": f2, "c": constraint_value(x)}

    constraints = {"c": {"min": BOUND}} if problem in CONSTRAINED else None
    with tempfile.TemporaryDirectory() as folder:
        result = pipetune.tune(objective, space, objectives=[{"metric": "f1", "type": "minimize"},
                                                             {"metric": "f2", "type": "minimize"}],
                               constraints=constraints, algorithm=algorithm, max_trials=trials, seed=seed,
                               state_dir=folder, give_up_after=None)
        return [(t.values[0], t.values[1], result.objective.feasible(t.metrics))
                for t in result.trials if t.values is not None]


def run_optuna(problem: str, dims: int, trials: int, seed: int, sampler_name: str) -> list[Point]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    f = PROBLEMS[problem]
    sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
               else optuna.samplers.NSGAIISampler(seed=seed))
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

    def objective(trial: Any) -> tuple[float, float]:
        x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dims)]
        if problem in CONSTRAINED:
            trial.set_constraint("c", BOUND - constraint_value(x))
        return f(x)

    study.optimize(objective, n_trials=trials)
    return [(t.values[0], t.values[1], all(v <= 0 for v in t.constraints.values()))
            for t in study.trials if t.values is not None]


CONTENDERS: dict[str, Callable[[str, int, int, int], list[Point]]] = {
    "pipetune auto": lambda p, d, n, s: run_pipetune(p, d, n, s, "auto"),
    "pipetune nsga2": lambda p, d, n, s: run_pipetune(p, d, n, s, "nsga2"),
    "optuna TPE": lambda p, d, n, s: run_optuna(p, d, n, s, "tpe"),
    "optuna NSGA-II": lambda p, d, n, s: run_optuna(p, d, n, s, "nsga2"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--dims", type=int, default=5)
    args = parser.parse_args()
    from pipetune.tuner.pareto import hypervolume_2d

    report: dict[str, Any] = {"trials": args.trials, "seeds": args.seeds, "dims": args.dims,
                              "reference": REFERENCE, "problems": {}}
    print(f"{args.trials} trials, seeds 0-{args.seeds - 1}, {args.dims} variables, reference point {REFERENCE}; "
          "median (min-max) over seeds; ZDT1, ZDT2: hypervolume gap to the true front (lower is better), "
          "ZDT1-c: hypervolume of the feasible trials (higher is better); ratio: median / Optuna TPE's")
    print(f"{'problem':<8} {'contender':<16} {'score':>8} {'min':>7} {'max':>7} {'ratio':>6} {'infeas':>7} "
          f"{'s/run':>7}")
    for problem in PROBLEMS:
        constrained = problem in CONSTRAINED
        best = None if constrained else true_hypervolume(problem)
        rows: dict[str, Any] = {}
        for name, run in CONTENDERS.items():
            scores, seconds, infeasible = [], [], []
            for seed in range(args.seeds):
                start = time.perf_counter()
                points = run(problem, args.dims, args.trials, seed)
                seconds.append(time.perf_counter() - start)
                volume = hypervolume_2d([(a, b) for a, b, ok in points if ok], REFERENCE)
                scores.append(volume if best is None else best - volume)
                infeasible.append(sum(1 for *_, ok in points if not ok) / max(len(points), 1))
            rows[name] = {"scores": scores, "median": statistics.median(scores),
                          "infeasible": statistics.median(infeasible), "seconds": statistics.median(seconds)}
        for name, row in rows.items():
            row["ratio"] = row["median"] / rows["optuna TPE"]["median"]
            print(f"{problem:<8} {name:<16} {row['median']:>8.3f} {min(row['scores']):>7.3f} "
                  f"{max(row['scores']):>7.3f} {row['ratio']:>6.2f} {row['infeasible']:>7.0%} "
                  f"{row['seconds']:>7.2f}", flush=True)
        report["problems"][problem] = {"true_hypervolume": best, "contenders": rows}
    OUT.mkdir(exist_ok=True)
    (OUT / "multi_objective.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
