"""``pipetune exec``: inside a container, run a command and publish its results.yaml.

Every catalog component's command starts with it, so this module imports the publisher and
nothing more.
"""

from __future__ import annotations

import argparse

from pipetune.publisher import main_exec


def execute(args: argparse.Namespace) -> int:
    """Run ``CMD`` (what follows ``--``) under the publisher; its exit code."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return main_exec(cmd, args.termination_message_path, args.kfp_executor_input)
