"""`pipetune pipeline run` on a Tekton PipelineRun: catalog Tasks as local runs, the tuning
custom task as the catalog's tune component, results passed as Tekton passes them."""

from pathlib import Path

import yaml

from conftest import ROOT
from pipetune.store import RunStore

TEKTON = ROOT / "pipelines" / "tekton"


def small_experiment(tmp_path: Path, **changes) -> Path:
    document = yaml.safe_load((TEKTON / "experiment.yaml").read_text())
    document["spec"].update({"maxTrialCount": 3, **changes})
    document["spec"]["trialTemplate"]["trialSpec"]["arguments"]["dataset"] = "iris"
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def runs(state_dir: Path):
    records = RunStore(state_dir).list()
    (pipeline,) = [r for r in records if r.parent_id is None]
    return pipeline, sorted((r for r in records if r.parent_id == pipeline.id), key=lambda r: r.started_at or 0)


def test_tune_then_train_pipelinerun_trains_with_the_custom_task_results(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(TEKTON / "tune-then-train.yaml"), "-f", str(small_experiment(tmp_path)),
               "-p", "shards=2", timeout=300)
    assert done.returncode == 0, done.stderr
    pipeline, children = runs(state_dir)
    assert pipeline.status == "Succeeded" and pipeline.component == "pipeline/tune-then-train"
    assert [c.component for c in children] == ["prepare-shards", "tune", "train-sklearn"]
    prepare, tune, train = children
    assert prepare.parameters["shards"] == 2  # the PipelineRun's param, overridden by -p
    best = tune.outputs["best_parameters"]
    assert (train.parameters["n_estimators"], train.parameters["max_depth"]) == (best["n_estimators"], best["max_depth"])
    assert train.parameters["dataset"] == "digits"  # the Pipeline's own value for the train task


def test_a_custom_task_without_its_experiment_is_refused_naming_it(cli, state_dir):
    done = cli("pipeline", "run", str(TEKTON / "tune-then-train.yaml"))
    assert done.returncode == 2
    assert "Experiment 'tune-sklearn' is not in the files given; add its file with -f" in done.stderr
    assert RunStore(state_dir).list() == []


def test_a_task_that_is_not_in_the_catalog_is_refused(cli, state_dir, tmp_path):
    documents = list(yaml.safe_load_all((TEKTON / "tune-then-train.yaml").read_text()))
    documents[0]["spec"]["tasks"][2]["taskRef"]["name"] = "git-clone"
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    done = cli("pipeline", "run", str(path), "-f", str(small_experiment(tmp_path)))
    assert done.returncode == 2
    assert "Task 'git-clone' is not in the files given nor a catalog component; add its file with -f" in done.stderr


def test_a_failing_custom_task_stops_the_train_task(cli, state_dir, tmp_path):
    experiment = small_experiment(tmp_path, maxTrialCount=2, parallelTrialCount=2)
    document = yaml.safe_load(experiment.read_text())
    document["spec"]["trialTemplate"]["trialSpec"]["arguments"]["dataset"] = "no-such-dataset"
    experiment.write_text(yaml.safe_dump(document))
    done = cli("pipeline", "run", str(TEKTON / "tune-then-train.yaml"), "-f", str(experiment), timeout=300)
    assert done.returncode == 1
    pipeline, children = runs(state_dir)
    assert [c.component for c in children] == ["prepare-shards", "tune"]
    assert pipeline.message.startswith("task tune failed") and "not started: train" in pipeline.message


def test_the_checked_example_mixes_script_and_catalog_tasks_the_tuner_when_and_finally(cli, state_dir):
    done = cli("pipeline", "run", str(TEKTON / "checked-tune-train.yaml"), timeout=600)
    assert done.returncode == 0, done.stderr
    pipeline, children = runs(state_dir)
    assert pipeline.status == "Succeeded" and pipeline.component == "pipeline/checked-tune-train"
    assert [c.component for c in children] == ["prepare-shards", "check", "tune", "gate", "train-sklearn", "report"]
    logs = {c.component: "".join(p.read_text() for p in (Path(c.outputs_dir).parent / "logs").glob("*"))
            for c in children}
    assert "2 shards, " in logs["check"] and "no missing values" in logs["check"]
    assert "pipeline tasks: Succeeded; train: Succeeded" in logs["report"]


def test_a_bar_the_best_objective_misses_skips_training_and_the_report_says_so(cli, state_dir):
    done = cli("pipeline", "run", str(TEKTON / "checked-tune-train.yaml"), "-p", "min-accuracy=1.01", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "task train: skipped (when expressions evaluated to false" in done.stderr
    pipeline, children = runs(state_dir)
    assert "train-sklearn" not in [c.component for c in children]
    report = next(c for c in children if c.component == "report")
    log = "".join(p.read_text() for p in (Path(report.outputs_dir).parent / "logs").glob("*"))
    assert "pipeline tasks: Completed; train: None" in log
