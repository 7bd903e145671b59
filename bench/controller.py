"""The controller at scale: reconcile latency and API requests per trial as experiments grow.

For each N in ``--experiments`` (10, 25, 50), starts a fresh HTTP Kubernetes API emulator of
the tests (tests/kube/) with its FakeOperator playing Tekton (each TaskRun takes 3 lifecycle
steps of ``--delay`` seconds and ends with a ``results`` result), and pipetune's controller
(kopf + ``Controller``, as tests/controller/conftest.py runs it), creates N CustomRuns at once,
each embedding an experiment of ``--trials-per-experiment`` TaskRun trials, ``--parallel`` at a
time (random search, 2 parameters), and waits until every CustomRun has finished. Recorded:
wall time, trials per second, the API requests the controller made (actor ``client``: its
kopf watches and its engines' calls) in all and per trial, by verb and resource, reconciles
per trial, and the reconcile latency per event (``Controller.latencies``: from a parent
becoming due, through an event, a child's change or a requeue, to the end of its reconcile):
median, p95, max. Every CustomRun must end Succeeded with its trials all run and succeeded,
else the script exits 1. Target (the issue's): flat as N grows, so the table shows each
figure's ratio to the smallest N.

    python bench/controller.py [--experiments 10,25,50] [--trials-per-experiment 40]
                               [--parallel 20] [--repeats 3] [--delay 0.05] [--workers 4]
                               [--json bench/out/controller.json]

Needs the test extras (kmock, kopf). Everything runs in this one process: the emulator
(its own thread and asyncio loop), the FakeOperator (a thread), kopf (a thread) and the
controller's workers and watch threads share the machine's cores and the GIL. Timings are
loopback and include the emulator's and the fake Tekton's CPU. The process is CPU-bound (one
core: the GIL) at every N here, so wall times and latencies measure a saturated process as
much as the controller; the requests per trial do not depend on speed.

Run time on a 2-core machine (2026-11-24): ``--repeats 1`` with the other defaults takes about
4 minutes (10, 25, 50 experiments: 24, 70, 139 s, plus start-up), so the default 3 repeats
take about 12; ``--experiments 10,25`` with 3 repeats about 5. (Before the controller's requeue
fix the same single repeat took 6.5-7.5 minutes: bench/README.md.)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from controller.conftest import (  # noqa: E402
    CUSTOMRUNS,
    TASKRUNS,
    RunningController,
    customrun,
    experiment_spec,
    finished,
    succeeded,
    train_outcome,
)
from kube.emulator import EmulatedCluster  # noqa: E402
from kube.operator import FakeOperator  # noqa: E402
from pipetune.kinds import EXPERIMENT_LABEL  # noqa: E402

NAMESPACE = "bench"


def spec(trials: int, parallel: int, seed: int) -> dict[str, Any]:
    """The tests' experiment (2 int parameters, the train-sklearn TaskRun trial), random search."""
    return experiment_spec(algorithm={"algorithmName": "random"}, maxTrialCount=trials,
                           parallelTrialCount=parallel, seed=seed)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Finished:
    """Watches the emulator (a listener on its loop) for CustomRuns reaching a final condition."""

    def __init__(self, cluster: EmulatedCluster, expected: int) -> None:
        self.expected = expected
        self.at: dict[str, float] = {}
        self.done = threading.Event()
        self._unlisten = cluster.emulator.add_listener(self._on_event)

    def _on_event(self, event: Any) -> None:
        if event.resource.plural != "customruns" or event.type == "DELETED":
            return
        name = event.object["metadata"]["name"]
        if name not in self.at and finished(event.object):
            self.at[name] = time.perf_counter()
            if len(self.at) >= self.expected:
                self.done.set()

    def close(self) -> None:
        self._unlisten()


