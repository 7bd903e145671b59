"""How a component's image command maps to this machine.

A container image can't run here, so its command runs directly. The local engine runs every
run so, the publisher (``pipetune exec``) runs a component's command so (in an image, where
``python`` is pipetune's interpreter, as on a laptop), and ``pipetune pipeline run`` checks a
pipeline's programs so before anything starts. It sits below all three:

* ``python``, ``python3`` or ``python3.X`` as the program runs this process's interpreter
  (``sys.executable``), so the catalog components, whose image is pipetune's own, run the
  installed package, and any component with a Python entrypoint runs in the current
  environment.
* ``pipetune`` as the program runs this installation's CLI (``python -m pipetune``).
* Any other program runs as itself when it is an existing path or found on ``PATH``.
* Anything else is refused before the run starts (reason ``CommandNotFound``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence

_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")


def local_program(argv: Sequence[str]) -> list[str] | None:
    """``argv`` with its program mapped to this machine, or None if it can't be found."""
    if not argv:
        return None
    program, rest = argv[0], list(argv[1:])
    name = os.path.basename(program)
    if _PYTHON.match(name):
        return [sys.executable, *rest]
    if name == "pipetune":
        return [sys.executable, "-m", "pipetune", *rest]
    if os.sep in program:
        return [program, *rest] if os.access(program, os.X_OK) else None
    found = shutil.which(program)
    return [found, *rest] if found else None


#: Python options that take the next argument as their value.
_PYTHON_VALUE_OPTIONS = ("-W", "-X", "-Q")


def missing_file(argv: Sequence[str], cwd: str | None = None) -> str | None:
    """The file ``argv`` needs that is not on this machine, or None: its program, given as a
    path, or the script a Python program runs (``python3 /opt/app/train.py``): an image's
    files, which don't exist outside it. A relative path is taken from ``cwd`` (default: here).
    ``python -m``/``-c`` and bare program names (looked up on ``PATH``) are not checked."""
    if not argv:
        return None
    program = argv[0]
    if not _PYTHON.match(os.path.basename(program)):
        return program if os.sep in program and not os.path.exists(_at(program, cwd)) else None
    rest = iter(argv[1:])
    for item in rest:
        if item in ("-m", "-c", "-") or item.startswith(("-m", "-c")) and not item.startswith("--"):
            return None
        if item in _PYTHON_VALUE_OPTIONS:
            next(rest, None)
            continue
        if item.startswith("-"):
            continue
        return None if os.path.exists(_at(item, cwd)) else item
    return None


def _at(path: str, cwd: str | None) -> str:
    return os.path.join(cwd, path) if cwd and not os.path.isabs(path) else path
