"""Logs that are huge or hostile are read for metrics in bounded memory and linear time
(issue 14): a long line without ``=``, a log of many megabytes, a run still printing.

Nothing here asserts a duration. Where the code before the fix would not finish (a 1 MB line
took hours through Katib's expression, quadratic in its length), the work runs in a child
process whose generous time limit only keeps the suite from hanging.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import DATA, ROOT, SHARED, script_component
from experiment_yaml import categorical, job_experiment
from pipetune.components import load_component
from pipetune.contract import (
    KATIB_DEFAULT_FILTER,
    LogMetrics,
    collect_results,
    results_from_json_lines,
    results_from_log,
)
from pipetune.contract._log import MAX_HISTORY, MAX_METRIC_LINE, MAX_METRIC_NAMES
from pipetune.engines.base import Phase, Reason, RunRequest
from pipetune.engines.local import LocalEngine

#: Far beyond what any case here needs once fixed (each takes well under a second of work).
HANG_GUARD_SECONDS = 300


def _in_child(code: str) -> dict:
    """Run ``code`` in a fresh Python; it prints one JSON object last, returned here."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


# -- lines ---------------------------------------------------------------------------------------


def test_a_1mb_line_without_equals_is_read_past() -> None:
    """Found: 10/20/40 KB lines without ``=`` cost 2.3/8.3/24.8 s (Katib's expression retried
    at every offset of a run of word characters, each retry scanning to its end)."""
    found = _in_child("""
        import json
        from pipetune.contract import results_from_log
        line = "x" * 1_000_000
        words = "word_" * 200_000
        spaced = "a " * 500_000 + "loss"
        results = results_from_log([line, words, "accuracy=0.9", spaced, "loss = 0.25"])
        print(json.dumps(results.metrics))
    """)
    assert found == {"accuracy": 0.9, "loss": 0.25}


def test_a_line_longer_than_the_cap_is_not_a_metric_line(tmp_path: Path) -> None:
    at_cap = "pad " * ((MAX_METRIC_LINE - len("acc=0.5 ")) // 4)
    at_cap = "acc=0.5 " + at_cap + " " * (MAX_METRIC_LINE - len("acc=0.5 ") - len(at_cap))
    assert len(at_cap) == MAX_METRIC_LINE
    lines = [at_cap, "acc=0.7 " + "y" * MAX_METRIC_LINE, "loss=1"]
    assert results_from_log(lines).metrics == {"acc": 0.5, "loss": 1.0}
    # Read from a file the same, however the lines fall across its chunks.
    log = tmp_path / "stdout.log"
    log.write_text("\n".join(lines) + "\n")
    assert LogMetrics().read_file(log).metrics == {"acc": 0.5, "loss": 1.0}


def test_a_long_line_spanning_chunks_is_skipped_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    with open(log, "w") as out:
        out.write("a=1\n")
        out.write("b=2 " * 1_000_000 + "\n")  # 4 MB, many chunks; not read for metrics
        out.write("c=3\r" + "d=4 " * 10_000 + "\re=5")  # \r breaks lines too; no final break
    results = LogMetrics().read_file(log)
    assert results.metrics == {"a": 1.0, "c": 3.0, "d": 4.0, "e": 5.0}
    assert [sorted(entry) for entry in results.history] == [["a"], ["c"], ["d"], ["e"]]


# -- the same results as before, for every log within the bounds ---------------------------------

# Katib's collector is Go: its regexp classes (\w, \d, \s) are ASCII.
_OLD_FILTER = re.compile(KATIB_DEFAULT_FILTER, re.ASCII)


def _old_katib(lines: Sequence[str], names: Sequence[str] | None = None) -> tuple[dict, list] | None:
    """Katib lines as pipetune read them before the fix (the default expression, as is)."""
    history = []
    for line in lines:
        entry = {}
        for match in _OLD_FILTER.finditer(line):
            try:
                value = float(match.group(2))
            except ValueError:
                continue
            if math.isfinite(value):
                entry[match.group(1)] = value
        if entry:
            history.append(entry)
    if names is not None:
        history = [kept for entry in history
                   if (kept := {k: v for k, v in entry.items() if k in names or k == "step"}) and set(kept) != {"step"}]
    if not history:
        return None
    metrics: dict = {}
    for entry in history:
        metrics.update({k: v for k, v in entry.items() if k != "step"})
    return metrics, history


def _pairs(results) -> tuple[list, list] | None:
    if results is None:
        return None
    metrics, history = results if isinstance(results, tuple) else (results.metrics, results.history)
    return list(metrics.items()), [list(entry.items()) for entry in history]


def _corpus() -> list[str]:
    """Every line of the tests' data and the example pipelines, and of the Katib examples."""
    lines = []
    roots = [DATA, ROOT / "pipelines", SHARED / "fixtures" / "katib-v1beta1"]
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file() and path.suffix in {".py", ".yaml", ".txt", ".log", ".json", ".md"}:
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


def test_the_linear_expression_finds_what_katibs_expression_finds() -> None:
    rng = random.Random(14)
    alphabet = [*"ab_|-=  \t.+-eE0123456789x/:,", "\u0663", "é", "\u00a0", "1e5", "=1", "nan", "inf", "step="]
    fuzzed = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(20_000)]
    corpus = _corpus()
    # In batches with fewer distinct names than MAX_METRIC_NAMES, and in short runs of lines.
    batches = [fuzzed[i : i + 200] for i in range(0, len(fuzzed), 200)]
    batches += [corpus[i : i + 5000] for i in range(0, len(corpus), 5000)]
    batches += [fuzzed[i : i + 7] for i in range(0, 2000, 7)]
    for lines in batches:
        for names in (None, ["accuracy", "loss"], ["step"]):
            assert _pairs(results_from_log(lines, names)) == _pairs(_old_katib(lines, names))