def run_once(n: int, trials: int, parallel: int, delay: float, workers: int, timeout: float) -> dict[str, Any]:
    def outcome(taskrun: dict[str, Any]) -> Any:
        return dataclasses.replace(train_outcome(taskrun), delay=delay)

    with EmulatedCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.operator = FakeOperator(cluster, outcome).start()
        cluster.create("v1/namespaces", {"metadata": {"name": NAMESPACE}})
        running = RunningController(cluster, NAMESPACE, Path(tmp), workers=workers)
        controller = running.controller
        try:
            time.sleep(0.2)  # let kopf's watches settle; their LIST+WATCH are not counted
            cluster.emulator.reset_requests()
            controller.latencies.clear()
            reconciles_before = controller.reconciles
            watcher = Finished(cluster, n)
            names = [f"exp-{i:03d}" for i in range(n)]
            cpu_started, started = time.process_time(), time.perf_counter()
            for i, name in enumerate(names):
                cluster.create(CUSTOMRUNS, customrun(name, NAMESPACE, spec=spec(trials, parallel, seed=i)))
            completed = watcher.done.wait(timeout)
            wall = (max(watcher.at.values()) if completed else time.perf_counter()) - started
            cpu = time.process_time() - cpu_started
            watcher.close()
            counts = cluster.emulator.requests("client")
            operator_counts = cluster.emulator.requests("operator")
            latencies = list(controller.latencies)
            reconciles = controller.reconciles - reconciles_before
            customruns = {c["metadata"]["name"]: c for c in cluster.objects(CUSTOMRUNS, NAMESPACE)}
            durations = [watcher.at[name] - started for name in names if name in watcher.at]
            taskruns = cluster.objects(TASKRUNS, NAMESPACE)
        finally:
            running.stop()
        cluster_errors = list(cluster.operator.errors)
        cluster_errors += [("emulator listener", exc) for exc in cluster.emulator.listener_errors]
    cluster_errors += [("emulator", exc) for exc in cluster.server_errors]  # set when it closed
    problems = check(names, trials, customruns, taskruns, completed, timeout, running.errors, cluster_errors)
    return {
        "experiments": n, "trials": n * trials, "wall": wall, "cpu": cpu,
        "counts": {f"{verb} {resource}": c for (verb, resource), c in sorted(counts.items())},
        "operator_requests": sum(operator_counts.values()),
        "latencies": latencies, "reconciles": reconciles, "problems": problems,
        "experiment_seconds": durations,
        # Bytes of a finished CustomRun's status (JSON): each status write sends its journal whole.
        "status_bytes": statistics.median(len(json.dumps(c.get("status") or {})) for c in customruns.values()),
    }


def check(names: list[str], trials: int, customruns: dict[str, dict[str, Any]], taskruns: list[dict[str, Any]],
          completed: bool, timeout: float, errors: list[BaseException], cluster_errors: list[Any]) -> list[str]:
    """What went wrong, if anything: a bench that measures failures measures nothing."""
    problems = [f"controller: {exc!r}" for exc in errors]
    problems += [f"cluster: {what}: {exc!r}" for what, exc in cluster_errors]
    if not completed:
        problems.append(f"not every CustomRun finished within {timeout:g} s")
    per_experiment: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for taskrun in taskruns:
        per_experiment[(taskrun["metadata"].get("labels") or {}).get(EXPERIMENT_LABEL, "?")].append(taskrun)
    for name in names:
        condition = succeeded(customruns.get(name) or {})
        if condition.get("status") != "True":
            problems.append(f"CustomRun {name}: Succeeded={condition.get('status')} "
                            f"({condition.get('reason')}: {condition.get('message')})")
        runs = per_experiment.get(name, [])
        ok = sum(1 for t in runs if succeeded(t).get("status") == "True")
        if len(runs) != trials or ok != trials:
            problems.append(f"CustomRun {name}: {len(runs)} TaskRuns, {ok} succeeded; expected {trials}")
    return problems


def summarize(runs: list[dict[str, Any]], trials_per_experiment: int) -> dict[str, Any]:
    """Medians over repeats of each repeat's figures."""
    def med(fn: Any) -> float:
        return statistics.median(fn(r) for r in runs)

    keys = sorted({k for r in runs for k in r["counts"]})
    return {
        "experiments": runs[0]["experiments"],
        "trials": runs[0]["trials"],
        "wall": med(lambda r: r["wall"]),
        "cpu": med(lambda r: r["cpu"]),
        "trials_per_s": med(lambda r: r["trials"] / r["wall"]),
        "requests_per_trial": med(lambda r: sum(r["counts"].values()) / r["trials"]),
        "requests": med(lambda r: sum(r["counts"].values())),
        "by_request": {k: med(lambda r, k=k: r["counts"].get(k, 0) / r["trials"]) for k in keys},
        "reconciles_per_trial": med(lambda r: r["reconciles"] / r["trials"]),
        "latency_median": med(lambda r: statistics.median(r["latencies"])),
        "latency_p95": med(lambda r: percentile(r["latencies"], 0.95)),
        "latency_max": med(lambda r: max(r["latencies"])),
        "latency_count": med(lambda r: len(r["latencies"])),
        "experiment_median": med(lambda r: statistics.median(r["experiment_seconds"])),
        "busy": med(lambda r: r["cpu"] / r["wall"]),
        "cpu_per_trial": med(lambda r: r["cpu"] / r["trials"]),
        "status_bytes": med(lambda r: r["status_bytes"]),
        "trials_per_experiment": trials_per_experiment,
    }


