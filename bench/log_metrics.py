"""How long reading a run's log for metrics takes, and how much memory, before and after the
fix of issue 14: logs of 10/100/1000 MB, and one-line logs of 10 KB to 1 MB without ``=``.

    python bench/log_metrics.py                 # every case, 3 repeats (several minutes: old is slow)
    python bench/log_metrics.py --quick         # 10 and 100 MB, lines up to 100 KB, 1 repeat
    python bench/log_metrics.py --sizes 100 --lines 40000 --repeats 5 --timeout 60

Each measurement is one child process reading one log file and reporting its own time and
peak RSS (``ru_maxrss``; a child that only imports and reads an empty log is the baseline row).
``old`` is the algorithm before the fix, copied below: the whole file read and split into
lines, every line matched with Katib's expression as is. ``new`` is ``LogMetrics.read_file``,
what the local engine does (chunks, the line cap, the linear expression, bounded results). A
run still going at ``--timeout`` seconds, or out of the ``--memory`` it may take, is stopped
and shown as ``>N`` seconds (no memory figure). Medians over
``--repeats``; the table goes to stdout, the figures to ``bench/out/log_metrics.json``.

Log kinds: ``text`` is lines of words without ``=`` (and one metric line at the end), ``metrics``
is every line an ``epoch N: loss=... accuracy=...`` line, ``line`` is one line of ``x`` without
``=``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "log_metrics.json"

# -- the algorithm before the fix (pipetune/contract/_log.py and _collect.read_log) -------------

OLD_REPORT_PREFIX = "pipetune.report "
OLD_KATIB_DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def old_read_log(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def old_results_from_log(lines: list[str]) -> dict[str, float] | None:
    reports = []
    for line in lines:
        start = line.find(OLD_REPORT_PREFIX)
        if start < 0:
            continue
        try:
            entry = json.loads(line[start + len(OLD_REPORT_PREFIX) :])
        except ValueError:
            continue
        if isinstance(entry, dict):
            clean = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and math.isfinite(v)}
            if clean:
                reports.append(clean)
    history = reports
    if not reports:
        pattern = re.compile(OLD_KATIB_DEFAULT_FILTER)
        for line in lines:
            found: dict[str, float] = {}
            for match in pattern.finditer(line):
                try:
                    value = float(match.group(2))
                except ValueError:
                    continue
                if math.isfinite(value):
                    found[match.group(1)] = value
            if found:
                history.append(found)
    if not history:
        return None
    metrics: dict[str, float] = {}
    for entry in history:
        metrics.update({k: v for k, v in entry.items() if k != "step"})
    return metrics


# -- one measurement, in a child -----------------------------------------------------------------


def child(algorithm: str, path: Path, memory_limit_mb: int) -> None:
    from pipetune.contract import LogMetrics

    if memory_limit_mb:
        limit = memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = time.perf_counter()
    try:
        if algorithm == "old":
            metrics = old_results_from_log(old_read_log(path))
        else:
            results = LogMetrics().read_file(path)
            metrics = None if results is None else results.metrics
    except MemoryError:
        print(json.dumps({"memory_error": True}))
        return
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    names = sorted(metrics or {})
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "metrics": {k: metrics[k] for k in names[:3]} if metrics else None}))


def measure(algorithm: str, path: Path, timeout: float, memory_limit_mb: int) -> dict | None:
    """The child's figures; None when it ran past ``timeout`` or out of memory."""
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", algorithm, str(path), str(memory_limit_mb)],
            capture_output=True, text=True, timeout=timeout, check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    found = json.loads(done.stdout.splitlines()[-1])
    return None if found.get("memory_error") else found


# -- the logs ------------------------------------------------------------------------------------


