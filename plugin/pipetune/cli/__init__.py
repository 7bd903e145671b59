"""The ``pipetune`` command: flags and human-facing output. The work happens elsewhere.

``_parser`` holds every command's flags; each command runs in its own module, named in
``COMMANDS``; ``_common`` has what they share.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from pipetune.cli._parser import build_parser
from pipetune.cli._signals import Terminated
from pipetune.errors import PipetuneError

#: A command's entry point: the parsed flags in, the exit code out.
Handler = Callable[[argparse.Namespace], int]

#: Each command (the ``command`` its parser sets) and the ``module:function`` that runs it. The
#: module is imported by name only when its command runs: `pipetune --help` should answer at
#: once and `pipetune run` starts every component trial, so no command pays for another's
#: imports (the Kubernetes client, hyperopt, kopf, matplotlib, kfp).
COMMANDS: dict[str, str] = {
    "run": "pipetune.cli._component:run",
    "exec": "pipetune.cli._exec:execute",
    "step": "pipetune.cli._step:step",
    "tune": "pipetune.cli._tune:tune",
    "plot": "pipetune.cli._plot:plot",
    "runs list": "pipetune.cli._runs:list_runs",
    "runs show": "pipetune.cli._runs:show_run",
    "checkpoints list": "pipetune.cli._checkpoints:list_checkpoints",
    "checkpoints gc": "pipetune.cli._checkpoints:collect",
    "catalog check": "pipetune.cli._catalog:check",
    "catalog generate": "pipetune.cli._catalog:generate",
    "pipeline run": "pipetune.cli._pipeline:run",
    "controller": "pipetune.cli._controller:controller",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 run failure, 2 usage or spec error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: str | None = getattr(args, "command", None)
    if command is None:
        # `pipetune` alone, or a group without its subcommand (`pipetune runs`): that one's help.
        usage: argparse.ArgumentParser = getattr(args, "usage", parser)
        usage.print_help(sys.stderr)
        return 2
    try:
        return int(handler(command)(args) or 0)
    except PipetuneError as exc:
        print(f"pipetune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("pipetune: terminated", file=sys.stderr)
        return Terminated.exit_code
    except KeyboardInterrupt:
        print("pipetune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `pipetune runs list | head`: the reader left; that's not an error.
        sys.stderr.close()
        return 0


def handler(command: str) -> Handler:
    """The function that runs ``command`` (a key of ``COMMANDS``), its module imported now."""
    module, _, name = COMMANDS[command].partition(":")
    return cast(Handler, getattr(importlib.import_module(module), name))


__all__ = ["COMMANDS", "Handler", "handler", "main"]
