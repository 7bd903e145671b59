"""Catalog components as Tekton Tasks: generated, valid by Tekton's rules, and runnable."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pipetune.catalog.check import catalog_folders, check_catalog, task_text
from pipetune.components import load_component
from pipetune.tekton import check_task, task_for

FOLDERS = catalog_folders(ROOT / "components")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_task_is_generated_current_and_valid(folder: Path) -> None:
    spec = load_component(folder / "component.yaml")
    text = (folder / "task.yaml").read_text()
    assert text == task_text(spec), "task.yaml is out of date: run pipetune catalog generate"
    task = yaml.safe_load(text)
    assert check_task(task) == []
    # One param per input, one result per output plus `results`.
    assert [p["name"] for p in task["spec"]["params"]] == [i.name for i in spec.inputs]
    # (The Metrics artifact and `results` outputs are KFP's: the Task has `results` itself.)
    assert [r["name"] for r in task["spec"]["results"]] == [
        o.name for o in spec.outputs if o.name not in ("metrics", "results")] + ["results"]
    required = {p["name"] for p in task["spec"]["params"] if "default" not in p}
    assert required == {i.name for i in spec.inputs if i.required}
    (step,) = task["spec"]["steps"]
    assert "script" not in step  # params reach the step as args, never through a script
    assert step["image"] == spec.container.image and ":" in step["image"]


def _task() -> dict:
    return task_for(load_component(ROOT / "components" / "train-sklearn" / "component.yaml"), "0.1.0")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t["metadata"].update(name="Train_Sklearn"), "metadata.name: 'Train_Sklearn' is not a DNS-1123 label"),
        (lambda t: t["metadata"]["labels"].clear(), "app.kubernetes.io/version is required"),
        (lambda t: t["metadata"]["annotations"].pop("tekton.dev/pipelines.minVersion"), "minVersion is required"),
        (lambda t: t["metadata"]["annotations"].update({"tekton.dev/categories": "Machine Learning"}),
         "category 'Machine Learning' is not one of the Hub's"),
        (lambda t: t["spec"]["params"][0].update(name="1dataset"), "spec.params: name '1dataset' is not valid"),
        (lambda t: t["spec"]["results"][0].update(name="model-"), "spec.results: name 'model-' is not valid"),
        (lambda t: t["spec"]["steps"].append(copy.deepcopy(t["spec"]["steps"][0])), "step names must be unique"),
        (lambda t: t["spec"]["steps"][0]["args"].append("$(params.missing)"), "$(params.missing) names no declared param"),
        (lambda t: t["spec"]["steps"][0].update(image="pipetune/pipetune"), "must name a specific version"),
        (lambda t: t["spec"]["steps"][0].update(script="echo $(params.dataset)"), "not inside a script"),
        (lambda t: t["spec"].pop("description"), "spec.description: required"),
    ],
)
def test_check_task_finds_what_tekton_would_refuse(edit, words: str) -> None:
    task = _task()
    assert check_task(task) == []
    edit(task)
    assert any(words in problem for problem in check_task(task)), check_task(task)


def test_catalog_check_fails_when_a_task_is_out_of_date(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "components"
    shutil.copytree(ROOT / "components", root)
    assert check_catalog(root) == []
    spec = root / "train-sklearn" / "component.yaml"
    spec.write_text(spec.read_text().replace("Number of trees.", "How many trees."))
    assert check_catalog(root) == [
        f"{root / 'train-sklearn' / 'task.yaml'}: out of date with component.yaml; run `pipetune catalog generate`"
    ]
    generated = subprocess.run([sys.executable, "-m", "pipetune", "catalog", "generate", str(root)],
                               capture_output=True, text=True, cwd=tmp_path)
    assert generated.returncode == 0 and "1 changed" in generated.stdout
    assert check_catalog(root) == []


def _step(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}
    return subprocess.run([sys.executable, "-m", "pipetune", "step", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_the_step_writes_tekton_results(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    done = _step(tmp_path, "train-sklearn", "--input", "n_estimators=5", "--input", "max_depth=",
                 "--input", "stages=1", "--tekton-results", str(tmp_path / "results"))
    assert done.returncode == 0, done.stderr
    results = tmp_path / "results"
    document = yaml.safe_load((results / "results").read_text())
    assert 0.5 < document["metrics"]["accuracy"] <= 1.0
    assert (results / "model").read_text() == "model/"  # the artifact's path in the outputs
    sizes = sum(p.stat().st_size for p in results.iterdir())
    assert sizes < 4096


def test_results_over_tektons_limit_fail_clearly(tmp_path: Path) -> None:
    script = tmp_path / "big.py"
    script.write_text(
        "from pipetune import save_results\n"
        "save_results(metrics={'m': 1.0}, outputs={'blob': 'x' * 5000})\n"
    )
    component = tmp_path / "big.yaml"
    component.write_text(yaml.safe_dump({
        "name": "big", "outputs": [{"name": "blob", "type": "String"}],
        "implementation": {"container": {"image": "python:3.11", "command": ["python", str(script)]}},
    }))
    done = _step(tmp_path, str(component), "--tekton-results", str(tmp_path / "results"))
    assert done.returncode == 1
    assert "Tekton task results take 10154 bytes of the step's 4096-byte termination message" in done.stderr
    assert "write large values as artifacts" in done.stderr
    assert not (tmp_path / "results").exists()  # nothing half-written
