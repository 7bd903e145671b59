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
