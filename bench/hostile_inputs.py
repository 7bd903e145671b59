"""Hostile YAML inputs (issue 14): time and peak memory reading each with pipetune's reader
versus plain ``yaml.safe_load``.

    python bench/hostile_inputs.py [--timeout 60] [--memory-mb 4096] [--quick] [--only NAME ...]

Each case is read in a fresh child process (so peak RSS is that read's alone, measured with
``os.wait4``'s rusage, the interpreter and imports included), under ``RLIMIT_AS`` of
``--memory-mb`` (so a runaway read ends in MemoryError instead of swapping the machine) and
killed after ``--timeout`` seconds. ``pipetune`` reads a results file as the engines do
(``read_results``; on success the size of the JSON the run store would keep is shown) and an
experiment as ``pipetune tune`` does (``load_experiment``); ``plain`` reads the file's text
and calls ``yaml.safe_load`` on it, nothing else. ``--quick`` makes the two large files small
(10 MB, 250 k metrics) for a fast look. The table goes to stdout, the figures to
``bench/out/hostile_inputs.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]

RESULTS_HEAD = "apiVersion: pipetune.dev/v1\n"

EXPERIMENT = """apiVersion: pipetune.dev/v1alpha1
kind: Experiment
metadata: {{name: hostile}}
spec:
  objective: {{type: minimize, objectiveMetricName: loss}}
  algorithm: {{algorithmName: random}}
  parameters:
    - {{name: x, parameterType: double, feasibleSpace: {{min: "0", max: "1"}}}}
  maxTrialCount: 3
  trialTemplate:
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training-container
                image: python:3.11
                command: [python, train.py, "${{trialParameters.x}}"]
                env:
{bomb}
"""


def laughs(levels: int, width: int = 10, indent: str = "  ") -> str:
    """Billion laughs: ``levels`` anchors, each a list of ``width`` aliases of the one before,
    so the last one expands to ``width ** levels`` strings."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f"{indent}{names[0]}: &{names[0]} [{','.join(['lol'] * width)}]"]
    for level in range(1, levels):
        name, last = names[level], names[level - 1]
        lines.append(f"{indent}{name}: &{name} [{','.join([f'*{last}'] * width)}]")
    return "\n".join(lines)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _results_big_int(d: Path) -> Path:
    return _write(d / "results.yaml", RESULTS_HEAD + "metrics:\n  loss: 1" + "0" * 400 + "\n")


def _results_deep(d: Path) -> Path:
    return _write(d / "results.yaml", RESULTS_HEAD + "outputs:\n  deep: " + "[" * 900 + "]" * 900 + "\n")


def _results_bomb(d: Path) -> Path:
    return _write(d / "results.yaml", RESULTS_HEAD + "outputs:\n" + laughs(9) + "\n")


def _results_bomb_small(d: Path) -> Path:
    # The 366-byte file: seven levels of ten, ten million strings once expanded.
    return _write(d / "results.yaml", RESULTS_HEAD + "outputs:\n" + laughs(7, indent=" ") + "\n")


def _experiment_bomb(d: Path) -> Path:
    # A 1 KB file: env values that are aliases of aliases, a billion strings once expanded.
    names = "abcdefghijklmnopqrstuvwxyz"
    entries = [f"                  - {{name: A, value: &a [{','.join(['lol'] * 10)}]}}"]
    for level in range(1, 9):
        name, last = names[level], names[level - 1]
        entries.append(f"                  - {{name: {name.upper()}, value: &{name} [{','.join([f'*{last}'] * 10)}]}}")
    return _write(d / "experiment.yaml", EXPERIMENT.format(bomb="\n".join(entries)))


def _results_dev_zero(d: Path) -> Path:
    path = d / "results.yaml"
    path.symlink_to("/dev/zero")
    return path


def _results_fifo(d: Path) -> Path:
    path = d / "results.yaml"
    os.mkfifo(path)
    return path


