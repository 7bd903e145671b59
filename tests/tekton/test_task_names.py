"""`pipetune catalog check` and `catalog generate` hold a component to Tekton's name rules:
the generated Task's params and results are named from the component's inputs and outputs,
and a name Tekton rejects is refused with the rule, before any task.yaml is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT

RULE = "a param name must start with a letter or '_' and hold only letters, digits, '_', '-' and '.'"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "components"
    shutil.copytree(ROOT / "components", root)
    spec = root / "train-sklearn" / "component.yaml"
    spec.write_text(spec.read_text().replace("  - {name: seed, type: Integer",
                                             "  - {name: Extra note, type: String, default: x}\n"
                                             "  - {name: seed, type: Integer", 1))
    return root


def test_catalog_check_refuses_an_input_tekton_cannot_name(cli, catalog: Path) -> None:
    done = cli("catalog", "check", str(catalog))
    assert done.returncode == 1
    assert "train-sklearn/component.yaml: the generated Tekton Task: spec.params: name 'Extra note' is not valid: " \
        + RULE in done.stderr


def test_catalog_generate_refuses_it_and_writes_nothing(cli, catalog: Path) -> None:
    task = catalog / "train-sklearn" / "task.yaml"
    before = task.read_text()
    done = cli("catalog", "generate", str(catalog))
    assert done.returncode == 2
    assert "spec.params: name 'Extra note' is not valid: " + RULE in done.stderr
    assert "Traceback" not in done.stderr and task.read_text() == before
