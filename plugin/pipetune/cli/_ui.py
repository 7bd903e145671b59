"""``pipetune ui``: serve the dashboard until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from pipetune.errors import UsageError
from pipetune.store import RunStore
from pipetune.tracking import state_dir_line
from pipetune.ui import serve as serve_dashboard


def serve(args: argparse.Namespace) -> int:
    """Listen on ``--host:--port`` and say where; 0 once interrupted."""
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0 to 65535")
    store = RunStore(args.state_dir)

    def ready(url: str) -> None:
        print(f"pipetune ui: {url}  (runs in {state_dir_line(store)}; Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        serve_dashboard(args.state_dir, args.host, args.port, ready)
    except OSError as exc:
        raise UsageError(f"--host {args.host} --port {args.port}: can't listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        print("pipetune ui: stopped", file=sys.stderr)
    return 0
