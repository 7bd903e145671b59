"""pipelines/tekton/: every task reference resolves to a catalog Task or the tuner's custom
task, and every $(tasks.X.results.Y) to a result X declares."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT
from pipetune.experiment import load_experiment
from pipetune.tekton import check_pipeline

TEKTON = ROOT / "pipelines" / "tekton"


def catalog_tasks() -> dict:
    """The catalog's Tasks, and the Tasks the example files define themselves."""
    tasks = {}
    for path in (ROOT / "components").glob("*/task.yaml"):
        task = yaml.safe_load(path.read_text())
        tasks[task["metadata"]["name"]] = task
    for path in TEKTON.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Task":
                tasks[document["metadata"]["name"]] = document
    return tasks


def experiments() -> dict:
    found = {}
    for path in TEKTON.glob("*.yaml"):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        if len(documents) == 1 and documents[0].get("kind") == "Experiment":
            experiment = load_experiment(path)
            found[experiment.name] = list(experiment.space.names)
        for document in documents:
            if document.get("kind") == "Experiment":
                found.setdefault(document["metadata"]["name"], [p["name"] for p in document["spec"]["parameters"]])
    return found


def pipelines() -> list:
    found = []
    for path in sorted(TEKTON.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") in ("Pipeline", "PipelineRun"):
                found.append((path.name, document))
    return found


@pytest.mark.parametrize(("name", "pipeline"), pipelines(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_example_pipelines_resolve(name: str, pipeline: dict) -> None:
    assert check_pipeline(pipeline, catalog_tasks(), experiments()) == []


def test_the_run_names_the_pipeline_and_its_params() -> None:
    documents = dict((d["kind"], d) for _, d in pipelines())
    run, pipeline = documents["PipelineRun"], documents["Pipeline"]
    assert run["spec"]["pipelineRef"]["name"] == pipeline["metadata"]["name"]
    declared = {p["name"] for p in pipeline["spec"]["params"]}
    assert {p["name"] for p in run["spec"]["params"]} <= declared


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda p: p["spec"]["tasks"][2]["params"][1].update(value="$(tasks.tune.results.best-lr)"),
         "task 'tune' has no result 'best-lr'"),
        (lambda p: p["spec"]["tasks"][0]["taskRef"].update(name="prepare-data"), "no catalog Task named 'prepare-data'"),
        (lambda p: p["spec"]["tasks"][1]["taskRef"].update(name="other"), "no Experiment named 'other'"),
        (lambda p: p["spec"]["tasks"][1]["taskRef"].update(kind="Wait"), "is not pipetune's"),
        (lambda p: p["spec"]["tasks"][0]["params"][0].update(value="$(params.count)"), "$(params.count) is not a Pipeline param"),
        (lambda p: p["spec"]["tasks"][2]["params"].append({"name": "lr", "value": "1"}),
         "'lr' is not a param of Task train-sklearn"),
        (lambda p: p["spec"]["tasks"][1].update(runAfter=["prep"]), "runAfter: no task named 'prep'"),
    ],
)
def test_a_broken_reference_is_named(edit, words: str) -> None:
    import copy

    pipeline = copy.deepcopy(dict((d["kind"], d) for _, d in pipelines())["Pipeline"])
    edit(pipeline)
    problems = check_pipeline(pipeline, catalog_tasks(), experiments())
    assert any(words in problem for problem in problems), problems


def test_a_multi_objective_experiment_gives_its_pareto_front() -> None:
    import copy

    pipeline = copy.deepcopy(dict((d["kind"], d) for _, d in pipelines())["Pipeline"])
    experiment = pipeline["spec"]["tasks"][1]["taskRef"]["name"]
    pipeline["spec"]["tasks"][2]["params"][1].update(value="$(tasks.tune.results.pareto-front)")
    # One objective has no front; a multi-objective Experiment has (check_pipeline refused it).
    assert any("has no result 'pareto-front'" in p for p in check_pipeline(pipeline, catalog_tasks(), experiments()))
    assert check_pipeline(pipeline, catalog_tasks(), experiments(), multi_objective={experiment}) == []
