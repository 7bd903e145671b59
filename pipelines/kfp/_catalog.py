"""The catalog's components for the example pipelines, loaded from components/ as KFP loads
any v1 component.yaml, and the one way the examples compile themselves."""

from pathlib import Path
from typing import Any, Callable

from pipetune.extras import require

# One line naming the extra when the KFP SDK is missing, not a traceback (exit 2).
require("kfp", "pipelines/kfp")

from kfp import compiler, components  # noqa: E402 - after the check above

ROOT = Path(__file__).resolve().parents[2]


def component(name: str) -> Any:
    """``components/<name>/component.yaml`` as a KFP component factory."""
    return components.load_component_from_file(str(ROOT / "components" / name / "component.yaml"))


def compile_next_to(pipeline: Callable[..., Any], source: str, name: str) -> Path:
    """Compile ``pipeline`` to ``<name>.yaml`` beside ``source`` (the example's .py)."""
    target = Path(source).with_name(f"{name}.yaml")
    compiler.Compiler().compile(pipeline, str(target))
    return target
