"""``pipetune ui``: serve the dashboard until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pipetune.ui
from pipetune.errors import UsageError
from pipetune.store import RunStore
from pipetune.tracking import LocalSource, Source, state_dir_line


def serve(args: argparse.Namespace) -> int:
    """Listen on ``--host:--port`` and say where; 0 once interrupted."""
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0 to 65535")
    engine = getattr(args, "engine", "local")
    roots = getattr(args, "artifact_root", None) or []
    if engine != "kubernetes" and (getattr(args, "namespace", None) or getattr(args, "context", None) or roots):
        raise UsageError("--namespace, --context and --artifact-root are for --engine kubernetes")
    for root in roots:
        if not Path(root).is_dir():
            raise UsageError(f"--artifact-root {root}: expected an existing folder")
    source: Source
    close: Callable[[], None] | None = None
    if engine == "kubernetes":
        cluster = pipetune.ui.connect(args.namespace, args.context, roots)
        source, shown, close = cluster, cluster.where, cluster.close
    else:
        source, shown = LocalSource(args.state_dir), f"runs in {state_dir_line(RunStore(args.state_dir))}"

    def ready(url: str) -> None:
        print(f"pipetune ui: {url}  ({shown}; read-only; Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        pipetune.ui.serve(source, args.host, args.port, ready)
    except OSError as exc:
        raise UsageError(f"--host {args.host} --port {args.port}: can't listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        print("pipetune ui: stopped", file=sys.stderr)
    finally:
        if close is not None:
            close()
    return 0