COLUMNS = [  # (key, header, format, scale)
    ("wall", "wall s", "{:.2f}", 1),
    ("trials_per_s", "trials/s", "{:.1f}", 1),
    ("requests_per_trial", "req/trial", "{:.3f}", 1),
    ("reconciles_per_trial", "reconciles/trial", "{:.2f}", 1),
    ("latency_median", "latency p50 ms", "{:.1f}", 1000),
    ("latency_p95", "latency p95 ms", "{:.1f}", 1000),
    ("latency_max", "latency max ms", "{:.0f}", 1000),
    ("experiment_median", "experiment p50 s", "{:.2f}", 1),
    ("cpu_per_trial", "CPU ms/trial", "{:.1f}", 1000),
    ("busy", "CPU s/wall s", "{:.2f}", 1),
]


def print_tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n{args.trials_per_experiment} trials per experiment, {args.parallel} in parallel, "
          f"operator step {args.delay:g} s, {args.workers} workers; medians of {args.repeats}")
    head = f"{'experiments':>11} {'trials':>6}" + "".join(f" {h:>16}" for _, h, _, _ in COLUMNS)
    print(head)
    base = rows[0]
    for row in rows:
        cells = "".join(f" {fmt.format(row[k] * scale):>16}" for k, _, fmt, scale in COLUMNS)
        print(f"{row['experiments']:>11} {row['trials']:>6}{cells}")
    for row in rows[1:]:
        ratios = "".join(f" {'x' + format(row[k] / base[k], '.2f') if base[k] else '-':>16}"
                         for k, _, _, _ in COLUMNS)
        label = f"{row['experiments']}/{base['experiments']}"
        print(f"{label:>11} {'':>6}{ratios}")
    print("\nAPI requests per trial by verb and resource (actor 'client': the controller and its kopf)")
    keys = sorted({k for row in rows for k in row["by_request"]})
    print(f"{'verb resource':34}" + "".join(f"{str(row['experiments']) + ' exps':>12}" for row in rows))
    for key in keys:
        print(f"{key:34}" + "".join(f"{row['by_request'].get(key, 0):>12.3f}" for row in rows))
    print(f"{'all':34}" + "".join(f"{row['requests_per_trial']:>12.3f}" for row in rows))
    print("\nexperiment p50 s: from creating the CustomRuns to one's end (median over experiments).\n"
          "CPU: this process's CPU time (emulator, fake Tekton, kopf, controller) per trial, and over\n"
          "the wall time (1.0: one core busy all along, which is all the GIL allows).\n"
          "latency max: the start, when N CustomRuns arrive at once.\n"
          "status of a finished CustomRun (each status write sends its journal whole): "
          + ", ".join(f"{row['status_bytes'] / 1000:.1f} kB" for row in rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="10,25,50", help="comma-separated numbers of concurrent experiments")
    parser.add_argument("--trials-per-experiment", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=20, help="parallelTrialCount of each experiment")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="the FakeOperator's step delay (3 steps a TaskRun)")
    parser.add_argument("--workers", type=int, default=4, help="the Controller's reconcile workers")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one run's CustomRuns")
    parser.add_argument("--json", type=Path, help="also write the raw figures (every repeat) here")
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.experiments.split(",") if x.strip()})
    logging.getLogger("kopf").setLevel(logging.ERROR)  # "OS signals are ignored" (not the main thread)
    # One small unmeasured run first: the first experiment of a process pays the imports (the
    # tuner, hyperopt), which would otherwise land in the first repeat's latencies.
    run_once(1, 2, 2, args.delay, args.workers, args.timeout)
    rows, raw = [], []
    for n in sizes:
        runs = []
        for repeat in range(args.repeats):
            run = run_once(n, args.trials_per_experiment, args.parallel, args.delay, args.workers, args.timeout)
            if run["problems"]:
                print(f"{n} experiments, repeat {repeat + 1}: the run failed, so its figures mean nothing:",
                      file=sys.stderr)
                for problem in run["problems"][:20]:
                    print(f"  {problem}", file=sys.stderr)
                if len(run["problems"]) > 20:
                    print(f"  ... and {len(run['problems']) - 20} more", file=sys.stderr)
                return 1
            runs.append(run)
            print(f"{n} experiments, repeat {repeat + 1}: wall {run['wall']:.2f}s, "
                  f"{sum(run['counts'].values()) / run['trials']:.3f} requests/trial, "
                  f"latency p50 {statistics.median(run['latencies']) * 1000:.1f} ms "
                  f"p95 {percentile(run['latencies'], 0.95) * 1000:.1f} ms", file=sys.stderr, flush=True)
        rows.append(summarize(runs, args.trials_per_experiment))
        raw.append({"experiments": n, "runs": runs})
    print_tables(rows, args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"arguments": vars(args) | {"json": str(args.json)},
                                         "summary": rows, "runs": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
