"""`pipetune pipeline run`: compiled KFP pipelines run here as a user runs them (the CLI)."""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pipetune.store import RunStore

EXAMPLES = ROOT / "pipelines" / "kfp"


def small_experiment(**changes) -> str:
    ir = next(yaml.safe_load_all((EXAMPLES / "tune-then-train.yaml").read_text()))
    experiment = json.loads(ir["root"]["inputDefinitions"]["parameters"]["experiment"]["defaultValue"])
    experiment["spec"]["maxTrialCount"] = 2
    experiment["spec"]["trialTemplate"]["trialSpec"]["arguments"]["dataset"] = "iris"
    experiment["spec"].update(changes)
    return json.dumps(experiment)


def runs(state_dir: Path):
    records = RunStore(state_dir).list()
    (pipeline,) = [r for r in records if r.parent_id is None]
    children = sorted((r for r in records if r.parent_id == pipeline.id), key=lambda r: r.started_at or 0)
    return pipeline, children


def edited(tmp_path: Path, name: str, edit) -> Path:
    documents = list(yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()))
    edit(documents[0])
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def test_tune_then_train_runs_in_order_and_trains_with_the_best_parameters(cli, state_dir):
    done = cli("pipeline", "run", str(EXAMPLES / "tune-then-train.yaml"), "-p", f"experiment={small_experiment()}",
               "-p", "dataset=iris", timeout=300)
    assert done.returncode == 0, done.stderr
    pipeline, children = runs(state_dir)
    assert pipeline.status == "Succeeded" and pipeline.component == "pipeline/tune-then-train"
    assert [c.component for c in children] == ["tune", "forest-parameters", "train-sklearn"]
    assert all(c.status == "Succeeded" for c in children)
    tune, _, train = children
    best = tune.outputs["best_parameters"]
    command = " ".join(RunStore(state_dir).get(train.id).command or [])
    assert f"--n_estimators {best['n_estimators']}" in command and f"--max_depth {best['max_depth']}" in command
    # The publisher wrote KFP's executor output for the catalog task: its metrics as a Metrics artifact.
    output = json.loads((Path(train.outputs_dir) / "executor_output.json").read_text())
    assert output["artifacts"]["metrics"]["artifacts"][0]["metadata"] == train.metrics
    assert "task forest-parameters: Succeeded" in done.stderr


def test_a_failing_task_stops_everything_downstream_and_is_named(cli, state_dir):
    done = cli("pipeline", "run", str(EXAMPLES / "tune-then-train.yaml"),
               "-p", f"experiment={small_experiment(maxTrialCount=0)}", timeout=300)
    assert done.returncode == 1
    pipeline, children = runs(state_dir)
    assert pipeline.status == "Failed"
    assert pipeline.message.startswith("task tune failed") and "not started: forest-parameters, train-sklearn" in pipeline.message
    assert [c.component for c in children] == ["tune"]
    assert "pipeline tune-then-train: Failed: task tune failed" in done.stderr


def test_independent_tasks_run_in_parallel(cli, state_dir, tmp_path):
    def twice(ir):
        tasks = ir["root"]["dag"]["tasks"]
        tasks["train-again"] = copy.deepcopy(tasks["train-sklearn"])

    done = cli("pipeline", "run", str(edited(tmp_path, "train", twice)), "-p", "dataset=iris", "-p", "n_estimators=5",
               timeout=300)
    assert done.returncode == 0, done.stderr
    _, children = runs(state_dir)
    first, second = children
    assert second.started_at < first.finished_at  # both ran at once


def test_an_image_that_cannot_run_here_is_refused_before_anything_runs(cli, state_dir, tmp_path):
    def foreign(ir):
        ir["deploymentSpec"]["executors"]["exec-train-sklearn"]["container"]["command"][0] = "no-such-tool"

    path = edited(tmp_path, "train", foreign)
    done = cli("pipeline", "run", str(path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"pipetune: error: {path}: task train-sklearn: image 'pipetune/pipetune:0.1.0' runs 'no-such-tool', which "
        "is not on this machine; install it so 'no-such-tool' is on PATH (the image's tools run here directly, "
        "see README: How an image maps to this machine)")
    assert RunStore(state_dir).list() == []


def test_bad_pipeline_input_is_a_usage_error_naming_it(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(EXAMPLES / "train.yaml"), "-p", "n_estimators=many")
    assert (done.returncode, done.stderr.strip()) == (
        2, f"pipetune: error: {EXAMPLES / 'train.yaml'}: parameter n_estimators: expected an integer, got 'many'")

    def future(ir):
        ir["schemaVersion"] = "3.0.0"

    done = cli("pipeline", "run", str(edited(tmp_path, "train", future)))
    assert done.returncode == 2 and "schemaVersion: pipetune reads KFP pipeline IR 2.1.0" in done.stderr
    assert RunStore(state_dir).list() == []


NOT_PIPELINES = {
    "component.yaml": (None, r"not a compiled KFP pipeline: it is a KFP component definition \(name 'train-sklearn', "
                             r"implementation\.container\), one step; run it once with `pipetune run .*component\.yaml`"),
    "empty.yaml": ("# nothing but a comment\n", r"not a compiled KFP pipeline: the file has no YAML document \(empty, "
                                                 r"or only comments\); expected a compiled KFP pipeline \(pipelineInfo, "
                                                 r"root, components, deploymentSpec"),
    "list.yaml": ("- a\n- b\n", r"not a compiled KFP pipeline: the file's YAML is a list, not a mapping; expected a "
                                r"compiled KFP pipeline .* or a Tekton PipelineRun, TaskRun or Pipeline$"),
    "workflow.yaml": ("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n",
                      r"not a compiled KFP pipeline: it is an Argo Workflow \(what kfp 1\.x compiles\), not KFP "
                      r"pipeline IR; compile the pipeline with kfp 2\.x"),
    "configmap.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
                       r"not a compiled KFP pipeline: it is a Kubernetes ConfigMap \(v1\); expected a compiled KFP "
                       r"pipeline"),
    "partial.yaml": ("pipelineInfo: {name: p}\nroot: {dag: {tasks: {}}}\n",
                     r"not a compiled KFP pipeline \(no components\); compile it with kfp\.compiler\.Compiler"),
}


