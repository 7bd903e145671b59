"""`pipetune exec --kfp-executor-input`: the executor output KFP v2 reads, from a pipeline KFP
compiled, with the executor input built as KFP's driver builds it from the compiled IR. (No ``from __future__ import annotations``: the KFP DSL reads the pipeline
function's annotations as types.)"""


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
    argv = []
    for item in [*container["command"], *container["args"]]:
        item = item.replace("{{$}}", text)
        item = item.replace("{{$.inputs.parameters['lr']}}", str(value["inputs"]["parameterValues"]["lr"]))
        item = item.replace("{{$.outputs.parameters['score'].output_file}}",
                            value["outputs"]["parameters"]["score"]["outputFile"])
        argv.append(item)
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
    assert as_dict["parameterValues"]["score"] == 0.75
    assert yaml.safe_load(as_dict["parameterValues"]["results"])["metrics"] == {"accuracy": 0.75, "loss": 0.25}
    (metrics,) = as_dict["artifacts"]["metrics"]["artifacts"]
    assert metrics["metadata"] == {"accuracy": 0.75, "loss": 0.25}
    assert metrics["name"] == "metrics" and metrics["uri"] == "minio://pipeline-root/run-1/kfp-probe/metrics"
    # The output parameter file is still the component's own (the launcher prefers the value above).
    assert Path(value["outputs"]["parameters"]["score"]["outputFile"]).read_text() == "0.75"


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
