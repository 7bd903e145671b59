"""`pipetune exec --kfp-executor-input`: the executor output KFP v2 reads, from a pipeline KFP
compiled, with the executor input built as KFP's driver builds it from the compiled IR. (No
``from __future__ import annotations``: the KFP DSL reads the pipeline function's annotations
as types.)"""


import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

kfp = pytest.importorskip("kfp")
from google.protobuf import json_format  # noqa: E402
from kfp import compiler, components, dsl  # noqa: E402
from kfp.pipeline_spec import pipeline_spec_pb2  # noqa: E402

from pipetune.kfp import substitute  # noqa: E402

PROBE = """
name: kfp probe
inputs:
- {name: lr, type: Float, default: '0.1'}
outputs:
- {name: metrics, type: Metrics}
- {name: results, type: String}
- {name: score, type: Float}
implementation:
  container:
    image: pipetune/pipetune:0.1.0
    command: [pipetune, exec, --kfp-executor-input, {executorInput: null}, --, python, probe.py]
    args: [--lr, {inputValue: lr}, --score, {outputPath: score}]
"""
#: The component's own code: results through pipetune's contract, its score also to its file.
SCRIPT = """
import argparse, pathlib
from pipetune.contract import Results, write_results, outputs_dir
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--score")
args = parser.parse_args()
score = 1 - args.lr
pathlib.Path(args.score).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(args.score).write_text(str(score))
write_results(Results(metrics={"accuracy": score, "loss": args.lr}, outputs={"score": score}), outputs_dir())
"""


def compiled(tmp_path: Path) -> dict:
    op = components.load_component_from_text(PROBE)

    @dsl.pipeline(name="probe-pipeline")
    def pipeline(lr: float = 0.25):
        op(lr=lr)

    compiler.Compiler().compile(pipeline, str(tmp_path / "pipeline.yaml"))
    return yaml.safe_load((tmp_path / "pipeline.yaml").read_text())


