"""The errors pipetune raises, each carrying the exit code the CLI turns it into.

Exit codes follow one rule everywhere: 2 for usage and spec errors (nothing was started),
1 for run failures (something ran and failed).
"""

from __future__ import annotations


class PipetuneError(Exception):
    """Base of every error pipetune reports to a user as one line, without a traceback."""

    exit_code = 1


class UsageError(PipetuneError):
    """A command line that can't be acted on: unknown input, missing input, bad value."""

    exit_code = 2


class SpecError(PipetuneError):
    """A spec file (component.yaml, experiment, catalog index) that is malformed or invalid."""

    exit_code = 2


class ContractError(PipetuneError):
    """A results.yaml that breaks the contract: no apiVersion, a NaN metric, a bad field."""

    exit_code = 1


class SpaceError(SpecError):
    """A search space that can't be searched: min above max, unknown type, nothing to search."""


class RunError(PipetuneError):
    """A run that failed: command not found, non-zero exit, timeout, invalid results."""

    exit_code = 1


class TransientError(PipetuneError):
    """A failure worth retrying (an API conflict, a 5xx): after ``delay`` seconds when the cause
    said how long (a server's ``Retry-After``), else after the caller's own backoff."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
