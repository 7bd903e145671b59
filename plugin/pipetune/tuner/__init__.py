"""The tuner: search spaces, algorithms, early stopping, the journal and the ask/tell loop."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any


def _defer_hyperopt_atpe() -> None:
    """Load ``hyperopt.atpe`` only if something uses it.

    ``import hyperopt`` imports every algorithm module, and ATPE's imports ``scipy.stats``:
    1.6 of the 2.0 seconds the import takes here, paid by every tuner before its first
    suggestion. pipetune never uses ATPE, so a stand-in module is registered first; the
    package binds it as usual, and the first attribute anyone reads from it loads the real
    module in its place (PEP 562 ``__getattr__``). The standard library's ``LazyLoader`` can't
    do this: the import system reads ``__spec__``, which makes it load at once.
    """
    if "hyperopt" in sys.modules or "hyperopt.atpe" in sys.modules:
        return
    package = importlib.util.find_spec("hyperopt")  # a top-level lookup: imports nothing
    if package is None or not package.submodule_search_locations:
        return
    locations = list(package.submodule_search_locations)
    stand_in = types.ModuleType("hyperopt.atpe", "hyperopt.atpe, loaded on first use (pipetune.tuner)")

    def load(name: str) -> Any:
        spec = importlib.util.spec_from_file_location("hyperopt.atpe", f"{locations[0]}/atpe.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["hyperopt.atpe"] = module
        spec.loader.exec_module(module)
        parent = sys.modules.get("hyperopt")
        if parent is not None:
            parent.atpe = module  # type: ignore[attr-defined]
        return getattr(module, name)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules["hyperopt.atpe"] = stand_in


_defer_hyperopt_atpe()