# -- bounded results -----------------------------------------------------------------------------


def test_history_is_thinned_evenly_past_its_bound_and_keeps_its_steps() -> None:
    count = 3 * MAX_HISTORY + 5
    results = results_from_log(f"epoch {i}: loss={1 / i}" for i in range(1, count + 1))
    history = results.history
    assert len(history) <= MAX_HISTORY
    assert history[0] == {"step": 1, "loss": 1.0}
    assert history[-1] == {"step": count, "loss": 1 / count}  # the last always kept
    steps = [entry["step"] for entry in history]
    assert steps == sorted(set(steps))
    assert len({b - a for a, b in zip(steps[:-1], steps[1:-1])}) == 1  # evenly spaced
    assert all(entry["loss"] == 1 / entry["step"] for entry in history)
    assert results.metrics == {"loss": 1 / count}
    # Within the bound: every entry, and no step added.
    small = results_from_log(f"loss={i}" for i in range(MAX_HISTORY))
    assert small.history == [{"loss": float(i)} for i in range(MAX_HISTORY)]


def test_reported_steps_survive_thinning() -> None:
    lines = [f'pipetune.report {{"step": {10 * i}, "acc": {i}}}' for i in range(2 * MAX_HISTORY)]
    history = results_from_log(lines).history
    assert len(history) <= MAX_HISTORY
    assert all(entry["step"] == 10 * entry["acc"] for entry in history)


def test_metric_names_are_bounded() -> None:
    lines = [f"m{i}=1" for i in range(3 * MAX_METRIC_NAMES)] + ["m0=2"]
    results = results_from_log(lines)
    assert len(results.metrics) == MAX_METRIC_NAMES
    assert results.metrics["m0"] == 2.0
    records = [json.dumps({f"m{i}": i}) for i in range(3 * MAX_METRIC_NAMES)]
    assert len(results_from_json_lines(records).metrics) == MAX_METRIC_NAMES


# -- runs: a huge log, a run still printing, a concurrent timeout --------------------------------


def test_a_huge_log_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """Found: a trial printing 1 GB ended in 4 s and pipetune read its log for 560 s and grew
    to 2.39 GB: the whole log was read into memory and matched after the trial ended. Here a
    trial prints 80 MB; the run is recorded finished with its metrics, and the peak memory of
    the process that ran it grew far less than the log's size."""
    trial = tmp_path / "print.py"
    trial.write_text(textwrap.dedent("""
        import sys
        line = b"step %d: the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\\n"
        block = b"".join(line % i for i in range(10_000))
        for _ in range(80 * 2**20 // len(block)):
            sys.stdout.buffer.write(block)
        sys.stdout.buffer.write(b"accuracy=0.91 loss=0.2\\n")
    """))
    component = tmp_path / "c" / "component.yaml"
    component.parent.mkdir()
    component.write_text(f"name: big-log\nimplementation:\n  container:\n    image: python:3.11\n"
                         f"    command: [python, {trial}]\n")
    found = _in_child(f"""
        import json, resource
        from pipetune.components import load_component
        from pipetune.engines.local import LocalEngine
        from pipetune.runner import finish_run, start_run
        from pipetune.store import RunStore
        store = RunStore({str(tmp_path / "state")!r})
        engine = LocalEngine()
        component = load_component({str(component)!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = start_run(store, engine, component, {{}}, echo=False)
        record = finish_run(started, engine.wait(started.handle))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        log = store.run_dir(record.id) / "logs" / "stdout.log"
        stored = store.get(record.id)
        print(json.dumps({{"status": stored.status, "metrics": stored.metrics, "log": log.stat().st_size,
                          "grew_kib": after - before}}))
    """)
    assert found["status"] == "Succeeded"
    assert found["metrics"] == {"accuracy": 0.91, "loss": 0.2}
    assert found["log"] > 79 * 2**20
    # Before the fix: about 3 bytes of memory per byte of log (240 MB here).
    assert found["grew_kib"] < 64 * 1024, found


