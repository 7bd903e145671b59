"""What ``pip install pipetune`` gets: every package, the catalog specs and the command.

pyproject.toml lists its packages by hand (the catalog's specs are mapped in from
components/), so a new package or component could silently miss the wheel. These tests read
that list and build a real wheel to check.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "plugin"
PACKAGE = SOURCE / "pipetune"
CATALOG = ROOT / "components"
SPECS = "pipetune/catalog/specs"


def setuptools_config() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["setuptools"]


def source_packages() -> set[str]:
    """Dotted names of every directory under plugin/pipetune holding an __init__.py."""
    return {
        ".".join(init.parent.relative_to(SOURCE).parts)
        for init in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def catalog_folders() -> list[Path]:
    return sorted(p for p in CATALOG.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def test_every_package_is_listed() -> None:
    listed = set(setuptools_config()["packages"])
    missing = sorted(source_packages() - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}"


def test_every_listed_package_exists() -> None:
    config = setuptools_config()
    mapped = {name for name in config.get("package-dir", {}) if name}
    stale = sorted(set(config["packages"]) - source_packages() - mapped)
    assert not stale, f"pyproject.toml lists packages with no source directory: {stale}"
    for name in mapped:
        assert (ROOT / config["package-dir"][name]).is_dir(), f"package-dir {name!r} is missing"


def test_no_python_outside_a_package() -> None:
    """A directory of modules without __init__.py would be a namespace package: never shipped."""
    orphans = sorted(
        str(directory.relative_to(ROOT))
        for directory in {module.parent for module in PACKAGE.rglob("*.py")}
        if "__pycache__" not in directory.parts and not (directory / "__init__.py").is_file()
    )
    assert not orphans, f"modules in directories without __init__.py: {orphans}"


def _can_build_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):  # bdist_wheel moved into setuptools
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    if not _can_build_wheels():
        pytest.skip("building a wheel needs setuptools (and wheel before setuptools 70.1)")
    # Built from a fresh copy of the sources: an in-tree build reuses build/lib, where files
    # deleted from the source tree linger and would be shipped (and it litters the checkout).
    tmp = tmp_path_factory.mktemp("wheel")
    project = tmp / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(SOURCE, project / "plugin", ignore=ignore)
    shutil.copytree(CATALOG, project / "components", ignore=ignore)
    out = tmp / "dist"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-w",
            str(out),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(out.glob("pipetune-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        yield archive


@pytest.mark.slow
def test_wheel_ships_the_catalog(wheel_file: zipfile.ZipFile) -> None:
    names = set(wheel_file.namelist())
    expected = {f"{SPECS}/index.yaml"}
    for folder in catalog_folders():
        expected.add(f"{SPECS}/{folder.name}/component.yaml")
        if (folder / "README.md").is_file():
            expected.add(f"{SPECS}/{folder.name}/README.md")
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks {missing}"
    for name in sorted(expected):
        source = CATALOG / name.removeprefix(f"{SPECS}/")
        assert wheel_file.read(name) == source.read_bytes(), f"{name} differs from {source}"


@pytest.mark.slow
def test_wheel_ships_every_module(wheel_file: zipfile.ZipFile) -> None:
    names = set(wheel_file.namelist())
    modules = {
        str(module.relative_to(SOURCE)).replace("\\", "/")
        for module in PACKAGE.rglob("*.py")
        if "__pycache__" not in module.parts
    }
    missing = sorted(modules - names)
    assert not missing, f"the wheel lacks {missing}"
    strays = sorted(
        name for name in names if not name.startswith(("pipetune/", "pipetune-"))
    )
    assert not strays, f"the wheel ships files outside the pipetune package: {strays}"


@pytest.mark.slow
def test_wheel_declares_the_pipetune_command(wheel_file: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel_file.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel_file.read(entry_points).decode("utf-8"))
    assert parser.has_section("console_scripts"), entry_points
    target = parser.get("console_scripts", "pipetune", fallback=None)
    assert target is not None, dict(parser["console_scripts"])
    module, _, function = target.strip().partition(":")
    # The target is a module or a package (its __init__.py), and it defines the function.
    base = module.replace(".", "/")
    shipped = [name for name in (f"{base}.py", f"{base}/__init__.py") if name in wheel_file.namelist()]
    assert shipped, f"the wheel ships neither {base}.py nor {base}/__init__.py for {target}"
    source = wheel_file.read(shipped[0]).decode("utf-8")
    assert f"def {function}(" in source, target
