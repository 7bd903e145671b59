"""``pipetune completion SHELL``: a completion script, generated from the parser by shtab."""

from __future__ import annotations

import argparse

import shtab

from pipetune.cli._parser import build_parser
from pipetune.errors import UsageError

SHELLS = ("bash", "zsh", "tcsh")


def completion(args: argparse.Namespace) -> int:
    """Print the script for ``args.shell``."""
    if args.shell not in SHELLS:
        raise UsageError(f"completion: shell {args.shell!r}: expected one of {', '.join(SHELLS)}")
    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
