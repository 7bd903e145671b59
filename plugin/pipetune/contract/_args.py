"""The one-call argument parser for component authors, driven by the component's inputs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pipetune.components import ComponentSpec, coerce, load_component
from pipetune.errors import SpecError


def parse_args(
    component: ComponentSpec | str | os.PathLike[str],
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Parse a component's command line into typed values, one attribute per input.

    The convention: each input arrives as ``--<name> VALUE`` and each output path as
    ``--<name> PATH`` (dashes in names become underscores in attributes). Required inputs are
    enforced, declared defaults applied, and a wrong type exits with status 2 and a message
    such as ``argument --n_estimators: expected an Integer, got 'abc'``.
    """
    if isinstance(component, ComponentSpec):
        spec = component
    else:
        try:
            spec = load_component(_beside_caller(component, sys._getframe(1).f_code.co_filename))
        except SpecError as exc:
            usage_error(f"error: {exc}")
    parser = argparse.ArgumentParser(prog=spec.name, description=spec.description or None)
    for item in spec.inputs:
        kwargs: dict[str, Any] = {"help": item.description or None, "dest": _dest(item.name)}
        if item.is_parameter:
            kwargs["type"] = _converter(item.type or "String")
            kwargs["metavar"] = (item.type or "String").upper()
        else:
            kwargs["metavar"] = "PATH"
        if item.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = item.default
        parser.add_argument(f"--{item.name}", **kwargs)
    for output in spec.outputs:
        parser.add_argument(
            f"--{output.name}",
            dest=_dest(output.name),
            metavar="PATH",
            default=None,
            help=output.description or None,
        )
    return parser.parse_args(argv)


def _beside_caller(path: str | os.PathLike[str], caller: str) -> str | os.PathLike[str]:
    """A relative spec path names the file beside the program that calls ``parse_args`` (the
    component's folder), so the program runs the same from any working directory; when no
    such file is there, the path is taken as given."""
    if os.path.isabs(path) or not caller or caller.startswith("<"):
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(caller)), path)
    return beside if os.path.exists(beside) else path


def _dest(name: str) -> str:
    return name.replace("-", "_").replace(" ", "_")


def _converter(type_name: str) -> Any:
    def convert(text: str) -> Any:
        try:
            return coerce(text, type_name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = type_name
    return convert


def usage_error(message: str) -> NoReturn:
    """Stop a component on a bad input value: one line on stderr and exit status 2, the same
    as :func:`parse_args` gives a value of the wrong type."""
    print(message, file=sys.stderr)
    raise SystemExit(2)
