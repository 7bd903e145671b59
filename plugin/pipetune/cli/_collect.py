"""``pipetune collect``: the metrics collector sidecar of a trial's pod
(``pipetune.contract.run_collector``). It imports the contract and nothing more: it runs in
every trial pod with a File or TensorFlowEvent collector."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from pathlib import Path

from pipetune.contract import collector_metrics, run_collector
from pipetune.errors import RunError, UsageError
from pipetune.publisher import KUBERNETES_TERMINATION_LOG


def collect(args: argparse.Namespace) -> int:
    """Collect until the primary ends or SIGTERM comes; 0 once the results are written."""
    if not (args.file or args.tfevents):
        raise UsageError("collect: expected --file PATH (a metrics file) or --tfevents DIR (an event folder)")
    for expression in args.filter:
        try:
            groups = re.compile(expression).groups
        except re.error as exc:
            raise UsageError(f"collect: --filter {expression!r}: not a valid regular expression: {exc}") from None
        if groups < 2:
            raise UsageError(f"collect: --filter {expression!r}: expected two groups (name, value), got {groups}")
    if args.filter and (args.tfevents or args.file_format == "JSON"):
        raise UsageError("collect: --filter: expected only with --file in TEXT format")
    if args.grace < 0:
        raise UsageError(f"collect: --grace: expected seconds >= 0, got {args.grace}")
    if args.termination_message_path is None:
        default = Path(KUBERNETES_TERMINATION_LOG)
        target: Path | None = default if default.exists() else None
    else:
        target = Path(args.termination_message_path) if args.termination_message_path else None
    log_metrics = collector_metrics(args.file, args.tfevents, args.file_format, args.filter, args.metric)
    stop = threading.Event()
    # The pod is being deleted (the trial stopped early, or cancelled): end now with what is read.
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        results = run_collector(log_metrics, sys.stdout, termination_path=target, pids=args.pid,
                                interval=args.interval, grace=args.grace, stop=stop)
    except OSError as exc:
        raise RunError(f"collect: could not write the results to {exc.filename or target}: "
                       f"{exc.strerror or exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if results is None:
        # On stderr, which the pod's log merges: words only, nothing a metrics reader takes.
        print(f"pipetune collect: no metrics in {args.file or args.tfevents}", file=sys.stderr)
    return 0