def write_text_log(path: Path, megabytes: int) -> None:
    line = b"step %d: the quick brown fox jumps over the lazy dog, tokens 0123456789 abcdefghij\n"
    block = b"".join(line % i for i in range(10_000))
    with open(path, "wb") as out:
        for _ in range(max(1, megabytes * 2**20 // len(block))):
            out.write(block)
        out.write(b"accuracy=0.91 loss=0.2\n")


def write_metrics_log(path: Path, megabytes: int) -> None:
    with open(path, "w") as out:
        i, written, limit = 0, 0, megabytes * 2**20
        while written < limit:
            block = "".join(f"epoch {j}: loss={1 / (j + 1):.6f} accuracy=0.{j % 1000:03d}\n" for j in range(i, i + 10_000))
            out.write(block)
            written += len(block)
            i += 10_000


def write_line_log(path: Path, length: int) -> None:
    path.write_text("x" * length + "\naccuracy=0.91\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("ALGORITHM", "PATH", "LIMIT"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000], help="log sizes in MB")
    parser.add_argument("--lines", type=int, nargs="*", default=[10_000, 20_000, 40_000, 100_000, 1_000_000],
                        help="lengths of the one long line, in characters")
    parser.add_argument("--kinds", nargs="*", default=["text", "metrics"], choices=["text", "metrics"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is stopped")
    parser.add_argument("--memory", type=int, default=4096,
                        help="MB of address space a child may take (RLIMIT_AS; 0: no limit); past it, a run "
                             "is shown as out of time or memory")
    parser.add_argument("--quick", action="store_true", help="10 and 100 MB, lines to 100 KB, 1 repeat")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    if args.quick:
        args.sizes, args.repeats = [10, 100], 1
        args.lines = [n for n in args.lines if n <= 100_000]
    rows = []
    with tempfile.TemporaryDirectory(prefix="log-metrics-") as folder:
        cases: list[tuple[str, Path]] = []
        empty = Path(folder) / "empty.log"
        empty.write_text("")
        cases.append(("baseline (empty log)", empty))
        for kind in args.kinds:
            for size in args.sizes:
                path = Path(folder) / f"{kind}-{size}.log"
                (write_text_log if kind == "text" else write_metrics_log)(path, size)
                cases.append((f"{kind} {size} MB", path))
        for length in args.lines:
            path = Path(folder) / f"line-{length}.log"
            write_line_log(path, length)
            cases.append((f"line {length // 1000} KB" if length < 10**6 else f"line {length // 10**6} MB", path))
        for name, path in cases:
            row: dict = {"case": name, "bytes": path.stat().st_size}
            for algorithm in ("old", "new"):
                runs = []
                for _ in range(args.repeats):
                    found = measure(algorithm, path, args.timeout, args.memory)
                    if found is None:
                        runs = []
                        break  # one run past the limit: the others would be too
                    runs.append(found)
                row[algorithm] = {
                    "seconds": statistics.median(r["seconds"] for r in runs) if runs else None,
                    "peak_mb": statistics.median(r["peak_mb"] for r in runs) if runs else None,
                    "metrics": runs[0]["metrics"] if runs else None,
                }
            old, new = row["old"], row["new"]
            row["same_metrics"] = None if old["seconds"] is None else old["metrics"] == new["metrics"]
            rows.append(row)
            if len(rows) == 1:
                print(_header())
            print(_line(row, args.timeout), flush=True)
            path.unlink()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"repeats": args.repeats, "timeout": args.timeout, "rows": rows}, indent=2) + "\n")


def _header() -> str:
    return (f"{'case':<22} {'old s':>9} {'old MB':>8} {'new s':>9} {'new MB':>8} {'speed-up':>9}  same\n"
            + "-" * 75)


def _line(row: dict, timeout: float) -> str:
    old, new = row["old"], row["new"]

    def seconds(value: float | None) -> str:
        return f">{timeout:g}" if value is None else f"{value:.3g}"

    def mb(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    if new["seconds"] is None or new["seconds"] < 1e-5 or (old["seconds"] or timeout) < 1e-3:
        ratio = "-"  # nothing to compare, or too little to measure
    elif old["seconds"] is None:
        ratio = f">{timeout / new['seconds']:.0f}x"
    else:
        ratio = f"{old['seconds'] / new['seconds']:.0f}x"
    same = {None: "-", True: "yes", False: "NO"}[row["same_metrics"]]
    return (f"{row['case']:<22} {seconds(old['seconds']):>9} {mb(old['peak_mb']):>8} "
            f"{seconds(new['seconds']):>9} {mb(new['peak_mb']):>8} {ratio:>9}  {same}")


if __name__ == "__main__":
    main()
