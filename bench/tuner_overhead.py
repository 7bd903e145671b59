"""The tuner's overhead over the processes it starts, in one run.

    python bench/tuner_overhead.py [--trials 500] [--repeats 3] [--parallel 2] [--quick]
                                   [--auto-trials N] [--no-cli] [--profile]

No-op trials run through the real code path: ``Tuner`` with ``LocalEngine``, a ``RunStore``
and a journal in a temporary directory, a component.yaml whose command is ``python -c ...``.
Each tuner run is a fresh interpreter (so each pays hyperopt's import once, as a user does)
and is compared with the floor measured in the same run: trials x the time to start and
finish ``python -c pass`` with this interpreter / parallelism (the issue's floor), and a
measured pool of the same number of ``python -c pass`` run ``--parallel`` at a time.

Also: time per suggestion with 1000 finished trials in the history for every algorithm, a
check that trial processes never import hyperopt, and with ``--profile`` where the tuner's
time goes (its main thread, instrumented; syscalls counted with strace when it exists).
The table goes to stdout, the figures to ``bench/out/tuner_overhead.json`` (ignored by git).
Target (the issue): wall time within 1.5x of the floor.

``--in-process`` measures instead what ``pipetune.tune(fn)`` costs on a trivial Python
objective, against Optuna (TPE and random samplers) in the same run, each run a fresh
interpreter, after a 3-trial warm-up run (one-time imports are the import figures; for pipetune
another experiment in the same state directory, which creates its run store): framework
cost per trial at 100 and 1,000 trials (wall / trials), its growth over
2,000 trials (the mean gap between consecutive objective calls over the first and the last
100), the process's CPU time per trial (what a shared machine's I/O waits don't inflate), the
peak RSS of a 1,000-trial run, and the time to start an interpreter that imports
each (median of ``--import-repeats``). Figures to ``bench/out/tuner_overhead_inprocess.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
TARGET = 1.5

#: What a no-op trial runs. ``stdout``: Katib's StdOut collector reads ``loss=...`` (the
#: program costs what ``python -c pass`` costs); ``results``: what a minimal pipetune component
#: does, ``import pipetune`` and ``save_results`` (a results.yaml in $PIPETUNE_OUTPUTS).
TRIALS = {
    "stdout": "import sys; print('loss=' + sys.argv[1])",
    "results": "import sys, pipetune; pipetune.save_results(metrics={'loss': float(sys.argv[1])})",
}
KIND_LABEL = {"stdout": "StdOut trial", "results": "results.yaml trial"}


# -- floors ---------------------------------------------------------------------------------


def _wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def floor_programs(tmp: Path) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    """The programs whose start-to-finish time makes a floor, with their environment."""
    outputs = tmp / "floor-outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(outputs)}
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "stdout trial": ([sys.executable, "-c", TRIALS["stdout"], "0.5"], None),
        "results trial": ([sys.executable, "-c", TRIALS["results"], "0.5"], env),
    }


def pool_floor(trials: int, parallel: int) -> float:
    """Wall time of ``trials`` runs of ``python -c pass``, ``parallel`` at a time."""
    argv = [sys.executable, "-c", "pass"]
    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda _: _wall(argv), range(trials)))
    return time.perf_counter() - start


def import_cost(samples: int) -> dict[str, float]:
    """Median start-to-finish seconds of context programs: without site, importing hyperopt."""
    programs = {
        "python -S -c pass": [sys.executable, "-S", "-c", "pass"],
        "python -c 'import hyperopt'": [sys.executable, "-c", "import hyperopt"],
    }
    return {name: statistics.median(_wall(argv) for _ in range(samples)) for name, argv in programs.items()}


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measured(run: Any, *args: Any) -> dict[str, Any]:
    """``run(*args)`` with the CPU that other processes used meanwhile (``other_cpu``): the
    machine's busy time less this process's and its descendants'. A noisy neighbour shows."""
    busy0 = _busy_seconds()
    own0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(*args)
    busy1 = _busy_seconds()
    own1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if busy0 is not None and busy1 is not None:
        own = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(own0, own1))
        result["other_cpu"] = max(0.0, busy1 - busy0 - own)
    return result


# -- a tuner run, in a fresh interpreter ----------------------------------------------------


def write_component(directory: Path, kind: str, env: dict[str, str] | None = None) -> Path:
    """A one-input no-op component (JSON is YAML)."""
    container: dict[str, Any] = {
        "image": "python:3.11",
        "command": ["python", "-c", TRIALS[kind]],
        "args": [{"inputValue": "x"}],
    }
    if env:
        container["env"] = env
    path = directory / "component.yaml"
    path.write_text(json.dumps({
        "name": f"noop-{kind}",
        "inputs": [{"name": "x", "type": "Float"}],
        "implementation": {"container": container},
    }, indent=2))
    return path


