"""The tuner: search spaces, algorithms, early stopping, the journal and the ask/tell loop."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

#: hyperopt's modules that ``import hyperopt`` loads and that pipetune defers to first use, with
#: what each would load at once: ATPE ``scipy.stats`` (about 1.6 s), TPE ``scipy.special``
#: (some 25 MiB of memory; only a hyperopt expression space's model trials use it).
DEFERRED_HYPEROPT_MODULES = ("atpe", "tpe")


def _defer_hyperopt_modules() -> None:
    """Load ``hyperopt.atpe`` and ``hyperopt.tpe`` only if something uses them.

    ``import hyperopt`` imports every algorithm module: ATPE's imports ``scipy.stats``, 1.6 of
    the 2.0 seconds the import takes here, paid by every tuner before its first suggestion, and
    TPE's ``scipy.special``, a quarter of a tuning process's memory, which the default needs only
    for hyperopt expression spaces. So a stand-in module is registered for each first; the
    package binds it as usual, and the first attribute anyone reads from it loads the real
    module in its place (PEP 562 ``__getattr__``), whose names the stand-in then holds too (a
    module that bound the stand-in reads them directly from then on). The standard library's
    ``LazyLoader`` can't do this: the import system reads ``__spec__``, which makes it load at
    once.
    """
    if "hyperopt" in sys.modules:
        return
    package = importlib.util.find_spec("hyperopt")  # a top-level lookup: imports nothing
    if package is None or not package.submodule_search_locations:
        return
    location = list(package.submodule_search_locations)[0]
    for name in DEFERRED_HYPEROPT_MODULES:
        if f"hyperopt.{name}" not in sys.modules:
            sys.modules[f"hyperopt.{name}"] = _stand_in(name, location)


def _stand_in(name: str, location: str) -> types.ModuleType:
    full = f"hyperopt.{name}"
    stand_in = types.ModuleType(full, f"{full}, loaded on first use (pipetune.tuner)")
    loaded: list[types.ModuleType] = []

    def load(attribute: str) -> Any:
        if not loaded:
            spec = importlib.util.spec_from_file_location(full, f"{location}/{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[full] = module
            spec.loader.exec_module(module)
            parent = sys.modules.get("hyperopt")
            if parent is not None:
                setattr(parent, name, module)
            loaded.append(module)
            stand_in.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        return getattr(loaded[0], attribute)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    return stand_in


_defer_hyperopt_modules()