@pytest.mark.parametrize("name", sorted(NOT_PIPELINES))
def test_a_file_that_is_not_a_pipeline_is_refused_saying_what_it_is_and_what_was_expected(name, cli, state_dir,
                                                                                          tmp_path):
    text, why = NOT_PIPELINES[name]
    path = ROOT / "components" / "train-sklearn" / "component.yaml" if text is None else tmp_path / name
    if text is not None:
        path.write_text(text)
    done = cli("pipeline", "run", str(path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"pipetune: error: {path}: "), done.stderr
    assert re.search(why, done.stderr.strip()), done.stderr
    assert "Traceback" not in done.stderr and not (state_dir / "runs.db").exists()


def test_sigterm_ends_the_running_task_and_records_it_like_ctrl_c(state_dir, tmp_path):
    """SIGTERM (what a container runtime or CI sends) used to kill `pipetune pipeline run`
    outright (exit -15), leaving its task running and its records Running forever."""
    marker = tmp_path / "task.pid"

    def sleeper(ir):
        container = ir["deploymentSpec"]["executors"]["exec-train-sklearn"]["container"]
        container["command"] = ["python", "-c", f"import os, pathlib, time; pathlib.Path({str(marker)!r})"
                                ".write_text(str(os.getpid())); time.sleep(300)"]
        container["args"] = []

    env = {k: v for k, v in os.environ.items() if k != "PIPETUNE_STATE_DIR"}
    process = subprocess.Popen([sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "pipeline", "run",
                                str(edited(tmp_path, "train", sleeper))], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)
        task_pid = int(marker.read_text())
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 60
    while Path(f"/proc/{task_pid}").exists() and "zombie" not in Path(f"/proc/{task_pid}/status").read_text().lower():
        assert time.monotonic() < deadline, "the task outlived the pipeline"
        time.sleep(0.05)
    assert not [r for r in RunStore(state_dir).list() if r.status in ("Running", "Pending")]


def small_tuning(name: str, trials: int = 2) -> str:
    ir = next(yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text()))
    experiment = json.loads(ir["root"]["inputDefinitions"]["parameters"]["experiment"]["defaultValue"])
    experiment["spec"]["maxTrialCount"] = trials
    return json.dumps(experiment)


def test_tune_per_dataset_tunes_each_dataset_trains_where_good_enough_and_reports(cli, state_dir):
    """The control-flow example: ParallelFor over datasets with components/tune inside, an If on
    the best objective, an ExitHandler's task that sees how the run ended."""
    done = cli("pipeline", "run", str(EXAMPLES / "tune-per-dataset.yaml"), "-p",
               f"experiment={small_tuning('tune-per-dataset')}", "-p", 'datasets=["iris", "wine"]', timeout=600)
    assert done.returncode == 0, done.stderr
    pipeline, children = runs(state_dir)
    assert pipeline.status == "Succeeded"
    by_key = {c.component: c for c in children}
    loop = "exit-handler-1/for-loop-2"
    for index, dataset in enumerate(["iris", "wine"]):
        tune = by_key[f"{loop}[{index}]/tune"]
        assert tune.status == "Succeeded" and tune.outputs["best_objective"] >= 0.8
        train = by_key[f"{loop}[{index}]/condition-3/train-sklearn"]
        best = tune.outputs["best_parameters"]  # the results' outputs, typed
        command = " ".join(RunStore(state_dir).get(train.id).command or [])
        assert f"--dataset {dataset}" in command and f"--n_estimators {best['n_estimators']}" in command
    assert by_key["report"].outputs["Output"] == "tuning COMPLETE"
    assert list(by_key).index("report") == len(by_key) - 1  # the exit task ran last

    # Nothing clears an objective of 2: the If skips training in every iteration, the run succeeds.
    done = cli("pipeline", "run", str(EXAMPLES / "tune-per-dataset.yaml"), "-p",
               f"experiment={small_tuning('tune-per-dataset')}", "-p", 'datasets=["iris"]', "-p", "threshold=2",
               timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"task {loop}[0]/condition-3: skipped (condition " in done.stderr


def test_the_pytorchjob_example_is_refused_without_its_secret_instead_of_running_without_its_env(cli, state_dir):
    """It used to "succeed" here with the Secret's env silently missing."""
    done = cli("pipeline", "run", str(EXAMPLES / "pytorchjob.yaml"))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"pipetune: error: {EXAMPLES / 'pytorchjob.yaml'}: task pytorchjob: Secret 'training-bucket' is not on this "
        "machine: give --secrets DIR (or set PIPETUNE_SECRETS) with a folder training-bucket/ holding one file per key")
    assert RunStore(state_dir).list() == []
