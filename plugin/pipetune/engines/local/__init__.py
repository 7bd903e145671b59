"""The local engine: runs as process groups on this machine (the default engine)."""

from pipetune.engines.local._engine import LocalEngine, LocalRun, output_paths
from pipetune.engines.local._function import FunctionEngine, FunctionRun
from pipetune.engines.local._images import local_program

__all__ = [
    "FunctionEngine",
    "FunctionRun",
    "LocalEngine",
    "LocalRun",
    "local_program",
    "output_paths",
]
