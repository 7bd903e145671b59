"""Quality of the tuner's algorithms against hyperopt's and Optuna's own, in one run.

    python bench/tuner_quality.py [--trials 100] [--seeds 10] [--quick] [--only NAME,...]

For each test function (Branin, Hartmann-6) and each contender, runs ``--trials`` trials with
``--seeds`` seeds and reports the median over seeds of the best objective found, and its
regret (best - known optimum). pipetune's algorithms are driven exactly as the tuner drives
them: ``suggest`` (or ``suggest_batch`` for the batch contender) over a ``SearchSpace`` of
``DoubleParameter``s, with a history of ``TrialRecord``s. The figures go to a table on stdout
and to ``bench/out/tuner_quality.json``. Needs the ``bench`` extra (Optuna).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from pipetune.tuner.algorithms import get_algorithm, suggest_batch
from pipetune.tuner.history import TrialRecord, TrialStatus
from pipetune.tuner.space import DoubleParameter, SearchSpace

OUT = Path(__file__).resolve().parent / "out"


# -- test functions -------------------------------------------------------------------------


def branin(x: list[float]) -> float:
    x1, x2 = x
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: list[float]) -> float:
    x = np.asarray(x, dtype=float)
    inner = np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


FUNCTIONS: dict[str, tuple[Callable[[list[float]], float], list[tuple[float, float]], float]] = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237),
}


# -- contenders -----------------------------------------------------------------------------


def run_pipetune(name: str, function: str, trials: int, seed: int, batch: int = 1,
                 settings: dict | None = None) -> list[float]:
    fn, bounds, _ = FUNCTIONS[function]
    space = SearchSpace(
        tuple(DoubleParameter(f"x{i}", low, high) for i, (low, high) in enumerate(bounds))
    )
    algorithm = get_algorithm(name, settings)
    history: list[TrialRecord] = []
    values = []
    while len(history) < trials:
        suggestions = suggest_batch(algorithm, space, history, seed, min(batch, trials - len(history)))
        for suggestion in suggestions:
            x = [suggestion.assignment[f"x{i}"] for i in range(len(bounds))]
            value = fn(x)
            values.append(value)
            history.append(
                TrialRecord(len(history), suggestion.assignment, TrialStatus.SUCCEEDED, value)
            )
    return values


def run_hyperopt(function: str, trials: int, seed: int) -> list[float]:
    import hyperopt

    fn, bounds, _ = FUNCTIONS[function]
    space = [hyperopt.hp.uniform(f"x{i}", low, high) for i, (low, high) in enumerate(bounds)]
    values: list[float] = []

    def objective(x):
        value = fn(list(x))
        values.append(value)
        return value

    hyperopt.fmin(
        objective,
        space,
        algo=hyperopt.tpe.suggest,
        max_evals=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return values


def run_optuna(function: str, trials: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn, bounds, _ = FUNCTIONS[function]
    values: list[float] = []

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", low, high) for i, (low, high) in enumerate(bounds)]
        value = fn(x)
        values.append(value)
        return value

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return values


CONTENDERS: dict[str, Callable[[str, int, int], list[float]]] = {
    "pipetune auto": lambda f, n, s: run_pipetune("auto", f, n, s),
    "pipetune auto batch 4": lambda f, n, s: run_pipetune("auto", f, n, s, batch=4),
    "pipetune tpe": lambda f, n, s: run_pipetune("tpe", f, n, s),
    "pipetune anneal": lambda f, n, s: run_pipetune("anneal", f, n, s),
    "pipetune random": lambda f, n, s: run_pipetune("random", f, n, s),
    "hyperopt fmin tpe": run_hyperopt,
    "optuna TPESampler": run_optuna,
}


def _one(job: tuple[str, str, int, int]) -> tuple[str, str, int, float, float]:
    contender, function, trials, seed = job
    start = time.perf_counter()
    values = CONTENDERS[contender](function, trials, seed)
    return contender, function, seed, min(values), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="30 trials, 3 seeds: a smoke run")
    parser.add_argument("--only", help="comma-separated contenders (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seeds = 30, 3
    contenders = list(CONTENDERS)
    if args.only:
        contenders = [c.strip() for c in args.only.split(",")]
        unknown = [c for c in contenders if c not in CONTENDERS]
        if unknown:
            parser.error(f"unknown contender(s) {unknown}; known: {list(CONTENDERS)}")
    logging.getLogger("hyperopt").setLevel(logging.WARNING)

    jobs = [(c, f, args.trials, seed) for c in contenders for f in FUNCTIONS for seed in range(args.seeds)]
    bests: dict[tuple[str, str], list[float]] = {}
    seconds: dict[tuple[str, str], float] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for contender, function, _seed, best, spent in pool.map(_one, jobs):
            bests.setdefault((contender, function), []).append(best)
            seconds[(contender, function)] = seconds.get((contender, function), 0.0) + spent

    results = {}
    header = f"{'contender':<26}" + "".join(
        f"{f + ' best':>16}{'regret':>10}" for f in FUNCTIONS
    ) + f"{'s/run':>8}"
    print(f"median over {args.seeds} seeds of the best after {args.trials} trials")
    print(header)
    print("-" * len(header))
    for contender in contenders:
        row = f"{contender:<26}"
        results[contender] = {}
        total = 0.0
        for function, (_, _, optimum) in FUNCTIONS.items():
            values = bests[(contender, function)]
            median = statistics.median(values)
            results[contender][function] = {
                "median_best": median,
                "median_regret": median - optimum,
                "bests": values,
                "seconds": seconds[(contender, function)],
            }
            total += seconds[(contender, function)]
            row += f"{median:>16.4f}{median - optimum:>10.4f}"
        row += f"{total / (len(FUNCTIONS) * args.seeds):>8.2f}"
        print(row)

    if {"pipetune auto", "pipetune auto batch 4"} <= set(contenders):
        for function in FUNCTIONS:
            sequential = results["pipetune auto"][function]["median_regret"]
            batch = results["pipetune auto batch 4"][function]["median_regret"]
            ratio = batch / sequential if sequential > 0 else math.inf
            results.setdefault("batch_4_over_sequential", {})[function] = ratio
            print(f"auto, batch 4 regret / sequential regret on {function}: {ratio:.2f}")

    OUT.mkdir(exist_ok=True)
    payload = {
        "trials": args.trials,
        "seeds": args.seeds,
        "optimum": {f: v[2] for f, v in FUNCTIONS.items()},
        "results": results,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    path = OUT / "tuner_quality.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