def test_an_echoed_run_printing_one_huge_line_is_copied_in_bounded_memory(tmp_path: Path) -> None:
    """With echo (``pipetune run``) the output is copied to the log and the terminal by pump
    threads, which read a whole line at a time: a 100 MB line without a break was held twice."""
    trial = tmp_path / "line.py"
    trial.write_text("import sys\nsys.stdout.write('y' * 100_000_000 + '\u00e9\\nacc=0.5\\n')\n")
    component = tmp_path / "c" / "component.yaml"
    component.parent.mkdir()
    component.write_text(f"name: line\nimplementation:\n  container:\n    image: python:3.11\n"
                         f"    command: [python, {trial}]\n")
    report = tmp_path / "report.json"
    code = textwrap.dedent(f"""
        import json, resource
        from pathlib import Path
        from pipetune.components import load_component
        from pipetune.engines.base import RunRequest
        from pipetune.engines.local import LocalEngine
        engine = LocalEngine()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = engine.submit(RunRequest(run_id="r", component=load_component({str(component)!r}), arguments={{}},
                                       outputs_dir=Path({str(tmp_path / "run" / "outputs")!r}), echo=True))
        status = engine.wait(run)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        Path({str(report)!r}).write_text(json.dumps({{"phase": status.phase.value, "metrics": engine.results(run).metrics,
                                                    "grew_kib": grew}}))
    """)
    with open(tmp_path / "echoed", "wb") as echoed:
        subprocess.run([sys.executable, "-c", code], stdout=echoed, check=True, timeout=HANG_GUARD_SECONDS)
    found = json.loads(report.read_text())
    assert found["phase"] == "Succeeded" and found["metrics"] == {"acc": 0.5}
    assert found["grew_kib"] < 64 * 1024, found  # before: about 4 bytes per byte of the line
    expected = ("y" * 100_000_000 + "\u00e9\nacc=0.5\n").encode()
    assert (tmp_path / "run" / "logs" / "stdout.log").read_bytes() == expected
    assert (tmp_path / "echoed").read_bytes() == expected


def test_a_running_runs_log_is_read_as_it_grows(tmp_path: Path, write_component) -> None:
    """Polls read the log while the run prints, so its end costs only what it printed last."""
    gate = tmp_path / "go"
    trial = tmp_path / "slow.py"
    trial.write_text(textwrap.dedent(f"""
        import os, sys, time
        for i in range(200_000):
            print(f"epoch {{i}}: loss={{1 / (i + 1)}} and some words to make the line longer")
        sys.stdout.flush()
        open({str(tmp_path / "printed")!r}, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("accuracy=0.5")
    """))
    spec = load_component(write_component(
        f"name: slow\nimplementation:\n  container:\n    image: python:3.11\n    command: [python, {trial}]\n"))
    engine = LocalEngine(grace=1.0)
    run = engine.submit(RunRequest(run_id="r1", component=spec, arguments={},
                                   outputs_dir=tmp_path / "run" / "outputs", echo=False))
    stdout = tmp_path / "run" / "logs" / "stdout.log"
    try:
        for _ in range(100_000):  # until the poller has read all the run printed so far
            assert engine.poll(run).phase is Phase.RUNNING
            if (tmp_path / "printed").exists() and run.progress is not None and run.progress.offset == stdout.stat().st_size:
                break
            engine.wait_any(0.01)
        else:
            pytest.fail("the log of the running run was never read to its end")
        read_while_running = run.progress.offset
        assert read_while_running > 10 * 2**20
    finally:
        gate.touch()
    status = engine.wait(run)
    assert status.phase is Phase.SUCCEEDED
    results = engine.results(run)
    assert results.metrics == {"loss": 1 / 200_000, "accuracy": 0.5}
    assert len(results.history) <= MAX_HISTORY and results.history[-1] == {"step": 200_001, "accuracy": 0.5}
    assert run.log.offset - read_while_running == len("accuracy=0.5\n")  # only the tail at the end


