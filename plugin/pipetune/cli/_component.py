"""``pipetune run``: one component on this machine, retried from its checkpoints after a failure."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from pipetune.cli._common import parse_inputs, record_json, summary
from pipetune.components import load_component
from pipetune.engines.local import LocalEngine
from pipetune.errors import RunError, UsageError
from pipetune.runner import RunEvents, run_with_retries
from pipetune.store import RunRecord, RunStore


def run(args: argparse.Namespace) -> int:
    """Run the component; 0 when it succeeded, ``RunError`` when its last attempt did not."""
    component = load_component(args.component)
    arguments = component.bind(parse_inputs(args.input))
    for item in component.inputs:
        if not item.is_parameter and item.name in arguments:
            path = Path(str(arguments[item.name]))
            if "://" not in str(path):
                if not path.exists():
                    raise UsageError(
                        f"{component.source}: input {item.name!r}: expected an existing path, "
                        f"got {str(path)!r}"
                    )
                arguments[item.name] = str(path.resolve())
    if args.retries < 0:
        raise UsageError(f"--retries: expected 0 or more, got {args.retries}")
    outcome = run_with_retries(
        RunStore(args.state_dir), LocalEngine(), component, arguments,
        retries=args.retries, checkpoints=args.checkpoints, timeout=args.timeout,
        echo=not (args.quiet or args.json), events=_Messages(quiet=args.quiet, json=args.json),
        stop_signals=(signal.SIGINT, signal.SIGTERM),
    )
    record = outcome.record
    if outcome.stopped_by is not None:
        print(f"pipetune: run {record.id} cancelled by {signal.Signals(outcome.stopped_by).name}", file=sys.stderr)
        return 128 + outcome.stopped_by
    if args.json:
        print(json.dumps(record_json(record), indent=2))
    else:
        print(summary(record))
    if record.status != "Succeeded":
        raise RunError(f"run {record.id} {record.status} ({record.reason}): {record.message}")
    return 0


class _Messages(RunEvents):
    """The attempts' progress on stderr; ``--json`` keeps all but the retries off it, as does
    ``--quiet`` for the start of each attempt."""

    def __init__(self, quiet: bool, json: bool) -> None:
        self.quiet = quiet
        self.json = json

    def resuming(self, checkpoint_uri: str) -> None:
        if not self.json:
            print(f"pipetune: resuming from checkpoint {checkpoint_uri}", file=sys.stderr)

    def started(self, record: RunRecord) -> None:
        if not self.quiet and not self.json:
            print(f"run {record.id}: {record.component} started", file=sys.stderr)

    def retrying(self, record: RunRecord, retry: int, retries: int) -> None:
        print(f"pipetune: run {record.id} {record.status} ({record.reason}); retry {retry} of {retries}",
              file=sys.stderr)
