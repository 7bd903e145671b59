"""KFP's driver and launcher semantics as pure functions: the CEL conditions KFP compiles, Go's
float formatting, typed values, the executor output read back (bounded), runtime placeholders."""

import json
import os
from pathlib import Path

import pytest

from pipetune.engines.base import Phase
from pipetune.errors import ContractError, SpecError
from pipetune.kfp import executor_input, go_float, parameter_text, read_task_outputs, substitute
from pipetune.pipeline import TaskOutcome, kfp_plan
from pipetune.pipeline._kfp_cel import CelError, evaluate, parse_condition
from pipetune.pipeline._kfp_dag import decide_kfp


def holds(condition: str, **values) -> bool:
    return evaluate(parse_condition(condition, "here"), {f"pipelinechannel--{k}": v for k, v in values.items()})


def test_conditions_as_kfp_compiles_them():
    assert holds("inputs.parameter_values['pipelinechannel--coin'] == 'heads'", coin="heads")
    assert not holds("!(inputs.parameter_values['pipelinechannel--coin'] == 'heads')", coin="heads")
    assert holds("!(inputs.parameter_values['pipelinechannel--die'] == 'heads') && "
                 "inputs.parameter_values['pipelinechannel--die'] == 'tails'", die="tails")
    assert holds("int(inputs.parameter_values['pipelinechannel--n']) > 5", n=6)
    assert not holds("int(inputs.parameter_values['pipelinechannel--n']) > 5", n=5.9)  # int() truncates
    assert holds("int(inputs.parameter_values['pipelinechannel--n']) >= int(inputs.parameter_values"
                 "['pipelinechannel--t'])", n="7", t=7)  # a string is parsed, as CEL's int() does
    assert holds("inputs.parameter_values['pipelinechannel--flag'] == true", flag=True)
    # Every number is a double in the driver: an integer output equals its float literal.
    assert holds("inputs.parameter_values['pipelinechannel--x'] == 3.0", x=3)
    # Values of different kinds are never equal, and cannot be ordered.
    assert not holds("inputs.parameter_values['pipelinechannel--x'] == '3'", x=3)
    with pytest.raises(CelError, match="no such overload"):
        holds("inputs.parameter_values['pipelinechannel--x'] < 'b'", x=3)


def test_a_condition_outside_the_subset_is_refused_naming_where():
    with pytest.raises(SpecError, match=r"^tasks.t.triggerPolicy.condition: cannot read the condition"):
        parse_condition("inputs.parameter_values['x'].size() > 1", "tasks.t.triggerPolicy.condition")


def test_numbers_on_a_command_line_are_what_go_formats():
    assert [go_float(v) for v in (2.0, 0.1, 1e-07, 1e21, 123456789.125)] == [
        "2", "0.1", "0.0000001", "1000000000000000000000", "123456789.125"]
    assert parameter_text(3) == "3" and parameter_text(True) == "true"
    assert parameter_text({"a": [1, 2]}) == '{"a":[1,2]}'


def test_runtime_placeholders_and_artifact_lists_are_filled(tmp_path: Path):
    artifact = {"name": "d", "type": {"schemaTitle": "system.Dataset"}, "uri": "/x/d", "metadata": {"k": 1}}
    value = executor_input({"n": 2.0}, {"ds": [artifact, artifact]}, ["out"], {}, tmp_path)
    argv = substitute(["{{$.pipeline_job_name}}", "{{$.inputs.parameters['n']}}", "{{$.inputs.artifacts['ds']}}",
                       "{{$.outputs.parameters['out'].output_file}}", "{{$.inputs.parameters['absent']}}"],
                      value, runtime={"{{$.pipeline_job_name}}": "job-1"})
    assert argv[:2] == ["job-1", "2"]
    assert json.loads(argv[2]) == [artifact, artifact]
    assert argv[3] == str(tmp_path / "parameters" / "out")
    assert argv[4] == "{{$.inputs.parameters['absent']}}"  # the launcher leaves an unknown one as it is


def test_the_executor_outputs_artifact_uri_and_metadata_reach_consumers(tmp_path: Path):
    """The launcher merges the executor output's artifacts into the output artifacts; they used
    to be ignored, so a consumer saw the default path and empty metadata."""
    value = executor_input({}, {}, ["n"], {"metrics": {"schemaTitle": "system.Metrics"},
                                          "model": {"schemaTitle": "system.Model"}}, tmp_path)
    custom = tmp_path / "elsewhere.txt"
    custom.write_text("weights")
    (tmp_path / "executor_output.json").write_text(json.dumps({
        "parameterValues": {"n": 3},
        "artifacts": {"metrics": {"artifacts": [{"name": "metrics", "metadata": {"accuracy": 0.9}}]},
                      "model": {"artifacts": [{"name": "model", "uri": str(tmp_path / "artifacts" / "model"),
                                               "custom_path": str(custom), "metadata": {}}]}}}))
    parameters, artifacts = read_task_outputs(value, {"n": "NUMBER_INTEGER"})
    assert parameters == {"n": 3}
    assert artifacts["metrics"][0]["metadata"] == {"accuracy": 0.9}
    assert Path(artifacts["model"][0]["uri"]).read_text() == "weights"  # set_path: moved to its uri