def write_experiment(directory: Path, trials: int, parallel: int, algorithm: str | None) -> Path:
    """A Katib Experiment whose trial Job prints ``loss=<x>`` (the StdOut collector)."""
    spec: dict[str, Any] = {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
        "parallelTrialCount": parallel,
        "maxTrialCount": trials,
        "trialTemplate": {
            "primaryContainerName": "training-container",
            "trialParameters": [{"name": "x", "reference": "x"}],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "training-container",
                    "image": "python:3.11",
                    "command": ["python", "-c", "print('loss=${trialParameters.x}')"],
                }]}}},
            },
        },
    }
    if algorithm:
        spec["algorithm"] = {"algorithmName": algorithm}
    path = directory / "experiment.yaml"
    path.write_text(json.dumps({
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "noop"},
        "spec": spec,
    }, indent=2))
    return path


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` in a fresh interpreter (``--worker``) and return what it reports."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"worker failed ({proc.returncode}): {proc.stderr[-3000:]}")


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One tuner run in this process: ``Tuner(...).run()`` timed, with CPU times."""
    t_import = time.perf_counter()
    from pipetune.components import load_component
    from pipetune.engines.local import LocalEngine
    from pipetune.experiment import Objective
    from pipetune.store import RunStore
    from pipetune.tuner import policy
    from pipetune.tuner.config import TunerConfig
    from pipetune.tuner.launchers import ComponentLauncher
    from pipetune.tuner.loop import Tuner
    from pipetune.tuner.space import SearchSpace

    import_seconds = time.perf_counter() - t_import
    directory = Path(job["dir"])
    component = load_component(write_component(directory, job["kind"], job.get("env")))
    space = SearchSpace.from_katib(
        [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]
    )
    config = TunerConfig(
        name="noop",
        space=space,
        objective=Objective("loss", type="minimize"),
        budget=policy.Budget(job["trials"], job["parallel"]),
        algorithm=job["algorithm"],
        seed=0,
    )
    probe = Probe() if job.get("profile") else None
    self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    tuner = Tuner(config, ComponentLauncher(component), LocalEngine(), RunStore(directory / "state"),
                  directory / "experiment")
    if probe is not None:
        probe.wrap_suggest(tuner.algorithm)
    result = tuner.run()
    wall = time.perf_counter() - start
    self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    report: dict[str, Any] = {
        "wall": wall,
        "tuner_cpu": self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime,
        "trials_cpu": kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime,
        "import_seconds": import_seconds,
        "statuses": dict(collections.Counter(t.status.value for t in result.trials)),
        "reason": result.state.reason,
        "tuner_imported_hyperopt": "hyperopt" in sys.modules,
    }
    if probe is not None:
        report["profile"] = probe.report(job["trials"], wall)
    if job.get("env", {}).get("PYTHONPROFILEIMPORTTIME"):
        logs = sorted((directory / "state" / "runs").glob("*/logs/stderr.log"))
        imported = [_imported_modules(p.read_text()) for p in logs]
        report["trial_import_check"] = {
            "trials": len(logs),
            "with_hyperopt": sum("hyperopt" in modules for modules in imported),
            "with_numpy": sum("numpy" in modules for modules in imported),
            "modules": [len(modules) for modules in imported],
        }
    return report


def run_cli(directory: Path, trials: int, parallel: int) -> dict[str, Any]:
    """``python -m pipetune tune`` on a Katib Experiment with the default algorithm, timed
    from the command's start to its exit (its own start and imports included)."""
    experiment = write_experiment(directory, trials, parallel, None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pipetune", "--state-dir", str(directory / "state"), "tune",
         str(experiment), "--dir", str(directory / "experiment")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"pipetune tune failed ({proc.returncode}): {proc.stderr[-3000:]}")
    rows = json.loads((directory / "experiment" / "trials.json").read_text())
    ending = re.search(r"^experiment noop \S+ \((\w+)\)", proc.stdout, re.MULTILINE)
    return {
        "wall": wall,
        "statuses": dict(collections.Counter(row["status"] for row in rows)),
        "reason": ending.group(1) if ending else None,
    }


def _imported_modules(importtime: str) -> set[str]:
    """Top-level names of the modules in ``-X importtime`` output."""
    names = set()
    for line in importtime.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if match:
            names.add(match.group(1).split(".")[0])
    return names


def trial_imports(tmp: Path) -> dict[str, Any]:
    """What each no-op trial program imports, from ``python -X importtime``."""
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp / "import-outputs")}
    found = {}
    for kind, code in TRIALS.items():
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code, "0.5"],
            env=env, capture_output=True, text=True, check=True,
        )
        modules = _imported_modules(proc.stderr)
        cumulative = 0
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*pipetune$", line)
            if match:
                cumulative = int(match.group(1))
        found[kind] = {
            "modules": len(modules),
            "hyperopt": "hyperopt" in modules,
            "numpy": "numpy" in modules,
            "import_pipetune_ms": cumulative / 1000 if cumulative else None,
        }
    return found


# -- suggestion time ------------------------------------------------------------------------


def suggestion_times(history_sizes: list[int], repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds of one ``suggest`` over a history of finished trials, per algorithm and
    space: 1 double (the no-op runs' space) and 6 doubles (bench/tuner_quality.py's figure)."""
    import itertools
    import logging

    from pipetune.tuner.algorithms import get_algorithm, trial_seed
    from pipetune.tuner.algorithms._grid import Grid
    from pipetune.tuner.history import TrialRecord, TrialStatus
    from pipetune.tuner.space import SearchSpace

    logging.getLogger("hyperopt").setLevel(logging.WARNING)

    def space(count: int, step: str | None) -> SearchSpace:
        feasible = {"min": "0", "max": "1", **({"step": step} if step else {})}
        return SearchSpace.from_katib(
            [{"name": f"x{i}", "parameterType": "double", "feasibleSpace": dict(feasible)} for i in range(count)]
        )

    rng = random.Random(0)
    times: dict[str, dict[str, float]] = {}
    for name in ("random", "tpe", "anneal", "auto", "grid"):
        algorithm = get_algorithm(name)
        row = {}
        for count in (1, 6):
            # grid needs a step: 1001 points on 1 double, 5^6 = 15625 on 6.
            searched = space(count, ("0.001" if count == 1 else "0.25") if name == "grid" else None)
            for size in history_sizes if count == 6 else [max(history_sizes)]:
                if isinstance(algorithm, Grid):
                    grids = [p.grid() for p in searched.parameters]
                    points = itertools.islice(itertools.product(*grids), size)
                    assignments = [dict(zip(searched.names, point)) for point in points]
                else:
                    assignments = [{n: rng.random() for n in searched.names} for _ in range(size)]
                history = [
                    TrialRecord(i, a, TrialStatus.SUCCEEDED, rng.random()) for i, a in enumerate(assignments)
                ]
                algorithm.suggest(searched, history, trial_seed(0, size))  # warm: imports, caches
                spent = []
                for r in range(repeats):
                    start = time.perf_counter()
                    algorithm.suggest(searched, history, trial_seed(r + 1, size))
                    spent.append(time.perf_counter() - start)
                row[f"{count}p@{size}"] = statistics.median(spent)
        times[name] = row
    return times


# -- profile --------------------------------------------------------------------------------


class Probe:
    """Wall time and calls of the tuner's steps in its main thread (inclusive: a step's time
    includes the steps it calls), plus counts of what happens in any thread."""

    #: (module, attribute, label), nesting shown by the label's indentation in the report.
    #: A step the code does not have (it changed) is left out of the report.
    STEPS = [
        ("pipetune.tuner.loop", "time.sleep", "poll wait (time.sleep)"),
        ("pipetune.engines.local._engine", "LocalEngine.wait_any", "poll wait (engine.wait_any)"),
        ("pipetune.tuner.loop", "Tuner._start_new", "Tuner._start_new"),
        ("pipetune.tuner.policy", "history_for", "  policy.history_for"),
        ("pipetune.tuner.loop", "Tuner._launch", "  Tuner._launch"),
        ("pipetune.tuner.launchers", "ComponentLauncher.prepare", "    launcher.prepare"),
        ("pipetune.tuner.loop", "start_run", "    start_run"),
        ("pipetune.store", "RunStore.create", "      RunStore.create"),
        ("pipetune.engines.local._engine", "LocalEngine.submit", "      LocalEngine.submit"),
        ("pipetune.engines.local._process", "subprocess.Popen", "        subprocess.Popen"),
        ("pipetune.engines.local._process", "_pump", "        pump thread start (x2)"),
        ("pipetune.tuner.loop", "Tuner._collect", "Tuner._collect"),
        ("pipetune.engines.local._engine", "LocalEngine.poll", "  LocalEngine.poll"),
        ("pipetune.engines.local._engine", "LocalEngine._conclude", "    LocalEngine._conclude"),
        ("pipetune.engines.local._process", "GroupProcess.finish", "      GroupProcess.finish (pump join)"),
        ("pipetune.engines.local._engine", "collect_results", "      collect_results"),
        ("pipetune.tuner.loop", "finish_run", "  finish_run"),
        ("pipetune.store", "RunStore.update", "RunStore.update (all)"),
        ("pipetune.tuner.journal", "Journal.append", "Journal.append (all)"),
        ("pipetune.tuner.policy", "verdict", "policy.verdict"),
        ("pipetune.tuner.policy", "can_ask", "policy.can_ask"),
    ]

    def __init__(self) -> None:
        import importlib

        self.main = threading.main_thread()
        self.spent: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self.counts: collections.Counter[str] = collections.Counter()
        self.present: list[str] = []
        for module_name, attribute, label in self.STEPS:
            owner: Any = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part, None)
            if owner is None or not hasattr(owner, name):
                continue
            self.present.append(label)
            if isinstance(owner, type(os)) and name == "sleep":  # time.sleep as experiment sees it
                self._wrap_sleep(owner, label)
            else:
                self.wrap_object(owner, name, label)
        self._count_calls()

    def wrap_object(self, owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name)
        spent, main = self.spent, self.main

        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not main:
                return function(*args, **kwargs)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                entry = spent[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - start

        setattr(owner, name, timed)

    def wrap_suggest(self, algorithm: Any) -> None:
        """``suggest``, its first call (which imports hyperopt) apart from the others."""
        function = algorithm.suggest
        spent = self.spent

        def timed(*args: Any, **kwargs: Any) -> Any:
            label = "  algorithm.suggest" if spent["  algorithm.suggest, first call"][0] else (
                "  algorithm.suggest, first call")
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                entry = spent[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - start

        algorithm.suggest = timed

    def _wrap_sleep(self, time_module: Any, label: str) -> None:
        # Only the tuner's own sleeps: wrap the name the experiment module looks up.
        import pipetune.tuner.loop as experiment

        real = time_module.sleep
        spent = self.spent

        class _Time:
            def __getattr__(self, attribute: str) -> Any:
                return getattr(time_module, attribute)

            @staticmethod
            def sleep(seconds: float) -> None:
                start = time.perf_counter()
                real(seconds)
                entry = spent[label]
                entry[0] += 1
                entry[1] += time.perf_counter() - start

        experiment.time = _Time()  # type: ignore[assignment]

    def _count_calls(self) -> None:
        import sqlite3

        import pipetune.engines.local._engine as engine

        counts = self.counts
        connect = sqlite3.connect

        def count_statement(_sql: str) -> None:
            counts["sqlite statements"] += 1

        def counted_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            counts["sqlite connections opened"] += 1
            db = connect(*args, **kwargs)
            db.set_trace_callback(count_statement)
            return db

        sqlite3.connect = counted_connect  # type: ignore[assignment]
        for name in ("fsync", "fdatasync"):
            sync = getattr(os, name, None)
            if sync is None:
                continue

            def counted_sync(fd: int, sync: Any = sync, name: str = name) -> None:
                counts[f"os.{name} from Python (journal)"] += 1
                sync(fd)

            setattr(os, name, counted_sync)
        start = threading.Thread.start

        def counted_start(this: threading.Thread) -> None:
            counts["threads started"] += 1
            start(this)

        threading.Thread.start = counted_start  # type: ignore[method-assign]
        scan = engine.end_processes_of

        def counted_scan(*args: Any) -> int:
            counts["/proc scans"] += 1
            return scan(*args)

        engine.end_processes_of = counted_scan  # type: ignore[assignment]

    def report(self, trials: int, wall: float) -> dict[str, Any]:
        steps = {}
        labels = list(self.present)
        at = labels.index("Tuner._start_new") + 1
        labels[at:at] = ["  algorithm.suggest, first call", "  algorithm.suggest"]
        for label in labels:
            calls, seconds = self.spent.get(label, (0, 0.0))
            if not calls:
                continue
            steps[label] = {
                "calls_per_trial": calls / trials,
                "ms_per_trial": seconds / trials * 1e3,
                "ms_per_call": seconds / calls * 1e3 if calls else 0.0,
            }
        return {
            "ms_per_trial": wall / trials * 1e3,
            "steps": steps,
            "counts_per_trial": {name: count / trials for name, count in sorted(self.counts.items())},
        }


def strace_counts(tmp: Path, trials: int, parallel: int) -> dict[str, float] | None:
    """Syscalls per trial of a tuner run (the trial processes included: they make no fsync,
    fdatasync or unlink of their own), from ``strace -f -c``; None without strace."""
    if shutil.which("strace") is None:
        return None
    directory = tmp / "strace"
    directory.mkdir()
    job = {"dir": str(directory), "kind": "stdout", "algorithm": "random", "trials": trials, "parallel": parallel}
    summary = tmp / "strace.txt"
    proc = subprocess.run(
        ["strace", "-f", "-c", "-o", str(summary), "-e", "trace=fsync,fdatasync,unlink,rename",
         sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0 or not summary.exists():
        return None
    counts = {}
    for line in summary.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in ("fsync", "fdatasync", "unlink", "rename"):
            counts[fields[-1]] = int(fields[3]) / trials
    return counts


# -- in-process: pipetune.tune(fn) against Optuna ------------------------------------------

#: (label, framework, algorithm or sampler): the default against Optuna's default sampler,
#: random against random.
CONTENDERS = [
    ("pipetune auto (default)", "pipetune", "auto"),
    ("optuna TPESampler", "optuna", "tpe"),
    ("pipetune random", "pipetune", "random"),
    ("optuna RandomSampler", "optuna", "random"),
    # Durable and resumable as pipetune's journal is: Optuna's journal file (an fsync per write).
    ("optuna TPE, journal file", "optuna-journal", "tpe"),
]
#: Interpreters started per import figure: (label, code).
IMPORTS = [
    ("python -c pass", "pass"),
    ("import pipetune", "import pipetune"),
    ("import pipetune; from hyperopt import hp", "import pipetune; from hyperopt import hp"),
    ("import pipetune; pipetune.tune", "import pipetune; pipetune.tune"),
    ("... and what tune(fn) loads on first use (auto)", "import pipetune; import pipetune.tuner.algorithms._auto"),
    ("import optuna", "import optuna"),
]


def in_process_worker(job: dict[str, Any]) -> dict[str, Any]:
    """One tuning run of a trivial objective in this (fresh) process: wall time, the time of
    every objective call, the peak RSS."""
    import logging

    framework, algorithm, trials = job["framework"], job["algorithm"], job["trials"]
    calls: list[float] = []

    def objective(params: dict[str, float]) -> float:
        calls.append(time.perf_counter())
        return (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if framework in ("pipetune", "pipetune-baseline"):
        import pipetune

        space = [{"name": name, "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}
                 for name in ("x", "y")]
        # A first, 3-trial run loads what tune() loads on first use (hyperopt, Optuna, numpy):
        # a one-time cost, in the import figures; the timed run is the framework's per-trial cost.
        # It is another experiment in the same state directory, so it also creates the run store
        # there, a one-time cost per state directory (a user's ~/.pipetune) as an import is per
        # process; the timed run still makes its experiment's directory, lock and journal.
        pipetune.tune(objective, space, minimize=True, max_trials=3, algorithm=algorithm, state_dir=job["dir"],
                      name="warm-up")
        calls.clear()
        cpu0, start = time.process_time(), time.perf_counter()
        result = pipetune.tune(objective, space, minimize=True, max_trials=trials, algorithm=algorithm,
                               seed=job["seed"], state_dir=job["dir"])
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        best = result.best_objective
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        logging.getLogger("optuna").setLevel(logging.WARNING)
        sampler = (optuna.samplers.TPESampler(seed=job["seed"]) if algorithm == "tpe"
                   else optuna.samplers.RandomSampler(seed=job["seed"]))
        warm = optuna.create_study(direction="minimize", sampler=type(sampler)(seed=job["seed"]))
        warm.optimize(lambda t: objective({"x": t.suggest_float("x", 0, 1), "y": t.suggest_float("y", 0, 1)}),
                      n_trials=3)
        calls.clear()
        storage = None
        if framework == "optuna-journal":
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            storage = JournalStorage(JournalFileBackend(str(Path(job["dir"]) / "optuna.log")))
        cpu0, start = time.process_time(), time.perf_counter()
        study = optuna.create_study(direction="minimize", sampler=sampler, storage=storage)
        study.optimize(lambda t: objective({"x": t.suggest_float("x", 0, 1), "y": t.suggest_float("y", 0, 1)}),
                       n_trials=trials)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        best = study.best_value
    return {
        "wall": wall,
        "cpu": cpu,
        "calls": [c - start for c in calls],
        "best": best,
        "rss_before_kib": rss_before,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _in_process_run(job: dict[str, Any], baseline: str | None = None) -> dict[str, Any]:
    env = None
    if job["framework"] == "pipetune-baseline":
        # Another checkout's pipetune (``--baseline``), imported ahead of this one's.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(baseline or ".").resolve() / "plugin"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(
        [sys.executable, __file__, "--in-process-worker", json.dumps(job)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"in-process worker failed ({proc.returncode}): {proc.stderr[-3000:]}")


def _gaps(calls: list[float], first: bool, count: int = 100) -> float:
    """Mean seconds between consecutive objective calls over the first or last ``count``."""
    window = calls[: count + 1] if first else calls[-(count + 1):]
    return (window[-1] - window[0]) / (len(window) - 1)


def in_process_main(args: argparse.Namespace) -> int:
    """``--in-process``: pipetune.tune(fn) against Optuna, one run, fresh interpreters."""
    began = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {text}", file=sys.stderr, flush=True)

    small, middle, large = (int(n) for n in args.sizes.split(","))
    sizes = [(small, args.small_repeats), (middle, args.repeats), (large, args.growth_repeats)]
    contenders = list(CONTENDERS)
    if args.baseline:
        # Before and after in one run: the same contenders from another checkout.
        contenders[1:1] = [("pipetune auto, baseline", "pipetune-baseline", "auto")]
        contenders[4:4] = [("pipetune random, baseline", "pipetune-baseline", "random")]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {label: {} for label, _, _ in contenders}
    with tempfile.TemporaryDirectory(prefix="pipetune-inprocess-") as name:
        for trials, repeats in sizes:
            for repeat in range(repeats):
                # Contenders interleaved within a repeat, so a noisy minute hits all alike.
                for label, framework, algorithm in contenders:
                    directory = Path(name) / f"{framework}-{algorithm}-{trials}-{repeat}"
                    directory.mkdir()
                    run = _in_process_run({"framework": framework, "algorithm": algorithm, "trials": trials,
                                           "seed": repeat, "dir": str(directory)}, args.baseline)
                    runs[label].setdefault(trials, []).append(run)
                    say(f"{label}: {trials} trials in {run['wall']:.2f}s "
                        f"({run['wall'] / trials * 1e3:.2f} ms/trial)")
                    shutil.rmtree(directory)
    say("import times")
    env = {**os.environ}
    imports = {label: statistics.median(_wall([sys.executable, "-c", code], env) for _ in range(args.import_repeats))
               for label, code in IMPORTS}

    table: dict[str, dict[str, Any]] = {}
    for label, _, _ in contenders:
        by_size = runs[label]
        row: dict[str, Any] = {}
        for key, trials in (("100", small), ("1000", middle)):
            row[f"ms_per_trial_{key}"] = statistics.median(r["wall"] / trials * 1e3 for r in by_size[trials])
            row[f"cpu_ms_per_trial_{key}"] = statistics.median(r["cpu"] / trials * 1e3 for r in by_size[trials])
        growth = by_size[large]
        row["first_100_ms"] = statistics.median(_gaps(r["calls"], True) * 1e3 for r in growth)
        row["last_100_ms"] = statistics.median(_gaps(r["calls"], False) * 1e3 for r in growth)
        row["growth"] = row["last_100_ms"] / row["first_100_ms"]
        row["maxrss_mib_1000"] = statistics.median(r["maxrss_kib"] for r in by_size[middle]) / 1024
        row["walls"] = {str(t): [r["wall"] for r in rs] for t, rs in by_size.items()}
        table[label] = row

    print(f"in-process, trivial objective (2 doubles), medians: {args.small_repeats} repeats at {small} trials, "
          f"{args.repeats} at {middle}, {args.growth_repeats} at {large} (first and last 100 of it); "
          "fresh interpreter per run")
    header = (f"{'contender':<26}{'ms/trial @' + str(small):>14}{'@' + str(middle):>9}{'first 100':>11}"
              f"{'last 100':>10}{'growth':>8}{'peak RSS @' + str(middle):>16}{'cpu @' + str(small):>10}"
              f"{'cpu @' + str(middle):>10}")
    print(header)
    print("-" * len(header))
    for label, row in table.items():
        print(f"{label:<26}{row['ms_per_trial_100']:>14.2f}{row['ms_per_trial_1000']:>9.2f}"
              f"{row['first_100_ms']:>11.2f}{row['last_100_ms']:>10.2f}{row['growth']:>7.1f}x"
              f"{row['maxrss_mib_1000']:>12.1f} MiB{row['cpu_ms_per_trial_100']:>10.2f}"
              f"{row['cpu_ms_per_trial_1000']:>10.2f}")
    ratios = {}
    pairs = [("pipetune auto (default)", "optuna TPESampler"), ("pipetune random", "optuna RandomSampler"),
             ("pipetune auto (default)", "optuna TPE, journal file")]
    if args.baseline:
        pairs += [("pipetune auto, baseline", "optuna TPESampler"), ("pipetune random, baseline", "optuna RandomSampler"),
                  ("pipetune auto (default)", "pipetune auto, baseline"), ("pipetune random", "pipetune random, baseline")]
    for ours, theirs in pairs:
        ratios[f"{ours} / {theirs}"] = {
            key: table[ours][key] / table[theirs][key]
            for key in ("ms_per_trial_100", "ms_per_trial_1000", "last_100_ms", "maxrss_mib_1000",
                        "cpu_ms_per_trial_100", "cpu_ms_per_trial_1000")
        }
    print()
    for pair, values in ratios.items():
        print(f"{pair}: " + ", ".join(f"{k} {v:.2f}x" for k, v in values.items()))
    print()
    print(f"start-to-finish of an interpreter, median of {args.import_repeats}:")
    for label, seconds in imports.items():
        print(f"  {label:<44}{seconds * 1e3:8.1f} ms")
    print(f"  import pipetune / import optuna: "
          f"{imports['import pipetune'] / imports['import optuna']:.2f}x; with `from hyperopt import hp`: "
          f"{imports['import pipetune; from hyperopt import hp'] / imports['import optuna']:.2f}x")
    OUT.mkdir(exist_ok=True)
    path = OUT / "tuner_overhead_inprocess.json"
    path.write_text(json.dumps({"table": table, "ratios": ratios, "imports_s": imports, "baseline": args.baseline,
                                "tmpdir": tempfile.gettempdir(),
                                "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
                                "python": sys.version.split()[0],
                                "seconds": time.perf_counter() - began}, indent=2) + "\n")
    print(f"wrote {path} ({time.perf_counter() - began:.0f} s in all)")
    return 0


# -- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--auto-trials", type=int, help="trials of the auto runs (default: --trials)")
    parser.add_argument("--floor-samples", type=int, default=15,
                        help="starts of each floor program per repeat (default 15)")
    parser.add_argument("--suggest-repeats", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the `pipetune tune` run")
    parser.add_argument("--profile", action="store_true",
                        help="also an instrumented run: where the tuner's time goes")
    parser.add_argument("--quick", action="store_true", help="100 trials, 1 repeat: a smoke run")
    parser.add_argument("--in-process", action="store_true",
                        help="pipetune.tune(fn) against Optuna instead (see the module's docstring)")
    parser.add_argument("--small-repeats", type=int, default=5, help="--in-process: repeats at 100 trials")
    parser.add_argument("--growth-repeats", type=int, default=1, help="--in-process: repeats at 2,000 trials")
    parser.add_argument("--sizes", default="100,1000,2000",
                        help="--in-process: the small, middle and growth run's trials (default 100,1000,2000)")
    parser.add_argument("--import-repeats", type=int, default=10, help="--in-process: starts per import figure")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="--in-process: also run pipetune auto and random from this checkout (its plugin/), "
                             "e.g. `git worktree add /tmp/before main`: before and after in one run")
    parser.add_argument("--in-process-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    if args.in_process_worker:
        print("RESULT " + json.dumps(in_process_worker(json.loads(args.in_process_worker))), flush=True)
        return 0
    if args.in_process:
        return in_process_main(args)
    if args.quick:
        args.trials, args.repeats, args.floor_samples, args.suggest_repeats = 100, 1, 10, 3
    auto_trials = args.auto_trials or args.trials
    cases = [
        ("random", "stdout", args.trials, "api"),
        ("random", "results", args.trials, "api"),
        ("auto", "stdout", auto_trials, "api"),
    ]
    if not args.no_cli:
        cases.append(("auto", "stdout", auto_trials, "cli"))
    began = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="pipetune-overhead-") as name:
        tmp = Path(name)
        programs = floor_programs(tmp)
        samples: dict[str, list[float]] = {label: [] for label in programs}
        # Per repeat: the median of each floor program and the pool, each run's ratios to them
        # (the machine's speed drifts; a ratio to the floor taken minutes apart would too).
        repeat_floors: list[dict[str, float]] = []
        pools: list[float] = []
        runs: dict[str, list[dict[str, Any]]] = {}
        for repeat in range(args.repeats):
            floors_now = {}
            for label, (program, env) in programs.items():
                taken = [_wall(program, env) for _ in range(args.floor_samples)]
                samples[label] += taken
                floors_now[label] = statistics.median(taken)
            repeat_floors.append(floors_now)
            pools.append(measured(lambda: {"wall": pool_floor(args.trials, args.parallel)})["wall"])
            say(f"repeat {repeat + 1}: python -c pass {floors_now['python -c pass'] * 1e3:.1f} ms; "
                f"pool of {args.trials} x python -c pass, {args.parallel} at a time: {pools[-1]:.2f}s")
            for algorithm, kind, trials, via in cases:
                key = f"{'pipetune tune' if via == 'cli' else 'Tuner'} {algorithm}, {KIND_LABEL[kind]}"
                directory = tmp / f"r{repeat}-{via}-{algorithm}-{kind}"
                directory.mkdir()
                if via == "cli":
                    run = measured(run_cli, directory, trials, args.parallel)
                else:
                    run = measured(run_worker, {"dir": str(directory), "kind": kind, "algorithm": algorithm,
                                                "trials": trials, "parallel": args.parallel})
                own = "results trial" if kind == "results" else "stdout trial"
                run.update(
                    trials=trials,
                    floor=trials * floors_now["python -c pass"] / args.parallel,
                    own_floor=trials * floors_now[own] / args.parallel,
                    pool=pools[-1] * trials / args.trials,
                )
                runs.setdefault(key, []).append(run)
                noise = run.get("other_cpu", 0.0) / (run["wall"] * (os.cpu_count() or 1))
                say(f"repeat {repeat + 1}: {key}: {trials} trials in {run['wall']:.2f}s "
                    f"({run['wall'] / run['floor']:.2f}x the floor) {run['statuses']}"
                    + (f"; other processes used {noise:.0%} of the CPU" if noise >= 0.05 else ""))
                shutil.rmtree(directory)

        floors = {label: statistics.median(values) for label, values in samples.items()}
        context = import_cost(max(5, args.floor_samples // 2))
        say("timing suggestions")
        suggest = suggestion_times([250, 1000], args.suggest_repeats)
        say("checking what trial processes import")
        imports = trial_imports(tmp)
        check_dir = tmp / "import-check"
        check_dir.mkdir()
        real_path = run_worker({"dir": str(check_dir), "kind": "results", "algorithm": "random", "trials": 4,
                                "parallel": args.parallel, "env": {"PYTHONPROFILEIMPORTTIME": "1"}})
        imports["tuner run, results.yaml trials"] = real_path["trial_import_check"]
        profile = None
        if args.profile:
            say("profiling")
            profile_dir = tmp / "profile"
            profile_dir.mkdir()
            profiled = run_worker({"dir": str(profile_dir), "kind": "stdout", "algorithm": "random",
                                   "trials": args.trials, "parallel": args.parallel, "profile": True})
            profile = {**profiled["profile"], "tuner_cpu_ms_per_trial": profiled["tuner_cpu"] / args.trials * 1e3,
                       "trials_cpu_ms_per_trial": profiled["trials_cpu"] / args.trials * 1e3,
                       "syscalls_per_trial": strace_counts(tmp, min(args.trials, 100), args.parallel)}

    # -- the report ----------------------------------------------------------------------
    t_pass = floors["python -c pass"]
    pool = statistics.median(pools)
    print(f"floors (median start-to-finish of one process, {len(samples['python -c pass'])} samples; "
          f"{sys.executable}):")
    for label, seconds in floors.items():
        print(f"  {label:<28}{seconds * 1e3:8.1f} ms")
    for label, seconds in context.items():
        print(f"  {label:<28}{seconds * 1e3:8.1f} ms   (context)")
    print(f"  pool: {args.trials} x python -c pass, {args.parallel} at a time: median {pool:.2f} s "
          f"(formula: {args.trials * t_pass / args.parallel:.2f} s; per repeat: "
          + ", ".join(f"{p:.2f}" for p in pools) + ")")
    print()
    header = (f"{'run (parallel ' + str(args.parallel) + ')':<40}{'trials':>7}{'wall s':>8}{'trials/s':>9}"
              f"{'ms/trial':>9}{'/floor':>7}{'/pool':>7}{'/own':>6}{'tuner cpu':>10}{'trial cpu':>10}"
              f"{'noise':>6}")
    print(f"median over {args.repeats} repeat(s); /floor: over trials x python -c pass / parallel "
          f"(target: within {TARGET}x); /pool: over the pool; /own: over trials x the trial "
          "program / parallel; ratios per repeat, to that repeat's floors; cpu: ms a trial; "
          "noise: CPU other processes used")
    print(header)
    print("-" * len(header))
    results = {}
    for key, repeats in runs.items():
        trials = repeats[0]["trials"]

        def median(values: Any) -> float:
            return statistics.median(list(values))

        wall = median(r["wall"] for r in repeats)
        cpu = [r for r in repeats if "tuner_cpu" in r]
        tuner_cpu = median(r["tuner_cpu"] for r in cpu) / trials * 1e3 if cpu else None
        trials_cpu = median(r["trials_cpu"] for r in cpu) / trials * 1e3 if cpu else None
        noise = median(r.get("other_cpu", 0.0) / (r["wall"] * (os.cpu_count() or 1)) for r in repeats)
        ratio = median(r["wall"] / r["floor"] for r in repeats)
        results[key] = {
            "trials": trials,
            "walls": [r["wall"] for r in repeats],
            "wall": wall,
            "trials_per_s": trials / wall,
            "ms_per_trial": wall / trials * 1e3,
            "floors": [r["floor"] for r in repeats],
            "ratio_to_floor": ratio,
            "ratios_to_floor": [r["wall"] / r["floor"] for r in repeats],
            "ratio_to_pool": median(r["wall"] / r["pool"] for r in repeats),
            "ratio_to_own_floor": median(r["wall"] / r["own_floor"] for r in repeats),
            "tuner_cpu_ms_per_trial": tuner_cpu,
            "trials_cpu_ms_per_trial": trials_cpu,
            "other_cpu_share": noise,
            "statuses": repeats[-1]["statuses"],
            "meets_target": ratio <= TARGET,
        }
        row = results[key]
        print(f"{key:<40}{trials:>7}{wall:>8.2f}{trials / wall:>9.1f}{wall / trials * 1e3:>9.1f}"
              f"{ratio:>7.2f}{row['ratio_to_pool']:>7.2f}{row['ratio_to_own_floor']:>6.2f}"
              + (f"{tuner_cpu:>7.1f} ms{trials_cpu:>7.1f} ms" if cpu else f"{'-':>10}{'-':>10}")
              + f"{noise:>6.0%}")
    print()
    print(f"time per suggestion, median of {args.suggest_repeats}, history of finished trials "
          "(Np@H: N double parameters, H trials)")
    columns = list(next(iter(suggest.values())))
    print(f"{'algorithm':<12}" + "".join(f"{c:>12}" for c in columns))
    for name, row in suggest.items():
        print(f"{name:<12}" + "".join(f"{row[c] * 1e3:>9.2f} ms" for c in columns))
    print()
    print("what trial processes import:")
    for label, found in imports.items():
        print(f"  {label}: {json.dumps(found)}")
    if profile is not None:
        print()
        print(f"profile: Tuner random, StdOut trials, {args.trials} trials, "
              f"{profile['ms_per_trial']:.1f} ms/trial wall; tuner process CPU "
              f"{profile['tuner_cpu_ms_per_trial']:.1f} ms/trial, trial processes' CPU "
              f"{profile['trials_cpu_ms_per_trial']:.1f} ms/trial")
        print("main thread, inclusive (a step's time includes the indented steps below it):")
        print(f"  {'step':<40}{'calls/trial':>12}{'ms/trial':>10}{'ms/call':>9}")
        for label, step in profile["steps"].items():
            print(f"  {label:<40}{step['calls_per_trial']:>12.2f}{step['ms_per_trial']:>10.2f}"
                  f"{step['ms_per_call']:>9.3f}")
        print("  counts per trial: " + ", ".join(f"{k} {v:.2f}" for k, v in profile["counts_per_trial"].items()))
        if profile["syscalls_per_trial"]:
            print("  syscalls per trial (strace -f): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in profile["syscalls_per_trial"].items()))

    OUT.mkdir(exist_ok=True)
    payload = {
        "trials": args.trials,
        "repeats": args.repeats,
        "parallel": args.parallel,
        "target": TARGET,
        "floors_s": floors,
        "floors_per_repeat_s": repeat_floors,
        "floor_samples_s": samples,
        "context_s": context,
        "pool_floor_s": pools,
        "runs": results,
        "suggest_s": suggest,
        "trial_imports": imports,
        "profile": profile,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "seconds": time.perf_counter() - began,
    }
    path = OUT / "tuner_overhead.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path} ({time.perf_counter() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
