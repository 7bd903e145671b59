"""pipelines/kfp/: every example's compiled YAML is what its .py compiles to now (so neither
drifts from the other or from the catalog), and each uses the catalog and kfp-kubernetes."""

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")
from kfp import compiler  # noqa: E402

EXAMPLES = ROOT / "pipelines" / "kfp"
SOURCES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def load(source: Path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{source.stem}", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


def test_every_compiled_pipeline_has_its_source():
    compiled = {p.stem for p in EXAMPLES.glob("*.yaml")}
    named = {load(source).NAME for source in SOURCES}
    assert compiled == named and len(named) == 4


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_checked_in_yaml_is_what_the_source_compiles_to(source: Path, tmp_path: Path):
    module = load(source)
    target = tmp_path / f"{module.NAME}.yaml"
    compiler.Compiler().compile(module.PIPELINE, str(target))
    checked_in = EXAMPLES / f"{module.NAME}.yaml"
    assert target.read_text() == checked_in.read_text(), (
        f"{checked_in} is out of date with {source.name}: run `python {source.relative_to(ROOT)}`")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_examples_run_the_catalog_through_the_publisher_with_platform_settings(source: Path):
    module = load(source)
    documents = list(yaml.safe_load_all((EXAMPLES / f"{module.NAME}.yaml").read_text()))
    ir, platform = documents[0], documents[1]
    catalog_images = {c["container"]["image"] for c in ir["deploymentSpec"]["executors"].values()
                      if c["container"]["command"][:2] == ["pipetune", "exec"]}
    assert catalog_images == {"pipetune/pipetune:0.1.0"}
    # kfp-kubernetes wrote the Kubernetes settings (a second document), not hand edits.
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_tune_then_train_default_experiment_is_valid_and_feeds_the_train_step():
    from pipetune.experiment import experiment_from_dict

    ir = next(yaml.safe_load_all((EXAMPLES / "tune-then-train.yaml").read_text()))
    default = ir["root"]["inputDefinitions"]["parameters"]["experiment"]["defaultValue"]
    experiment = experiment_from_dict(yaml.safe_load(default))
    assert experiment.trial_template.component.component.name == "train-sklearn"
    tasks = ir["root"]["dag"]["tasks"]
    train = next(t for name, t in tasks.items() if t["componentRef"]["name"] == "comp-train-sklearn")
    given = train["inputs"]["parameters"]
    assert given["n_estimators"]["taskOutputParameter"]["outputParameterKey"] == "n_estimators"
    assert given["max_depth"]["taskOutputParameter"]["outputParameterKey"] == "max_depth"
