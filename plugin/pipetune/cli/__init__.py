"""The ``pipetune`` command: flags and human-facing output. The work happens elsewhere.

``_parser`` holds every command's flags; each command runs in its own module, named in
``COMMANDS``; ``_common`` has what they share.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from pipetune.cli._parser import build_parser
from pipetune.cli._signals import Terminated
from pipetune.errors import PipetuneError

#: Commands that record runs: the first of them in a state directory says where it is.
RECORDING = frozenset({"run", "tune", "pipeline run"})

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
    "collect": "pipetune.cli._collect:collect",
    "tune": "pipetune.cli._tune:tune",
    "plot": "pipetune.cli._plot:plot",
    "runs list": "pipetune.cli._runs:list_runs",
    "runs show": "pipetune.cli._runs:show_run",
    "runs delete": "pipetune.cli._runs:delete_runs",
    "runs gc": "pipetune.cli._runs:collect",
    "runs check": "pipetune.cli._runs:check_store",
    "experiments list": "pipetune.cli._experiments:list_experiments",
    "experiments show": "pipetune.cli._experiments:show_experiment",
    "experiments delete": "pipetune.cli._experiments:delete_experiment",
    "ui": "pipetune.cli._ui:serve",
    "completion": "pipetune.cli._completion:completion",
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
    if args.verbose or args.quiet:
        _logging(args.verbose, args.quiet)
    if command in RECORDING and not args.quiet and sys.stderr.isatty():
        _first_run_notice(args.state_dir)
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


def _logging(verbose: int, quiet: bool) -> None:
    """``-v`` info, ``-vv`` debug, ``-q`` errors only. Without either, logging is left as a
    command sets it (the controller logs at info)."""
    level = logging.ERROR if quiet else max(logging.DEBUG, logging.WARNING - 10 * verbose)
    logging.basicConfig(level=level, format="pipetune: %(levelname)s: %(name)s: %(message)s")
    logging.getLogger("pipetune").setLevel(level)


def _first_run_notice(state_dir: str) -> None:
    """A store is about to be made: say where, since it follows the working directory. Only to a
    person at a terminal: a script's stderr stays one line per error."""
    if (Path(state_dir) / "runs.db").exists():
        return
    print(
        f"pipetune: recording runs in a new state directory {Path(state_dir).absolute()} "
        "(--state-dir or $PIPETUNE_STATE_DIR chooses another)",
        file=sys.stderr,
    )


def handler(command: str) -> Handler:
    """The function that runs ``command`` (a key of ``COMMANDS``), its module imported now."""
    module, _, name = COMMANDS[command].partition(":")
    return cast(Handler, getattr(importlib.import_module(module), name))


__all__ = ["COMMANDS", "RECORDING", "Handler", "handler", "main"]
