"""A compiled KFP pipeline as a plan (the base of `pipetune pipeline run`): the examples load
in DAG order; bad input is one SpecError naming the file and the field."""

import copy
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pipetune.errors import SpecError
from pipetune.pipeline import bind_parameters, kfp_plan

EXAMPLES = ROOT / "pipelines" / "kfp"


def ir(name: str) -> dict:
    return next(yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()))


def test_tune_then_train_runs_in_three_waves_with_data_dependencies():
    plan = kfp_plan(ir("tune-then-train"), "tune-then-train.yaml")
    assert plan.waves == (("tune",), ("forest-parameters",), ("train-sklearn",))
    train = plan.tasks["train-sklearn"]
    assert (train.inputs["n_estimators"].task, train.inputs["n_estimators"].key) == ("forest-parameters", "n_estimators")
    assert train.inputs["dataset"].kind == "parameter"
    assert plan.tasks["tune"].inputs["engine"].value == "auto"


def test_independent_tasks_share_a_wave():
    document = ir("train")
    tasks = document["root"]["dag"]["tasks"]
    tasks["train-again"] = copy.deepcopy(tasks["train-sklearn"])
    assert kfp_plan(document, "p.yaml").waves == (("train-again", "train-sklearn"),)


def test_unknown_schema_version_is_refused_naming_it():
    document = ir("train")
    document["schemaVersion"] = "3.0.0"
    with pytest.raises(SpecError, match=r"^p.yaml: schemaVersion: pipetune reads KFP pipeline IR 2.1.0 .*got '3.0.0'"):
        kfp_plan(document, "p.yaml")


def test_a_cycle_is_refused_naming_its_tasks():
    document = ir("tune-then-train")
    document["root"]["dag"]["tasks"]["tune"]["dependentTasks"] = ["train-sklearn"]
    with pytest.raises(SpecError, match="the tasks forest-parameters, train-sklearn, tune depend on each other in a cycle"):
        kfp_plan(document, "p.yaml")


def test_an_input_from_an_output_its_producer_lacks_is_refused():
    document = ir("tune-then-train")
    source = document["root"]["dag"]["tasks"]["train-sklearn"]["inputs"]["parameters"]["n_estimators"]
    source["taskOutputParameter"]["outputParameterKey"] = "trees"
    with pytest.raises(SpecError, match=r"tasks.train-sklearn.inputs.parameters.n_estimators: task "
                                        r"'forest-parameters' has no output 'trees'; it declares max_depth, n_estimators"):
        kfp_plan(document, "p.yaml")


def test_a_pipeline_parameter_of_the_wrong_type_is_refused():
    plan = kfp_plan(ir("train"), "train.yaml")
    assert bind_parameters(plan, {"n_estimators": "7"})["n_estimators"] == 7
    with pytest.raises(SpecError, match=r"^train.yaml: parameter n_estimators: expected an integer, got 'many'$"):
        bind_parameters(plan, {"n_estimators": "many"})
    with pytest.raises(SpecError,
                       match=r"parameter 'trees' is not declared; the pipeline takes dataset, max_depth, n_estimators"):
        bind_parameters(plan, {"trees": "7"})


def test_a_condition_outside_what_the_compiler_writes_is_refused_naming_the_field(tmp_path: Path):
    document = ir("train")
    tasks = document["root"]["dag"]["tasks"]
    tasks["train-sklearn"]["triggerPolicy"] = {"condition": "inputs.parameter_values['x'] == 1"}
    assert kfp_plan(document, "p.yaml").tasks["train-sklearn"].condition == "inputs.parameter_values['x'] == 1"
    tasks["train-sklearn"]["triggerPolicy"] = {"condition": "size(inputs.parameter_values['x']) > 1"}
    with pytest.raises(SpecError, match=r"^p.yaml: root.dag.tasks.train-sklearn.triggerPolicy.condition: cannot read "
                                        r"the condition"):
        kfp_plan(document, "p.yaml")


def test_a_file_that_is_not_a_compiled_pipeline_is_refused():
    with pytest.raises(SpecError, match="not a compiled KFP pipeline"):
        kfp_plan({"apiVersion": "tekton.dev/v1", "kind": "Pipeline"}, "p.yaml")
