"""The type checker and the linter, as tests, so the one test command CI runs runs them too.
Their configuration is pyproject.toml's ([tool.mypy], [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_mypy_finds_no_type_errors_in_the_package() -> None:
    result = _run("mypy", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing_in_the_package_tests_and_benchmarks() -> None:
    result = _run("ruff", "check", "--no-cache", "plugin", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
