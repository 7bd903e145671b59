"""``pipetune catalog check [ROOT]``: the real catalog passes; each kind of breakage is named.

The command runs as a user runs it, in a subprocess. Breakages are made on a copy of the real
catalog (whatever folders it holds), one at a time, and each must give exit 1 and a line that
names the file and the problem, a line the unbroken copy did not print.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "components"
REFERENCE = "train-sklearn"  # the component the breakages are made in


def check(root: Path | str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipetune", "catalog", "check", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or ROOT,
    )


def folders(root: Path) -> list[Path]:
    """The component folders, as the catalog defines them (hidden and ``_`` ones don't count)."""
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The problem lines the unbroken copy prints (none once the catalog is sound)."""
    copy = tmp_path_factory.mktemp("baseline") / "components"
    shutil.copytree(CATALOG, copy)
    result = check(copy)
    return {line.replace(str(copy), "<root>") for line in result.stderr.splitlines()}


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    copy = tmp_path / "components"
    shutil.copytree(CATALOG, copy)
    return copy


def assert_problem(
    result: subprocess.CompletedProcess, root: Path, file: Path, *fragments: str, baseline: set[str]
) -> str:
    """Exit 1 and a stderr line naming ``file`` and holding every fragment; returns the line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(f"{file}:") and all(fragment in line for fragment in fragments)
    ]
    assert lines, f"no line naming {file} and {fragments} in:\n{result.stderr}"
    line = lines[0]
    assert line.replace(str(root), "<root>") not in baseline, (
        f"the unbroken catalog already prints {line!r}; the breakage was not what was detected"
    )
    count = re.search(r"pipetune: catalog check: (\d+) problem\(s\)", result.stderr)
    assert count, result.stderr
    problems = [line for line in result.stderr.splitlines() if not line.startswith("pipetune:")]
    assert int(count.group(1)) == len(problems)
    assert "all valid" not in result.stdout
    return line


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}; update this test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- the real catalog -----------------------------------------------------------------------


def test_real_catalog_passes() -> None:
    result = check(CATALOG)
    assert result.returncode == 0, f"pipetune catalog check {CATALOG} failed:\n{result.stderr}"
    assert result.stderr == ""
    assert f"{len(folders(CATALOG))} component(s), all valid" in result.stdout


