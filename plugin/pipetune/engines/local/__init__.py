"""The local engine: runs as process groups on this machine (the default engine).

``local_program`` (how an image's command maps to this machine) lives in ``pipetune.programs``
and is re-exported here, where it used to be."""

from pipetune.engines.local._engine import LocalEngine, LocalRun, output_paths
from pipetune.engines.local._function import FunctionEngine, FunctionRun
from pipetune.programs import local_program

__all__ = [
    "FunctionEngine",
    "FunctionRun",
    "LocalEngine",
    "LocalRun",
    "local_program",
    "output_paths",
]
