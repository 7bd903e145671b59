"""The pipeline runner sits above the KFP component runtime: ``pipetune.kfp`` (what runs inside
a KFP pod) never loads ``pipetune.pipeline``, and the runner's public names are the ones the
CLI uses."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pipetune.errors import SpecError
from pipetune.kfp import typed
from pipetune.pipeline import bind_tekton_parameters, is_tekton, tekton_plan

TEKTON = ROOT / "pipelines" / "tekton"


def loaded_after(statement: str) -> set[str]:
    """The pipetune modules a fresh interpreter has loaded after ``statement``."""
    code = f"import sys\n{statement}\nprint(' '.join(m for m in sys.modules if m.startswith('pipetune')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(done.stdout.split())


def test_the_kfp_runtime_loads_nothing_of_the_pipeline_runner() -> None:
    loaded = loaded_after("import pipetune.kfp")
    assert "pipetune.kfp._launcher" in loaded
    assert not {m for m in loaded if m.startswith("pipetune.pipeline")}


def test_outputs_are_read_back_by_their_declared_type() -> None:
    assert typed("7", "NUMBER_INTEGER", "x") == 7
    with pytest.raises(SpecError, match=r"^where: expected an integer, got '7.5'$"):
        typed("7.5", "NUMBER_INTEGER", "where")


def test_a_tekton_pipelinerun_is_planned_and_bound_through_the_package(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all((TEKTON / "tune-then-train.yaml").read_text()))
    documents += list(yaml.safe_load_all((TEKTON / "experiment.yaml").read_text()))
    assert is_tekton(documents[0]) and not is_tekton({"apiVersion": "v1", "kind": "ConfigMap"})
    plan = tekton_plan(documents, "tune-then-train.yaml")
    assert plan.waves == (("prepare",), ("tune",), ("train",))  # train waits for tune's results
    assert bind_tekton_parameters(plan, {}) == {"shards": "8"}  # the PipelineRun's, over the default
    assert bind_tekton_parameters(plan, {"shards": "2"}) == {"shards": "2"}
    with pytest.raises(SpecError, match="is not declared"):
        bind_tekton_parameters(plan, {"nope": "1"})
