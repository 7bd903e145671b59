"""Optional extras: a program that needs one says which to install, in one line.

``pip install 'pipetune[torch]'`` brings PyTorch for ``train-torch`` and the PyTorchJob bridge's
replicas, ``[kfp]`` the KFP SDK for the pipelines under ``pipelines/kfp``, ``[sklearn]`` (or
``[examples]``) scikit-learn for ``train-sklearn``. Without one, the program stops with exit
status 2 and ``train-torch needs PyTorch, which is not installed: pip install 'pipetune[torch]'``
rather than a traceback ending in ``No module named 'torch'``.
"""

from __future__ import annotations

import importlib.util

from pipetune.contract import usage_error

#: Each extra's import name and what a person calls it.
EXTRAS = {"torch": ("torch", "PyTorch"), "kfp": ("kfp", "the KFP SDK"), "sklearn": ("sklearn", "scikit-learn")}


def missing(extra: str, needed_by: str) -> str | None:
    """The line to show when ``extra`` is not installed (None when it is); looks it up
    without importing it."""
    module, label = EXTRAS[extra]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return f"{needed_by} needs {label}, which is not installed: pip install 'pipetune[{extra}]'"


def require(extra: str, needed_by: str) -> None:
    """Stop the program (exit 2, one line on stderr) when ``extra`` is not installed."""
    message = missing(extra, needed_by)
    if message is not None:
        usage_error(f"error: {message}")