def executor_input(ir: dict, root: Path, lr: float) -> tuple[dict, dict]:
    """The task's ExecutorInput as KFP's driver writes it (backend/src/v2/driver: output
    parameter files under /tmp/kfp/outputs, outputFile under the task's root), and its container."""
    (task,) = ir["root"]["dag"]["tasks"].values()
    component = ir["components"][task["componentRef"]["name"]]
    container = ir["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    outputs = component["outputDefinitions"]
    task_root = root / "minio" / "pipeline-root" / "run-1" / "kfp-probe"
    value = {
        "inputs": {"parameterValues": {"lr": lr}},
        "outputs": {
            "parameters": {name: {"outputFile": str(root / "tmp/kfp/outputs" / name)} for name in outputs["parameters"]},
            "artifacts": {
                name: {"artifacts": [{"name": name, "type": spec["artifactType"],
                                      "uri": f"minio://pipeline-root/run-1/kfp-probe/{name}", "metadata": {}}]}
                for name, spec in outputs["artifacts"].items()
            },
            "outputFile": str(task_root / "output_metadata.json"),
        },
    }
    json_format.Parse(json.dumps(value), pipeline_spec_pb2.ExecutorInput())  # exactly the proto's shape
    return value, container


def run_container(container: dict, value: dict, tmp_path: Path, passed: dict | None = None) -> subprocess.CompletedProcess:
    """The launcher's substitutions, then the command, with `pipetune` and `python probe.py`
    as this machine runs them; ``passed`` is the executor input given for ``{{$}}`` (default:
    ``value``)."""
    (tmp_path / "probe.py").write_text(SCRIPT)
    text = json.dumps(value if passed is None else passed)
    argv = [item.replace(json.dumps(value), text) for item in substitute([*container["command"], *container["args"]], value)]
    assert argv[0] == "pipetune" and argv[5:7] == ["python", "probe.py"]
    argv = [sys.executable, "-m", "pipetune", *argv[1:5], sys.executable, str(tmp_path / "probe.py"), *argv[7:]]
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def test_executor_output_carries_results_and_a_metrics_artifact(tmp_path: Path) -> None:
    ir = compiled(tmp_path)
    value, container = executor_input(ir, tmp_path, 0.25)
    assert "{{$}}" in container["command"]
    done = run_container(container, value, tmp_path)
    assert done.returncode == 0, done.stderr
    written = Path(value["outputs"]["outputFile"]).read_text()
    output = json_format.Parse(written, pipeline_spec_pb2.ExecutorOutput())  # what the launcher parses
    as_dict = json_format.MessageToDict(output)
    assert set(as_dict["parameterValues"]) == {"results"}  # score travels in its file, typed by KFP
    assert yaml.safe_load(as_dict["parameterValues"]["results"])["metrics"] == {"accuracy": 0.75, "loss": 0.25}
    (metrics,) = as_dict["artifacts"]["metrics"]["artifacts"]
    assert metrics["metadata"] == {"accuracy": 0.75, "loss": 0.25}
    assert metrics["name"] == "metrics" and metrics["uri"] == "minio://pipeline-root/run-1/kfp-probe/metrics"
    assert Path(value["outputs"]["parameters"]["score"]["outputFile"]).read_text() == "0.75"  # the component's own


def test_an_output_parameter_only_in_the_results_is_written_to_its_file(tmp_path: Path) -> None:
    ir = compiled(tmp_path)
    value, container = executor_input(ir, tmp_path, 0.25)
    score_file = Path(value["outputs"]["parameters"]["score"]["outputFile"])
    # The component reports its score only in results.yaml (outputs:), not in its output file.
    container = {**container, "args": container["args"][:2] + ["--score", str(tmp_path / "elsewhere" / "score")]}
    done = run_container(container, value, tmp_path)
    assert done.returncode == 0, done.stderr
    assert score_file.read_text() == "0.75"


def test_executor_input_without_outputs_is_refused_before_the_command_runs(tmp_path: Path) -> None:
    ir = compiled(tmp_path)
    value, container = executor_input(ir, tmp_path, 0.25)
    done = run_container(container, value, tmp_path, passed={"inputs": value["inputs"]})
    assert done.returncode == 2
    assert done.stderr.strip() == ("pipetune: error: --kfp-executor-input: the executor input has no outputs "
                                   "section; KFP writes one for every task (outputs.outputFile names the "
                                   "executor output file)")
    assert not (tmp_path / "outputs").exists()  # nothing ran


def test_executor_input_that_is_not_json_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pipetune", "exec", "--kfp-executor-input", "{{$}}", "--", "true"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("pipetune: error: --kfp-executor-input: not JSON")


# -- a catalog component, as a KFP pipeline runs it -------------------------------------------------

def test_catalog_component_in_a_compiled_pipeline_reports_its_metrics_to_kfp(tmp_path: Path) -> None:
    op = components.load_component_from_file(str(ROOT / "components" / "train-sklearn" / "component.yaml"))

    @dsl.pipeline(name="train-one")
    def pipeline(n_estimators: int = 5):
        op(dataset="iris", n_estimators=n_estimators, stages=1)

    compiler.Compiler().compile(pipeline, str(tmp_path / "pipeline.yaml"))
    ir = yaml.safe_load((tmp_path / "pipeline.yaml").read_text())
    (task,) = ir["root"]["dag"]["tasks"].values()
    component = ir["components"][task["componentRef"]["name"]]
    container = ir["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    # The task's parameter values as the driver resolves them: constants, the pipeline's defaults.
    defaults = {k: v.get("defaultValue") for k, v in ir["root"]["inputDefinitions"]["parameters"].items()}
    values = {}
    for name, spec in task["inputs"]["parameters"].items():
        if "runtimeValue" in spec:
            given = spec.get("runtimeValue", {}).get("constant")
        else:
            given = defaults[spec["componentInputParameter"]]
        kind = component["inputDefinitions"]["parameters"][name]["parameterType"]
        values[name] = int(given) if kind == "NUMBER_INTEGER" else given
    for name, spec in component["inputDefinitions"]["parameters"].items():
        if name not in values and "defaultValue" in spec:
            values[name] = spec["defaultValue"]
    outputs = component["outputDefinitions"]
    value = {
        "inputs": {"parameterValues": values},
        "outputs": {
            "parameters": {n: {"outputFile": str(tmp_path / "tmp/kfp/outputs" / n)} for n in outputs["parameters"]},
            "artifacts": {n: {"artifacts": [{"name": n, "type": s["artifactType"], "uri": f"minio://root/train/{n}",
                                             "metadata": {}}]} for n, s in outputs["artifacts"].items()},
            "outputFile": str(tmp_path / "minio/root/train/output_metadata.json"),
        },
    }
    json_format.Parse(json.dumps(value), pipeline_spec_pb2.ExecutorInput())
    artifact_paths = {n: str(tmp_path / "minio/root/train" / n) for n in outputs["artifacts"]}
    argv = substitute([*container["command"], *container["args"]], value, artifact_paths)
    assert argv[:5] == ["pipetune", "exec", "--kfp-executor-input", json.dumps(value), "--"]
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr

    output = json_format.MessageToDict(json_format.Parse(
        Path(value["outputs"]["outputFile"]).read_text(), pipeline_spec_pb2.ExecutorOutput()))
    results = yaml.safe_load((tmp_path / "outputs" / "results.yaml").read_text())
    (metrics,) = output["artifacts"]["metrics"]["artifacts"]
    assert metrics["metadata"] == results["metrics"] and "accuracy" in metrics["metadata"]
    assert yaml.safe_load(output["parameterValues"]["results"]) == results
    assert (tmp_path / "minio/root/train/model").is_dir()  # the Model artifact where KFP uploads from
