"""The metrics collector sidecar (``pipetune collect``): Katib's File and TensorFlowEvent
collectors for a pod, where the trial's files are out of the engine's reach.

Katib injects a collector container beside a trial's primary container; pipetune does the
same (``pipetune.kinds.add_metrics_collector``). The sidecar shares the folder the trial
writes its metrics file or event files in (an ``emptyDir``) and the pod's process namespace
(``shareProcessNamespace``), and:

* reads the metrics as they grow, with the reader the local engine uses
  (``follow_collector``: ``LogFollower`` for a TEXT or JSON file, ``TFEventReader`` for event
  files), never a parser of its own;
* prints each new history entry on its stdout as a ``pipetune.report {...}`` line, the line
  the Kubernetes engine already reads from a running pod's log for early stopping
  (``intermediate``); for event files the newest step is held back until a later step
  appears or the trial ends (a step's values may come from several files; one written to a
  file after a later step reached another is missing from that step's printed line, which
  is progress only: the final results have it);
* once the primary's processes have ended, reads the rest and writes the final results as a
  results document to its termination message (the channel the engine reads a container's
  results from), history included when the document fits in the kubelet's 4096 bytes, else
  the metrics alone (the engine then takes the history from the printed lines), and exits 0:
  the sidecar must end for the pod to complete, and its own exit code must not fail the pod.

When has the primary ended? With ``pids`` given, when those processes are gone (or zombies).
Otherwise, as Katib's collector does with ``waitAllProcesses``, when no process is left in
the pod's PID namespace but PID 1 (the pod's pause container), this process, its ancestors
(a shell that started it) and its descendants. A pod whose other processes are not yet (or no
longer) there when the sidecar starts is given ``grace`` seconds for one to show up.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pipetune.atomic import atomic_write_text
from pipetune.contract._collect import follow_collector
from pipetune.contract._log import LogMetrics
from pipetune.contract._report import REPORT_PREFIX
from pipetune.contract._results import CHANNEL_LIMIT_BYTES, Results

#: Seconds between two looks at the metrics and the processes, by default (Katib's: 1 s).
LOOK_SECONDS = 1.0
#: Seconds the sidecar waits for another process to show up before it reads what is there.
START_GRACE_SECONDS = 10.0


def collector_argv(log_metrics: LogMetrics) -> list[str]:
    """The ``pipetune collect`` arguments that read what ``log_metrics`` says (a metrics file
    or an event folder, as the trial's container sees it); :func:`collector_metrics` reads
    them back. ``ValueError`` when it names neither."""
    argv = ["collect"]
    for name in log_metrics.names or ():
        argv += ["--metric", name]
    if log_metrics.tfevents:
        return [*argv, "--tfevents", log_metrics.tfevents]
    if not log_metrics.file:
        raise ValueError("collector_argv: expected a metrics file or an event folder to read")
    argv += ["--file", log_metrics.file, "--format", "JSON" if log_metrics.json else "TEXT"]
    for expression in log_metrics.filters or ():
        argv += ["--filter", expression]
    return argv


def collector_metrics(
    file: str | None, tfevents: str | None, file_format: str, filters: Sequence[str], names: Sequence[str]
) -> LogMetrics:
    """How the sidecar reads: the ``LogMetrics`` that :func:`collector_argv` was made from."""
    return LogMetrics(
        names=tuple(names) or None,
        filters=tuple(filters) or None,
        file=file,
        json=file_format == "JSON",
        tfevents=tfevents,
    )


# -- the pod's processes -------------------------------------------------------------------------


def process_table(proc: str | os.PathLike[str] = "/proc") -> dict[int, tuple[int, str]]:
    """Every live process under ``proc``: pid -> (parent pid, state letter). A process that
    ends while it is read is left out."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat"), "rb") as handle:
                stat = handle.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ")" ends it.
        fields = stat[stat.rfind(")") + 1 :].split()
        if len(fields) >= 2 and fields[1].lstrip("-").isdigit():
            table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def others(table: Mapping[int, tuple[int, str]], me: int) -> set[int]:
    """The processes of ``table`` (pid -> (parent, state)) that are neither PID 1, ``me``, an
    ancestor of ``me`` nor a descendant of it, zombies left out: the other containers' work."""
    mine = {me}
    pid = me
    while pid in table and table[pid][0] not in (0, pid) and table[pid][0] not in mine:
        pid = table[pid][0]
        mine.add(pid)
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    stack = [me]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in mine:
                mine.add(child)
                stack.append(child)
    return {pid for pid, (_, state) in table.items() if pid != 1 and pid not in mine and state != "Z"}


