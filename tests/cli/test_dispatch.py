"""How ``pipetune`` finds a command's code: every command the parser offers runs a handler that
exists, and a command imports only what it uses, so start-up stays quick.

``pipetune run`` starts every component trial, ``pipetune exec`` starts every catalog
component in a container and ``pipetune collect`` runs beside trials in their pods: none may
pay for the Kubernetes client, hyperopt, kopf, matplotlib or kfp, which only other commands
need.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from pipetune.cli import COMMANDS, handler
from pipetune.cli._parser import build_parser

HEAVY = {"kubernetes", "hyperopt", "kopf", "matplotlib", "kfp"}


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command line's words the parser accepts down to a leaf (``("runs", "list")``, ...)."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        yield words
        return
    for group in groups:
        for name, sub in group.choices.items():
            yield from _commands(sub, (*words, name))


def test_every_command_the_parser_offers_runs_a_handler_that_exists() -> None:
    parser = build_parser()
    offered = list(_commands(parser))
    for words in offered:
        # What main reads: the command the leaf parser sets, with a value for each positional.
        args = parser.parse_args([*words, *_positionals(parser, words)])
        assert args.command == " ".join(words), words
        assert callable(handler(args.command)), COMMANDS[args.command]
    assert sorted(" ".join(words) for words in offered) == sorted(COMMANDS)


def _positionals(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> list[str]:
    for word in words:
        (group,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = group.choices[word]
    return [
        "x" for action in parser._actions
        if not action.option_strings and action.nargs not in ("?", "*", argparse.REMAINDER)
        and not isinstance(action, argparse._SubParsersAction)
    ]


def _imported(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``pipetune ARGS`` as a user does; the top-level packages it imported."""
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}  # for exec: not /outputs
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipetune", "--state-dir", str(tmp_path / "state"), *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )
    modules = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "pipetune" in modules, result.stderr[-2000:]
    return result, modules


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--help",), 0),
        (("run", "--help"), 0),
        (("tune", "--help"), 0),
        (("controller", "--help"), 0),
        # The command's own module and everything it needs are loaded before the missing file
        # is noticed.
        (("run", "no-such-component.yaml"), 2),
        (("exec", "--", sys.executable, "-c", "pass"), None),
        # The collector sidecar of every File or TensorFlowEvent trial pod (a process long gone).
        (("collect", "--file", "no-such.log", "--pid", "999999999", "--termination-message-path", ""), 0),
        (("runs", "list"), 0),
        (("checkpoints", "list", "no-such-run"), 2),
        (("catalog", "check", "components"), 0),
    ],
)
def test_a_command_does_not_import_what_only_other_commands_need(
    tmp_path: Path, args: tuple[str, ...], code: int | None
) -> None:
    result, modules = _imported(tmp_path, *args)
    if code is not None:
        assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not modules & HEAVY, f"pipetune {' '.join(args)} imported {sorted(modules & HEAVY)}"


def test_the_tuner_does_not_import_the_controller_or_the_plots(tmp_path: Path) -> None:
    result, modules = _imported(tmp_path, "tune", "no-such-experiment.yaml")
    assert result.returncode == 2, result.stderr[-2000:]
    assert not modules & {"kopf", "matplotlib", "kfp"}, sorted(modules & HEAVY)
