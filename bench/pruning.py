"""Pruning from a Python objective: pipetune's medianstop beside Optuna's MedianPruner, in one run.

    python bench/pruning.py [--trials 50] [--seeds 5] [--steps 20]

The benchmark is a learning curve, where median stopping applies: a trial "trains" for
``--steps`` steps, reporting its accuracy after each; accuracy climbs towards a final value set
by the two parameters (a log-scaled learning rate and a width), at a speed they set too, with
a little noise fixed by the parameters. Both tools run the same points in the same order
(pipetune's random search suggests them; Optuna is given them with ``enqueue_trial``), so
pruning alone is compared; trials run one at a time, and both prune with the same rule: from
step 4 on, once 3 trials have completed, a trial whose latest value is below the median of the
completed trials' values at that step stops. pipetune: ``pipetune.tune(objective(params,
trial))`` with ``trial.report`` and ``trial.should_stop()``, ``early_stopping=
{"min_trials_required": "3", "start_step": "4"}``. Optuna: ``MedianPruner(n_startup_trials=3,
n_warmup_steps=4)`` (its earliest pruning is at ``step == n_warmup_steps``; steps count from 1
here, as pipetune's ``start_step: 4`` means 4 values reported), ``trial.report`` and
``trial.should_prune()``. "no pruning" runs the same points to the end.

Reported per tool, median over seeds: the share of trials stopped, the objective evaluations
(steps) run, the share saved against running every trial to the end, and the best final
accuracy found (the noise-free final value of the best trial). Figures go to stdout and to
``bench/out/pruning.json``. Needs the ``bench`` extra (Optuna).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pipetune

OUT = Path(__file__).resolve().parent / "out"
MIN_TRIALS, START_STEP = 3, 4


def final_accuracy(lr: float, width: float) -> float:
    """Where a trial's curve ends: best at lr 1e-2, width 0.6."""
    return max(0.05, 0.95 - 0.15 * (math.log10(lr) + 2) ** 2 - 0.8 * (width - 0.6) ** 2)


def accuracy(lr: float, width: float, step: int) -> float:
    """The curve: a climb towards the final value, slower far from a good learning rate."""
    tau = 1.5 + 2.5 * abs(math.log10(lr) + 2)
    noise = random.Random(hash((round(lr, 12), round(width, 12), step))).gauss(0.0, 0.01)
    return final_accuracy(lr, width) * (1 - math.exp(-step / tau)) + noise


def run_pipetune(trials: int, steps: int, seed: int) -> tuple[dict[str, Any], list[dict[str, float]]]:
    evaluations = [0]

    def objective(params: dict, trial: Any) -> dict[str, float] | None:
        for step in range(1, steps + 1):
            evaluations[0] += 1
            trial.report(step, acc=accuracy(params["lr"], params["width"], step))
            if trial.should_stop():
                return None
        return {"acc": accuracy(params["lr"], params["width"], steps)}

    space = [
        {"name": "lr", "parameterType": "double",
         "feasibleSpace": {"min": "1e-4", "max": "1", "distribution": "logUniform"}},
        {"name": "width", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}},
    ]
    with tempfile.TemporaryDirectory() as folder:
        result = pipetune.tune(
            objective, space, metric="acc", max_trials=trials, algorithm="random", seed=seed,
            state_dir=folder, early_stopping={"min_trials_required": str(MIN_TRIALS), "start_step": str(START_STEP)},
        )
    stopped = sum(1 for t in result.trials if t.status.value == "EarlyStopped")
    best = result.best
    assert best is not None
    points = [dict(t.assignment) for t in result.trials]
    final = final_accuracy(best.assignment["lr"], best.assignment["width"])
    return _row(trials, steps, stopped, evaluations[0], final), points


def run_optuna(points: list[dict[str, float]], steps: int, seed: int) -> dict[str, Any]:
    import optuna  # the bench extra

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluations = [0]

    def objective(trial: Any) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        width = trial.suggest_float("width", 0.0, 1.0)
        value = 0.0
        for step in range(1, steps + 1):
            evaluations[0] += 1
            value = accuracy(lr, width, step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=MIN_TRIALS, n_warmup_steps=START_STEP),
    )
    for point in points:
        study.enqueue_trial(point)
    trials = len(points)
    study.optimize(objective, n_trials=trials)
    stopped = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    best = study.best_trial.params
    return _row(trials, steps, stopped, evaluations[0], final_accuracy(best["lr"], best["width"]))


def _row(trials: int, steps: int, stopped: int, evaluations: int, best: float) -> dict[str, Any]:
    return {
        "stopped_share": stopped / trials,
        "evaluations": evaluations,
        "saved_share": 1 - evaluations / (trials * steps),
        "best_final": best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("pipetune").setLevel(logging.WARNING)
    runs: dict[str, list[dict[str, Any]]] = {"pipetune medianstop": [], "optuna MedianPruner": [],
                                             "no pruning": []}
    for seed in range(args.seeds):
        row, points = run_pipetune(args.trials, args.steps, seed)
        runs["pipetune medianstop"].append(row)
        runs["optuna MedianPruner"].append(run_optuna(points, args.steps, seed))
        # Every point run to the end: what pruning may cost in the best found.
        best = max(points, key=lambda p: accuracy(p["lr"], p["width"], args.steps))
        runs["no pruning"].append(_row(len(points), args.steps, 0, len(points) * args.steps,
                                       final_accuracy(best["lr"], best["width"])))
    full = args.trials * args.steps
    print(f"{args.trials} trials x {args.steps} steps ({full} evaluations unpruned), median over {args.seeds} seeds")
    print(f"{'contender':<22} {'stopped':>8} {'evaluations':>12} {'saved':>7} {'best final':>11}")
    summary = {}
    for name, rows in runs.items():
        median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        summary[name] = median
        print(f"{name:<22} {median['stopped_share']:>8.0%} {median['evaluations']:>12.0f} "
              f"{median['saved_share']:>7.0%} {median['best_final']:>11.4f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "pruning.json").write_text(json.dumps({"args": vars(args), "median": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
