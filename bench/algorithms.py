"""pipetune's default algorithm against Optuna and hyperopt over bench/problems.py, in one run.

    python bench/algorithms.py [--trials 50,100,200] [--parallel 1,4] [--seeds 10]
        [--problems NAME,...] [--contenders NAME,...] [--jobs 2]

For each problem, contender, parallelism and seed it runs max(--trials) trials and records the
noiseless value of the trial that reported the best value after each budget in --trials. The
summary is the median over seeds; the normalised regret of a median is
``(median - optimum) / (reference - optimum)``, with ``reference`` the median value of 1000
uniform random points of the space, so 0 is the optimum and 1 is no better than a typical
random point. A Mann-Whitney U test (one-sided) says whether ``auto``'s bests are worse than
Optuna TPE's. Tables (markdown) go to stdout, everything to ``bench/out/algorithms.json``.

Parallelism ``p`` is run as the tuner runs it: trial ``k`` is asked while trials
``k-p+1..k-1`` are still running (pipetune, Optuna); hyperopt's ``fmin`` asks ``p`` at a time
(``max_queue_len``), its own way of running in parallel.
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
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import PROBLEMS, Param, Problem  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

# -- spaces in each library's form --------------------------------------------------------------


def pipetune_space(problem: Problem) -> Any:
    from pipetune.tuner.space import CategoricalParameter, DiscreteParameter, DoubleParameter, IntParameter, SearchSpace

    parameters: list[Any] = []
    for p in problem.params:
        distribution = "logUniform" if p.log else "uniform"
        if p.kind == "float":
            parameters.append(DoubleParameter(p.name, p.low, p.high, None, distribution))
        elif p.kind == "int":
            parameters.append(IntParameter(p.name, int(p.low), int(p.high), None, distribution))
        elif all(isinstance(c, (int, float)) for c in p.choices):
            parameters.append(DiscreteParameter(p.name, tuple(p.choices)))
        else:
            parameters.append(CategoricalParameter(p.name, tuple(p.choices)))
    return SearchSpace(tuple(parameters))


def optuna_params(trial: Any, problem: Problem) -> dict[str, Any]:
    x: dict[str, Any] = {}
    for p in problem.params:
        if p.kind == "float":
            x[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif p.kind == "int":
            x[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            x[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return x


def hyperopt_space(problem: Problem) -> dict[str, Any]:
    from hyperopt import hp
    from hyperopt.pyll import scope

    space: dict[str, Any] = {}
    for p in problem.params:
        if p.kind == "float":
            space[p.name] = (hp.loguniform(p.name, math.log(p.low), math.log(p.high)) if p.log
                             else hp.uniform(p.name, p.low, p.high))
        elif p.kind == "int":
            node = (hp.qloguniform(p.name, math.log(p.low), math.log(p.high), 1) if p.log
                    else hp.quniform(p.name, p.low - 0.5, p.high + 0.5, 1))
            space[p.name] = scope.int(scope.minimum(scope.maximum(node, p.low), p.high))
        else:
            space[p.name] = hp.choice(p.name, list(p.choices))
    return space


# -- contenders: each returns the reported values and the points, in trial order -----------------

Run = tuple[list[float], list[dict[str, Any]]]


def noise_rng(problem: Problem, seed: int, index: int) -> np.random.Generator:
    # The same noise for trial k of a seed whoever suggests it.
    return np.random.default_rng([zlib.crc32(problem.name.encode()), seed, index])


def run_pipetune(algorithm_name: str, problem: Problem, trials: int, parallel: int, seed: int) -> Run:
    from pipetune.tuner.algorithms import get_algorithm, trial_seed
    from pipetune.tuner.history import TrialRecord, TrialStatus

    space = pipetune_space(problem)
    variant = os.environ.get("PIPETUNE_BENCH_AUTO")
    if variant:
        # Trying other constants of auto's without editing it: PIPETUNE_BENCH_AUTO='{"CYCLE": 3}'.
        from pipetune.tuner.algorithms import _auto

        for key, value in json.loads(variant).items():
            setattr(_auto, key, value)
    algorithm = get_algorithm(algorithm_name)
    settled: list[Any] = []  # the record of each trial once it counts as finished
    points: list[dict[str, Any]] = []
    values: list[float] = []
    for k in range(trials):
        # As policy.history_for: the last parallel - 1 trials are still pending.
        boundary = max(0, k - parallel + 1)
        while len(settled) < boundary:
            i = len(settled)
            settled.append(TrialRecord(i, points[i], TrialStatus.SUCCEEDED, values[i]))
        history = settled + [TrialRecord.pending(i, points[i]) for i in range(boundary, k)]
        suggestion = algorithm.suggest(space, history, trial_seed(seed, k))
        points.append(dict(suggestion.assignment))
        values.append(problem.value(suggestion.assignment, noise_rng(problem, seed, k)))
    return values, points


def run_optuna(sampler_name: str, problem: Problem, trials: int, parallel: int, seed: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    warnings.simplefilter("ignore")
    if sampler_name == "tpe":
        sampler: Any = optuna.samplers.TPESampler(seed=seed)
    elif sampler_name == "tpe-multivariate":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    elif sampler_name == "tpe-univariate":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=False)
    elif sampler_name == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    running: list[Any] = []
    points: list[dict[str, Any]] = []
    values: list[float] = []
    for k in range(trials):
        trial = study.ask()
        x = optuna_params(trial, problem)
        points.append(x)
        values.append(problem.value(x, noise_rng(problem, seed, k)))
        running.append((trial, values[-1]))
        if len(running) >= parallel:
            done, value = running.pop(0)
            study.tell(done, value)
    for done, value in running:
        study.tell(done, value)
    return values, points


def run_hyperopt(algo_name: str, problem: Problem, trials: int, parallel: int, seed: int) -> Run:
    import hyperopt

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    algo = hyperopt.tpe.suggest if algo_name == "tpe" else hyperopt.rand.suggest
    points: list[dict[str, Any]] = []
    values: list[float] = []

    def objective(x: dict[str, Any]) -> float:
        x = {k: (v.item() if hasattr(v, "item") else v) for k, v in x.items()}
        points.append(x)
        values.append(problem.value(x, noise_rng(problem, seed, len(values))))
        return values[-1]

    hyperopt.fmin(objective, hyperopt_space(problem), algo=algo, max_evals=trials,
                  rstate=np.random.default_rng(seed), show_progressbar=False, max_queue_len=parallel)
    return values, points


CONTENDERS: dict[str, Callable[[Problem, int, int, int], Run]] = {
    "pipetune auto": lambda pr, n, p, s: run_pipetune("auto", pr, n, p, s),
    "optuna tpe": lambda pr, n, p, s: run_optuna("tpe", pr, n, p, s),
    "optuna tpe multivariate": lambda pr, n, p, s: run_optuna("tpe-multivariate", pr, n, p, s),
    "optuna cmaes": lambda pr, n, p, s: run_optuna("cmaes", pr, n, p, s),
    "optuna tpe univariate": lambda pr, n, p, s: run_optuna("tpe-univariate", pr, n, p, s),
    "hyperopt tpe": lambda pr, n, p, s: run_hyperopt("tpe", pr, n, p, s),
    "random": lambda pr, n, p, s: run_hyperopt("rand", pr, n, p, s),
    # Not in the default run (--contenders): pipetune's other algorithms.
    "pipetune multivariate-tpe": lambda pr, n, p, s: run_pipetune("multivariate-tpe", pr, n, p, s),
    "pipetune cmaes": lambda pr, n, p, s: run_pipetune("cmaes", pr, n, p, s),
    "pipetune tpe": lambda pr, n, p, s: run_pipetune("tpe", pr, n, p, s),
    "pipetune sobol": lambda pr, n, p, s: run_pipetune("sobol", pr, n, p, s),
}
DEFAULT_CONTENDERS = ["pipetune auto", "optuna tpe", "optuna tpe multivariate", "optuna cmaes",
                      "hyperopt tpe", "random"]
REFERENCE = "optuna tpe"


def applies(contender: str, problem: Problem) -> bool:
    """CMA-ES does not model categorical parameters: run only where every parameter is a number."""
    return "cmaes" not in contender or problem.numeric


def _job(job: tuple[str, str, tuple[int, ...], int, int]) -> tuple[str, str, int, int, list[float], float]:
    problem_name, contender, budgets, parallel, seed = job
    problem = PROBLEMS[problem_name]
    start = time.perf_counter()
    values, points = CONTENDERS[contender](problem, max(budgets), parallel, seed)
    spent = time.perf_counter() - start
    bests = []
    for budget in budgets:
        k = int(np.argmin(values[:budget]))  # what the experiment reports as its best trial
        bests.append(problem.true(points[k]))
    return problem_name, contender, parallel, seed, bests, spent


def reference(problem: Problem, draws: int = 1000) -> float:
    rng = np.random.default_rng(0)
    values = []
    for _ in range(draws):
        x: dict[str, Any] = {}
        for p in problem.params:
            x[p.name] = _uniform(p, rng)
        values.append(problem.true(x))
    return float(np.median(values))


def _uniform(p: Param, rng: np.random.Generator) -> Any:
    if p.kind == "cat":
        return p.choices[int(rng.integers(len(p.choices)))]
    u = rng.random()
    value = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))) if p.log else p.low + u * (p.high - p.low)
    return int(min(max(round(value), p.low), p.high)) if p.kind == "int" else value


def _csv(text: str, kind: Callable[[str], Any]) -> list[Any]:
    return [kind(item.strip()) for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", default="50,100,200", help="budgets, comma-separated (default 50,100,200)")
    parser.add_argument("--parallel", default="1,4", help="parallelisms (default 1,4)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--problems", help="comma-separated (default: all)")
    parser.add_argument("--contenders", help=f"comma-separated (default: {', '.join(DEFAULT_CONTENDERS)})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(OUT / "algorithms.json"))
    args = parser.parse_args(argv)
    budgets = tuple(sorted(_csv(args.trials, int)))
    parallels = _csv(args.parallel, int)
    problems = _csv(args.problems, str) if args.problems else list(PROBLEMS)
    contenders = _csv(args.contenders, str) if args.contenders else DEFAULT_CONTENDERS
    for name in problems:
        if name not in PROBLEMS:
            parser.error(f"unknown problem {name!r}; known: {', '.join(PROBLEMS)}")
    for name in contenders:
        if name not in CONTENDERS:
            parser.error(f"unknown contender {name!r}; known: {', '.join(CONTENDERS)}")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(pr, c, budgets, par, s) for pr in problems for c in contenders if applies(c, PROBLEMS[pr])
            for par in parallels for s in seeds]
    # Longest first, so the pool's last minutes are not one slow job.
    jobs.sort(key=lambda j: (-PROBLEMS[j[0]].dims, j[1] != "pipetune auto"))
    results: dict[tuple[str, str, int], list[list[float]]] = {}
    seconds: dict[tuple[str, int], float] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for problem_name, contender, parallel, _seed, bests, spent in pool.map(_job, jobs, chunksize=1):
            results.setdefault((problem_name, contender, parallel), []).append(bests)
            seconds[(contender, parallel)] = seconds.get((contender, parallel), 0.0) + spent
    wall = time.perf_counter() - started

    refs = {name: reference(PROBLEMS[name]) for name in problems}
    summary = summarise(results, problems, contenders, parallels, budgets, refs)
    print(report(summary, problems, contenders, parallels, budgets, args.seeds, wall))
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "budgets": budgets, "parallel": parallels, "seeds": list(seeds), "problems": problems,
        "contenders": contenders, "reference": refs,
        "optimum": {name: PROBLEMS[name].optimum for name in problems},
        "bests": {f"{pr}|{c}|{par}": v for (pr, c, par), v in results.items()},
        "seconds_per_run": {f"{c}|{par}": s / max(1, sum(1 for j in jobs if j[1] == c and j[3] == par))
                            for (c, par), s in seconds.items()},
        "summary": summary, "wall_s": wall, "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(), "python": sys.version.split()[0],
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


def summarise(results: dict[tuple[str, str, int], list[list[float]]], problems: list[str], contenders: list[str],
              parallels: list[int], budgets: tuple[int, ...], refs: dict[str, float]) -> dict[str, Any]:
    from scipy.stats import mannwhitneyu

    out: dict[str, Any] = {}
    for parallel in parallels:
        for b, budget in enumerate(budgets):
            key = f"p{parallel}_n{budget}"
            table: dict[str, dict[str, Any]] = {}
            for name in problems:
                problem = PROBLEMS[name]
                scale = max(refs[name] - problem.optimum, 1e-12)
                row: dict[str, Any] = {}
                for contender in contenders:
                    runs = results.get((name, contender, parallel))
                    if not runs:
                        continue
                    bests = [r[b] for r in runs]
                    median = statistics.median(bests)
                    row[contender] = {"median": median, "regret": max(median - problem.optimum, 0.0),
                                      "normalised": max(median - problem.optimum, 0.0) / scale}
                auto = results.get((name, "pipetune auto", parallel))
                ref = results.get((name, REFERENCE, parallel))
                if auto and ref:
                    a, r = [x[b] for x in auto], [x[b] for x in ref]
                    # One-sided: is auto's distribution of bests shifted above (worse than) TPE's?
                    p = float(mannwhitneyu(a, r, alternative="greater").pvalue) if a != r else 1.0
                    row["_auto_worse_p"] = p
                table[name] = row
            means = {}
            for contender in contenders:
                values = [table[n][contender]["normalised"] for n in problems if contender in table[n]]
                covered = all(contender in table[n] for n in problems)
                means[contender] = {"mean_normalised": statistics.fmean(values) if values else math.nan,
                                    "problems": len(values), "all": covered}
            out[key] = {"table": table, "means": means}
    return out


def report(summary: dict[str, Any], problems: list[str], contenders: list[str], parallels: list[int],
           budgets: tuple[int, ...], seeds: int, wall: float) -> str:
    lines = [f"median over {seeds} seeds; wall {wall:.0f} s", ""]
    short = {c: c.replace("pipetune ", "").replace("optuna ", "o-").replace("hyperopt ", "h-") for c in contenders}
    for parallel in parallels:
        for budget in budgets:
            key = f"p{parallel}_n{budget}"
            part = summary[key]
            lines.append(f"### {budget} trials, parallel {parallel}: normalised regret of the median best")
            lines.append("")
            head = "| problem | " + " | ".join(short[c] for c in contenders) + " | auto/TPE regret | p(auto worse) |"
            lines.append(head)
            lines.append("|" + "---|" * (len(contenders) + 3))
            for name in problems:
                row = part["table"][name]
                cells = [f"{row[c]['normalised']:.4f}" if c in row else "-" for c in contenders]
                ratio = "-"
                if "pipetune auto" in row and REFERENCE in row:
                    a, r = row["pipetune auto"]["regret"], row[REFERENCE]["regret"]
                    ratio = f"{a / r:.2f}" if r > 1e-12 else ("1.00" if a <= 1e-12 else "inf")
                p = row.get("_auto_worse_p")
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} | {p:.3f} |" if p is not None
                             else f"| {name} | " + " | ".join(cells) + f" | {ratio} | - |")
            means = part["means"]
            lines.append("| **mean** | " + " | ".join(
                f"**{means[c]['mean_normalised']:.4f}**" + ("" if means[c]["all"] else f" ({means[c]['problems']})")
                for c in contenders) + " | | |")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