def test_output_files_are_read_bounded_and_only_when_regular(tmp_path: Path):
    value = executor_input({}, {}, ["n"], {}, tmp_path)
    (tmp_path / "parameters").mkdir()
    with (tmp_path / "parameters" / "n").open("wb") as file:
        file.truncate(64 * 1024 * 1024)  # 64 MiB of chatter
    with pytest.raises(ContractError, match=r"parameters/n: 67108864 bytes; at most 1048576 for a task output file"):
        read_task_outputs(value, {"n": "STRING"})
    (tmp_path / "parameters" / "n").unlink()
    os.mkfifo(tmp_path / "parameters" / "n")  # a reader of a FIFO would block for ever
    with pytest.raises(ContractError, match="FIFO"):
        read_task_outputs(value, {"n": "STRING"})


def loop_document(parallelism: int) -> dict:
    """A pipeline: a ParallelFor over three items running task `work`, then an exit task."""
    container = {"image": "python:3.11", "command": ["python", "-c", "pass"]}
    return {
        "schemaVersion": "2.1.0", "pipelineInfo": {"name": "p"},
        "deploymentSpec": {"executors": {"exec-work": {"container": container},
                                         "exec-report": {"container": container}}},
        "components": {
            "comp-work": {"executorLabel": "exec-work",
                          "inputDefinitions": {"parameters": {"n": {"parameterType": "NUMBER_INTEGER"}}}},
            "comp-report": {"executorLabel": "exec-report",
                            "inputDefinitions": {"parameters": {"status": {"parameterType": "TASK_FINAL_STATUS"}}}},
            "comp-for-loop-1": {"dag": {"tasks": {"work": {
                "componentRef": {"name": "comp-work"},
                "inputs": {"parameters": {"n": {"componentInputParameter": "item"}}}}}},
                "inputDefinitions": {"parameters": {"item": {"parameterType": "NUMBER_INTEGER"}}}},
            "comp-exit-handler-1": {"dag": {"tasks": {"for-loop-1": {
                "componentRef": {"name": "comp-for-loop-1"},
                "parameterIterator": {"itemInput": "item", "items": {"raw": "[1.0, 2.0, 3.0]"}},
                "iteratorPolicy": {"parallelismLimit": parallelism}}}}},
        },
        "root": {"dag": {"tasks": {
            "exit-handler-1": {"componentRef": {"name": "comp-exit-handler-1"}},
            "report": {"componentRef": {"name": "comp-report"}, "dependentTasks": ["exit-handler-1"],
                       "triggerPolicy": {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"},
                       "inputs": {"parameters": {"status": {"taskFinalStatus": {"producerTask": "exit-handler-1"}}}}},
        }}},
    }


def decide(plan, outcomes):
    return decide_kfp(plan, {}, {}, outcomes, {}, lambda want: None, "p-1")


def test_a_loop_runs_at_most_parallelism_iterations_and_items_arrive_typed():
    plan = kfp_plan(loop_document(parallelism=2), "p.yaml")
    first = decide(plan, {})
    assert [(w.key, w.parameters) for w in first.start] == [
        ("exit-handler-1/for-loop-1[0]/work", {"n": 1}), ("exit-handler-1/for-loop-1[1]/work", {"n": 2})]
    running = {w.key: TaskOutcome(w.key, phase=Phase.RUNNING) for w in first.start}
    assert decide(plan, running).start == []  # two at once at most
    running["exit-handler-1/for-loop-1[0]/work"].phase = Phase.SUCCEEDED
    assert [w.key for w in decide(plan, running).start] == ["exit-handler-1/for-loop-1[2]/work"]


def test_an_exit_handlers_task_runs_after_its_body_failed_and_sees_it():
    plan = kfp_plan(loop_document(parallelism=1), "p.yaml")
    outcomes = {"exit-handler-1/for-loop-1[0]/work": TaskOutcome("w", phase=Phase.FAILED, message="boom")}
    verdict = decide(plan, outcomes)
    (report,) = verdict.start  # no further iteration starts, the exit task does
    assert report.key == "report"
    assert report.parameters["status"]["state"] == "FAILED" and "boom" in report.parameters["status"]["error"]["message"]
    outcomes["report"] = TaskOutcome("report", phase=Phase.SUCCEEDED)
    verdict = decide(plan, outcomes)
    assert verdict.done and not verdict.succeeded
    assert verdict.message == ("task exit-handler-1/for-loop-1[0]/work failed: boom; not started: "
                               "exit-handler-1/for-loop-1[1], exit-handler-1/for-loop-1[2]")
