"""The local pipeline runner's overhead per task: `pipetune pipeline run` on a compiled 20-task
KFP pipeline against running the very same task commands by hand, one after another.

The pipeline (compiled here with kfp) is 4 layers of 5 tasks; each task is a small container
component (`python -c`, writing its output parameter) taking its input from a task of the
layer before. "By hand" replays the commands the runner recorded for each task (the run
store's `command`), in DAG order, with subprocess.run: the floor any runner pays. Reported:
medians over repeats of the wall time, the ratio runner / by hand, and the runner's overhead
per task ((runner - by hand) / 20), with `--parallel 1` (the same sequence) and `--parallel 4`.

    python bench/pipeline_runner.py [--repeats 3]

Needs the kfp extra. Machine: whatever runs it; the figures are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = """
name: step
inputs:
- {name: x, type: Integer}
outputs:
- {name: y, type: Integer}
implementation:
  container:
    image: python:3.11-slim
    command:
      - python
      - -c
      - "import sys, pathlib; p = pathlib.Path(sys.argv[2]); p.parent.mkdir(parents=True, exist_ok=True);
        p.write_text(str(int(sys.argv[1]) + 1))"
    args: [{inputValue: x}, {outputPath: y}]
"""
LAYERS, WIDTH = 4, 5


def compile_pipeline(target: Path) -> None:
    from kfp import compiler, components, dsl

    step = components.load_component_from_text(COMPONENT)

    @dsl.pipeline(name="bench-dag")
    def dag():
        previous = [step(x=i) for i in range(WIDTH)]
        for _ in range(LAYERS - 1):
            previous = [step(x=previous[i].outputs["y"]) for i in range(WIDTH)]

    compiler.Compiler().compile(dag, str(target))


def run_pipeline(path: Path, state: Path, parallel: int) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipetune", "--state-dir", str(state), "pipeline", "run", str(path),
                           "--parallel", str(parallel)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"pipetune pipeline run failed:\n{done.stderr}")
    return elapsed


def commands(state: Path) -> list[list[str]]:
    from pipetune.store import RunStore

    records = RunStore(state).list()
    children = sorted((r for r in records if r.parent_id), key=lambda r: r.started_at or 0)
    if len(children) != LAYERS * WIDTH:
        sys.exit(f"expected {LAYERS * WIDTH} task runs, found {len(children)}")
    return [list(r.command or []) for r in children]


def by_hand(argvs: list[list[str]]) -> float:
    started = time.perf_counter()
    for argv in argvs:
        program = [sys.executable, *argv[1:]] if Path(argv[0]).name.startswith("python") else argv
        subprocess.run(program, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {"by hand": [], "parallel 1": [], "parallel 4": []}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "dag.yaml"
        compile_pipeline(path)
        for repeat in range(args.repeats):
            for parallel in (1, 4):
                state = Path(scratch) / f"state-{repeat}-{parallel}"
                rows[f"parallel {parallel}"].append(run_pipeline(path, state, parallel))
            rows["by hand"].append(by_hand(commands(Path(scratch) / f"state-{repeat}-1")))
            print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items()), flush=True)
    tasks = LAYERS * WIDTH
    hand = statistics.median(rows["by hand"])
    print(f"\n{tasks}-task DAG ({LAYERS} layers of {WIDTH}), medians of {args.repeats}, {os.cpu_count()} cores")
    print(f"{'':<12}{'wall s':>9}{'ratio':>9}{'overhead/task ms':>19}")
    for name, values in rows.items():
        wall = statistics.median(values)
        print(f"{name:<12}{wall:>9.2f}{wall / hand:>9.2f}{(wall - hand) / tasks * 1000:>19.0f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