def pids_alive(pids: Collection[int], proc: str | os.PathLike[str] = "/proc") -> bool:
    """Whether any of ``pids`` still runs (a zombie has ended: it only waits to be reaped)."""
    table = process_table(proc)
    return any(pid in table and table[pid][1] != "Z" for pid in pids)


# -- the collector ---------------------------------------------------------------------------------


class _Printer:
    """Prints a growing history's new entries as ``pipetune.report`` lines, each once.

    A history that was thinned (past ``MAX_HISTORY`` entries it is shorter than before) is
    followed on from its new end. ``hold_last``: the newest entry is printed only once a newer
    one is there, or at the end (a TensorFlow step may still get values from another file).
    """

    def __init__(self, out: TextIO, hold_last: bool) -> None:
        self.out = out
        self.hold_last = hold_last
        self.printed = 0

    def show(self, results: Results | None, final: bool = False) -> None:
        history = results.history if results is not None else []
        self.printed = min(self.printed, len(history))
        end = len(history) if final or not self.hold_last else max(self.printed, len(history) - 1)
        lines = [REPORT_PREFIX + json.dumps(entry) + "\n" for entry in history[self.printed : end]]
        if lines:
            self.out.write("".join(lines))
            self.out.flush()
        self.printed = end


def termination_text(results: Results) -> str:
    """The final results as the termination message holds them: the whole document when it
    fits the kubelet's limit, else the metrics alone (the history is in the printed lines)."""
    # results.yaml holds whole steps; an event file's step is read as a float.
    history = [{k: int(v) if k == "step" and float(v).is_integer() else v for k, v in entry.items()}
               for entry in results.history]
    text = Results(metrics=dict(results.metrics), history=history).to_yaml()
    if len(text.encode("utf-8")) < CHANNEL_LIMIT_BYTES:
        return text
    return Results(metrics=dict(results.metrics)).to_yaml()


def run_collector(
    log_metrics: LogMetrics,
    out: TextIO,
    *,
    termination_path: str | os.PathLike[str] | None,
    pids: Collection[int] = (),
    interval: float = LOOK_SECONDS,
    grace: float = START_GRACE_SECONDS,
    stop: threading.Event | None = None,
    running: Callable[[], bool] | None = None,
) -> Results | None:
    """Collect until the primary has ended (see the module docstring) or ``stop`` is set (the
    pod is being deleted); the final results, also written to ``termination_path``.

    ``running`` replaces the look at the processes (for tests of the loop itself)."""
    stop = stop or threading.Event()
    me = os.getpid()
    if running is None:
        running = (lambda: pids_alive(pids)) if pids else (lambda: bool(others(process_table(), me)))
    follower = follow_collector(log_metrics, log_metrics.file or "")
    printer = _Printer(out, hold_last=bool(log_metrics.tfevents))
    # Explicit processes were there when they were named: no grace for them to show up.
    seen = bool(pids)
    started = time.monotonic()
    while True:
        follower.advance(deadline=time.monotonic() + max(interval, 0.05))
        printer.show(follower.results())
        if running():
            seen = True
        elif seen or time.monotonic() - started >= grace:
            break
        if stop.wait(interval):
            break
    results = follower.finish()
    printer.show(results, final=True)
    if termination_path is not None and results is not None:
        atomic_write_text(Path(termination_path), termination_text(results))
    return results