def test_default_root_is_components_folder() -> None:
    """Run from a checkout with no argument, the command checks ./components."""
    result = subprocess.run(
        [sys.executable, "-m", "pipetune", "catalog", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("catalog components:")


def test_index_lists_every_folder() -> None:
    index = yaml.safe_load((CATALOG / "index.yaml").read_text(encoding="utf-8"))
    listed = {entry["name"]: entry["path"] for entry in index["components"]}
    assert listed == {f.name: f"{f.name}/component.yaml" for f in folders(CATALOG)}


# --- breakages, one at a time, on a copy --------------------------------------------------


def test_folder_not_in_index(catalog: Path, baseline: set[str]) -> None:
    extra = catalog / "extra-step"
    shutil.copytree(catalog / REFERENCE, extra)
    rewrite(extra / "component.yaml", f"name: {REFERENCE}\n", "name: extra-step\n")

    result = check(catalog)

    assert_problem(
        result, catalog, catalog / "index.yaml", "'extra-step'", "not listed", baseline=baseline
    )


def test_index_entry_without_folder(catalog: Path, baseline: set[str]) -> None:
    index = catalog / "index.yaml"
    with index.open("a", encoding="utf-8") as out:
        out.write("  - name: ghost\n    path: ghost/component.yaml\n")

    result = check(catalog)

    assert_problem(result, catalog, index, "'ghost'", "has no folder", baseline=baseline)


def test_missing_readme(catalog: Path, baseline: set[str]) -> None:
    readme = catalog / REFERENCE / "README.md"
    readme.unlink()

    result = check(catalog)

    assert_problem(result, catalog, readme, "missing", baseline=baseline)


def test_empty_readme(catalog: Path, baseline: set[str]) -> None:
    readme = catalog / REFERENCE / "README.md"
    readme.write_text("  \n", encoding="utf-8")

    result = check(catalog)

    assert_problem(result, catalog, readme, "empty", baseline=baseline)


def test_malformed_yaml(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    lines = spec.read_text(encoding="utf-8").splitlines()
    # A second ': ' on line 2 is a mapping where none may start.
    spec.write_text("\n".join([lines[0], "version: 1: 2", *lines[1:], ""]), encoding="utf-8")

    result = check(catalog)

    line = assert_problem(result, catalog, spec, "malformed YAML", baseline=baseline)
    assert re.search(r"\bline 2\b", line), f"expected the problem's line (2) in {line!r}"


def test_no_container_implementation(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "implementation:\n  container:\n", "implementation:\n  graph:\n")

    result = check(catalog)

    assert_problem(result, catalog, spec, "implementation.container", "missing", baseline=baseline)


def test_name_differs_from_folder(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, f"name: {REFERENCE}\n", "name: train-something-else\n")

    result = check(catalog)

    assert_problem(
        result,
        catalog,
        spec,
        "name:",
        repr(REFERENCE),
        "'train-something-else'",
        baseline=baseline,
    )


def test_placeholder_for_undeclared_input(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "{inputValue: seed}", "{inputValue: sed}")

    result = check(catalog)

    assert_problem(
        result,
        catalog,
        spec,
        "implementation.container.args",
        "'sed' is not a declared input",
        baseline=baseline,
    )


def test_missing_catalog_module(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "pipetune.catalog.train_sklearn", "pipetune.catalog.no_such_step")

    result = check(catalog)

    assert_problem(
        result,
        catalog,
        spec,
        "implementation.container.command",
        "'pipetune.catalog.no_such_step' does not exist",
        baseline=baseline,
    )


def test_component_not_run_through_the_kfp_publisher(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "command: [pipetune, exec, --kfp-executor-input, {executorInput: null}, --, python,",
            "command: [python,")

    result = check(catalog)

    assert_problem(result, catalog, spec, "implementation.container.command",
                   "[pipetune, exec, --kfp-executor-input, {executorInput: null}, --]", baseline=baseline)


def test_component_without_the_metrics_output(catalog: Path, baseline: set[str]) -> None:
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "{name: metrics, type: Metrics,", "{name: scores, type: Metrics,")

    result = check(catalog)

    assert_problem(result, catalog, spec, "outputs: expected {name: metrics, type: Metrics}", baseline=baseline)


def test_unquoted_comma_in_a_description(catalog: Path, baseline: set[str]) -> None:
    """YAML splits `{description: a, b}` into extra keys; KFP then can't load the spec."""
    spec = catalog / REFERENCE / "component.yaml"
    rewrite(spec, "description: Number of trees.}", "description: Number of trees, at least 1.}")

    result = check(catalog)

    assert_problem(result, catalog, spec, "(n_estimators): unknown key 'at least 1.'", baseline=baseline)


def test_every_problem_reported_at_once(catalog: Path, baseline: set[str]) -> None:
    """Two breakages in two files: both are named, not just the first."""
    (catalog / REFERENCE / "README.md").unlink()
    with (catalog / "index.yaml").open("a", encoding="utf-8") as out:
        out.write("  - name: ghost\n    path: ghost/component.yaml\n")

    result = check(catalog)

    assert_problem(result, catalog, catalog / REFERENCE / "README.md", "missing", baseline=baseline)
    assert_problem(result, catalog, catalog / "index.yaml", "'ghost'", baseline=baseline)


# --- the root itself ----------------------------------------------------------------------


def test_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-catalog"

    result = check(missing)

    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "not a directory" in result.stderr
    assert "Traceback" not in result.stderr