def test_the_tail_of_a_finished_run_is_read_over_several_polls(tmp_path: Path, write_component) -> None:
    """However much is left to read when a run ends, one poll reads for at most
    ``log_read_seconds``; the run stays RUNNING until its log is read."""
    spec = load_component(write_component(script_component("[--print, 'acc=0.25']")))
    engine = LocalEngine(grace=1.0)
    engine.log_read_seconds = 0.0  # one chunk a poll
    run = engine.submit(RunRequest(run_id="r1", component=spec, arguments={},
                                   outputs_dir=tmp_path / "run" / "outputs", echo=False))
    assert run.process is not None
    run.process.wait()
    with open(run.process.stdout_path, "a") as log:  # as if the run had printed it all
        log.write("padding line\n" * 200_000 + "loss=0.5\n")
    polls = 1
    while not engine.poll(run).phase.final:
        polls += 1
    assert polls > 5
    assert engine.results(run).metrics == {"acc": 0.25, "loss": 0.5}


def test_cancelling_a_run_that_ended_while_its_log_is_read_concludes_it(tmp_path: Path, write_component) -> None:
    """A run whose process ended by itself is not cancelled (say, when the experiment reaches
    its goal meanwhile): the rest of its log is read and it is judged as it ended."""
    spec = load_component(write_component(script_component("[--print, 'acc=0.25']")))
    engine = LocalEngine(grace=1.0)
    engine.log_read_seconds = 0.0
    run = engine.submit(RunRequest(run_id="r1", component=spec, arguments={},
                                   outputs_dir=tmp_path / "run" / "outputs", echo=False))
    assert run.process is not None
    run.process.wait()
    with open(run.process.stdout_path, "a") as log:
        log.write("padding line\n" * 200_000 + "loss=0.5\n")
    assert engine.poll(run).phase is Phase.RUNNING
    engine.cancel(run)
    status = engine.poll(run)
    assert status.phase is Phase.SUCCEEDED and status.reason == Reason.COMPLETED
    assert engine.results(run).metrics == {"acc": 0.25, "loss": 0.5}


def test_a_long_line_does_not_hold_up_another_trials_timeout(cli, tmp_path: Path) -> None:
    """Found: a trial printing one 60 KB line held the tuner up long enough that another
    trial's 5 s timeout fired at 56 s. Here one trial prints a 1 MB line and the other sleeps
    past its timeout: the first succeeds with its metric, the second is stopped for its
    timeout (what is asserted is the reason, not when)."""
    trial = tmp_path / "trial.py"
    trial.write_text(textwrap.dedent("""
        import sys, time
        if sys.argv[1] == "long":
            sys.stdout.write("x" * 1_000_000 + "\\n")
            print("loss=0.5", flush=True)
        else:
            time.sleep(60)
    """))
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(job_experiment(["python", str(trial), "${trialParameters.kind}"],
                                         [categorical("kind", ["long", "sleep"])], name="hostile", algorithm="grid",
                                         parallelTrialCount=2, maxTrialCount=2, trialTimeout=3))
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"), "-q", timeout=HANG_GUARD_SECONDS)
    assert result.returncode == 0, result.stderr
    trials = {row["parameters"]["kind"]: row for row in json.loads((tmp_path / "exp" / "trials.json").read_text())}
    assert trials["long"]["status"] == "Succeeded" and trials["long"]["metrics"] == {"loss": 0.5}
    assert trials["sleep"]["status"] == "Failed" and trials["sleep"]["reason"] == Reason.TIMEOUT


def test_results_yaml_with_metrics_spares_reading_the_log(tmp_path: Path) -> None:
    (tmp_path / "results.yaml").write_text("apiVersion: pipetune.dev/v1\nmetrics: {acc: 0.9}\n")

    def unread() -> None:
        raise AssertionError("the log was read")

    assert collect_results(tmp_path, from_log=unread).metrics == {"acc": 0.9}