def _results_large(size: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = d / "results.yaml"
        line = "  blob_{:09d}: " + "x" * 100 + "\n"
        with path.open("w", encoding="utf-8") as out:
            out.write(RESULTS_HEAD + "outputs:\n")
            written, i = 0, 0
            while written < size:
                text = line.format(i)
                out.write(text)
                written += len(text)
                i += 1
        return path

    return build


def _results_many_metrics(count: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = d / "results.yaml"
        with path.open("w", encoding="utf-8") as out:
            out.write(RESULTS_HEAD + "metrics:\n")
            for i in range(count):
                out.write(f"  m{i}: {i}.5\n")
        return path

    return build


def _results_valid(d: Path) -> Path:
    return _write(d / "results.yaml", RESULTS_HEAD + "metrics: {accuracy: 0.931}\noutputs: {model_uri: s3://b/m}\n")


def cases(quick: bool) -> list[tuple[str, str, Callable[[Path], Path]]]:
    large = 10 * 2**20 if quick else 100 * 2**20
    many = 250_000 if quick else 2_500_000
    return [
        ("valid results (reference)", "results", _results_valid),
        ("metric 10**400", "results", _results_big_int),
        ("nested 900 deep", "results", _results_deep),
        ("alias bomb in results", "results", _results_bomb),
        ("small alias bomb", "results", _results_bomb_small),
        ("alias bomb in experiment", "experiment", _experiment_bomb),
        ("symlink to /dev/zero", "results", _results_dev_zero),
        ("FIFO", "results", _results_fifo),
        (f"{large // 2**20} MB results", "results", _results_large(large)),
        (f"{many:,} metrics", "results", _results_many_metrics(many)),
    ]


CHILD = r"""
import json, resource, sys, time
mode, kind, path, out, limit = sys.argv[1:6]
resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
import yaml
if mode == "pipetune":
    from pipetune.contract import read_results
    from pipetune.experiment import load_experiment
start = time.perf_counter()
try:
    if mode == "plain":
        with open(path, encoding="utf-8") as f:
            yaml.safe_load(f.read())
        outcome = "loaded"
    elif kind == "results":
        results = read_results(path)
        outcome = f"read; {len(json.dumps(results.to_dict()))} bytes as JSON"
    else:
        load_experiment(path)
        outcome = "read"
except BaseException as exc:
    outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
with open(out, "w") as f:
    json.dump({"outcome": outcome, "seconds": time.perf_counter() - start}, f)
"""


def measure(mode: str, kind: str, path: Path, timeout: float, memory: int) -> dict[str, Any]:
    """Read ``path`` in a child; its outcome, seconds (the read alone, or the wall time until
    the kill) and peak RSS in MB."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        report = Path(handle.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, kind, str(path), str(report), str(memory)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    start = time.perf_counter()
    killed = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout and not killed:
            os.killpg(child.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.01)
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    wall = time.perf_counter() - start
    try:
        data = json.loads(report.read_text()) if report.stat().st_size else {}
    finally:
        report.unlink(missing_ok=True)
    if killed:
        data = {"outcome": f"not done after {timeout:g} s: killed", "seconds": wall}
    elif not data:
        last = stderr.strip().splitlines()[-1:] or [f"exit {child.returncode}"]
        data = {"outcome": f"died: {last[0]}", "seconds": wall}
    # ru_maxrss is in KiB on Linux.
    return {**data, "peak_mb": usage.ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per read (default 60)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="RLIMIT_AS of each child (default 4096)")
    parser.add_argument("--quick", action="store_true", help="small large-file cases")
    parser.add_argument("--only", nargs="*", help="cases whose name contains one of these")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pipetune-hostile-") as tmp:
        for i, (name, kind, build) in enumerate(cases(args.quick)):
            if args.only and not any(word in name for word in args.only):
                continue
            folder = Path(tmp) / f"case{i}"
            folder.mkdir()
            path = build(folder)
            size = path.stat().st_size if path.is_file() and not path.is_symlink() else None
            row: dict[str, Any] = {"case": name, "kind": kind, "bytes": size}
            for mode in ("pipetune", "plain"):
                row[mode] = measure(mode, kind, path, args.timeout, args.memory_mb * 2**20)
            rows.append(row)
            _print_row(row)
            if path.is_file() and not path.is_symlink():
                path.unlink()
    OUT.mkdir(exist_ok=True)
    (OUT / "hostile_inputs.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _print_row(row: dict[str, Any]) -> None:
    if not getattr(_print_row, "headed", False):
        print(f"{'CASE':28} {'BYTES':>11}  {'READER':8} {'SECONDS':>8} {'PEAK MB':>8}  OUTCOME")
        _print_row.headed = True  # type: ignore[attr-defined]
    size = f"{row['bytes']:,}" if row["bytes"] is not None else "-"
    for mode in ("pipetune", "plain"):
        m = row[mode]
        outcome = m["outcome"] if len(m["outcome"]) <= 110 else m["outcome"][:107] + "..."
        first = mode == "pipetune"
        print(f"{row['case'] if first else '':28} {size if first else '':>11}  {mode:8} "
              f"{m['seconds']:8.2f} {m['peak_mb']:8.0f}  {outcome}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
