"""What each of KFP's compiled test pipelines does under ``pipetune pipeline run``, read from
the file's Python (``../shared/fixtures/kfp-compiled/<name>.py``): the parameters it is run
with (its own defaults where it has them), and then either the outcome the Python gives (the
tasks' output parameters, the branches its conditions take, success or the failure the
pipeline is written to have) or the reason it cannot run on a laptop, refused before
anything runs.

Pipelines that draw random numbers are checked for consistency instead of values: the branch
taken is the one the drawn value selects (``branches``)."""

# ruff: noqa: E501 - the table keeps one compiled file per line
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The Secrets the secret-using pipelines read (their Python asserts these values).
SECRETS = {"test-secret-1": {"username": "user1", "password": "psw0"},
           "test-secret-2": {"password": "psw1"}, "test-secret-3": {"password": "psw2"}}


@dataclass(frozen=True)
class Case:
    """One file's expectation: ``outcome`` ``Succeeded``, ``Failed`` (``why``: a pattern of the
    pipeline run's message), ``refused`` (``why``: a pattern of the error) or ``long`` (not
    run in the suite, ``why`` says why)."""

    outcome: str
    why: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    secrets: bool = False
    mounts: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any], str], None] | None = None
    #: Distributions whose absence is the refusal's reason (a component's packages_to_install,
    #: an fsspec filesystem): where they are all installed, the file is not judged.
    needs: tuple[str, ...] = ()


def ok(**given: Any) -> Case:
    return Case("Succeeded", **given)


def failed(task: str, **given: Any) -> Case:
    return Case("Failed", why=f"^task {task} failed", **given)


def refused(why: str, **given: Any) -> Case:
    return Case("refused", why=why, **given)


def long(why: str) -> Case:
    return Case("long", why=why)


def output(tasks: Mapping[str, Any], key: str, name: str = "Output") -> Any:
    return (tasks[key].outputs or {}).get(name)


def branches(decider: str, name: str, taken: Mapping[Any, tuple[str, ...]], prefix: str = "") -> Callable:
    """A check: task ``decider``'s output ``name`` selects which tasks ran: for each value,
    the tasks that must have run when it was drawn and must not have otherwise."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider, name)
        assert value in taken, (decider, value)
        for option, keys in taken.items():
            for key in keys:
                assert (prefix + key in tasks) == (option == value), (value, key, sorted(tasks))

    return check


def number_branches(decider: str, name: str, low: tuple[str, ...], high: tuple[str, ...], threshold: float,
                    prefix: str = "") -> Callable:
    """A check: ``low`` ran when the drawn number is at most ``threshold``, ``high`` above it."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider, name)
        for key in low:
            assert (prefix + key in tasks) == (value <= threshold), (value, key)
        for key in high:
            assert (prefix + key in tasks) == (value > threshold), (value, key)

    return check


def both(*checks: Callable) -> Callable:
    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        for one in checks:
            one(tasks, stderr)

    return check


def coin_then_number(flip: str, name: str, heads: tuple[str, str, str, float],
                     tails: tuple[str, str, str, float]) -> Callable:
    """flip_coin's shape: heads or tails picks a branch; in it a drawn number picks one of two
    tasks (``(number task, task above, task at or below, threshold)``)."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        coin = output(tasks, flip, name)
        assert coin in ("heads", "tails")
        for side, (number, above, below, threshold) in (("heads", heads), ("tails", tails)):
            assert (number in tasks) == (coin == side), (coin, number)
            if coin == side:
                value = output(tasks, number, name)
                assert (above in tasks, below in tasks) == (value > threshold, value <= threshold), (value, sorted(tasks))
            else:
                assert above not in tasks and below not in tasks

    return check


def oneof(decider: str, choices: Mapping[str, str], consumer: str, prefix: str = "") -> Callable:
    """A dsl.OneOf: the branch the decider's output selects ran, and the consumer got that
    branch's output."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider)
        for option, key in choices.items():
            assert (prefix + key in tasks) == (option == value), (value, key)
        chosen = tasks[prefix + choices[value]].outputs or {}
        assert output(tasks, consumer) == next(iter(chosen.values()))

    return check


def equal_coins(tasks: Mapping[str, Any], stderr: str) -> None:
    """pipeline_with_nested_conditions: the inner branch runs when two coins agree."""
    agree = output(tasks, "flip-coin-op-2") == output(tasks, "condition-1/flip-coin-op-3")
    assert ("condition-1/condition-2/flip-coin-op-4" in tasks) == agree
    assert ("condition-1/condition-2/print-op-4" in tasks) == agree


CASES: dict[str, Case] = {
    'argo_compatibility/fast_artifact.yaml': ok(ran=('write-artifact',)),
    'invalid/empty_file.yaml': refused('not a compiled KFP pipeline: the file has no YAML document \\(empty, or only comments\\); expected a compiled KFP pipeline'),
    'invalid/invalid_yaml.yaml': refused('not a compiled KFP pipeline \\(no components\\); compile it with kfp\\.compiler\\.Compile'),
    'invalid/no_name.yaml': refused('pipelineInfo\\.name: missing; a compiled pipeline names itself \\(KFP refuses one without a na'),
    'valid/arguments_parameters.yaml': ok(params={'param2': 'hello'}, ran=('echo',)),
    'valid/artifacts_complex.yaml': ok(ran=('add-two-lists-of-datasets/add', 'add-two-lists-of-datasets/add-2', 'add-two-lists-of-datasets/add-two-ints', 'for-loop-2[0]/double', 'for-loop-2[0]/for-loop-4[1]/condition-5/double-2', 'for-loop-2[0]/for-loop-4[2]/condition-5/double-2', 'for-loop-2[1]/double', 'for-loop-2[1]/for-loop-4[1]/condition-5/double-2', 'for-loop-2[1]/for-loop-4[2]/condition-5/double-2', 'for-loop-2[2]/double', 'for-loop-2[2]/for-loop-4[1]/condition-5/double-2', 'for-loop-2[2]/for-loop-4[2]/condition-5/double-2'), skipped=('for-loop-2[0]/for-loop-4[0]/condition-5', 'for-loop-2[1]/for-loop-4[0]/condition-5', 'for-loop-2[2]/for-loop-4[0]/condition-5')),
    'valid/artifacts_simple.yaml': ok(ran=('add', 'add-container', 'for-loop-2[0]/double', 'for-loop-2[1]/double', 'for-loop-2[2]/double')),
    'valid/collected_artifacts.yaml': ok(ran=('read-models',)),
    'valid/component_with_metadata_fields.yaml': ok(artifacts={'dataset_a': 'input artifact text', 'dataset_b': 'input artifact text'}, outputs={'dataset-joiner': {'Output': 'input artifact textinput artifact text'}}),
    'valid/component_with_task_final_status_GH-12033.yaml': refused('root\\.inputDefinitions\\.parameters\\.status: a PipelineTaskFinalStatus, which only KFP gives, '),
    'valid/components_with_optional_artifacts.yaml': refused('task importer: dsl\\.importer: the artifact URI gs://ml-pipeline-playground/shakespeare1\\.txt', needs=('gcsfs',), artifacts={'dataset1': 'input artifact text'}),
    'valid/conditional_producer_and_consumers.yaml': ok(outputs={'condition-4/add': {'Output': 10}, 'for-loop-2[1]/condition-3/double': {'Output': 4}, 'for-loop-2[2]/condition-3/double': {'Output': 6}}, skipped=('for-loop-2[0]/condition-3',)),
    'valid/container_io.yaml': refused("task container-io: image 'registry\\.access\\.redhat\\.com/ubi9/python-311:latest' runs 'my_prog", params={'text': 'hello'}),
    'valid/container_with_artifact_output.yaml': refused("task container-with-artifact-output: image 'gcr\\.io/my-image' runs the script 'run\\.sh' from", params={'num_epochs': '3'}),
    'valid/container_with_concat_placeholder.yaml': refused("task container-with-concat-placeholder: image 'registry\\.access\\.redhat\\.com/ubi9/python-311:", params={'text1': 'hello'}),
    'valid/container_with_if_placeholder.yaml': refused("task container-with-if-placeholder: image 'registry\\.access\\.redhat\\.com/ubi9/python-311:late"),
    'valid/container_with_placeholder_in_fstring.yaml': refused("task container-with-placeholder-in-fstring: image 'registry\\.access\\.redhat\\.com/ubi9/python-"),
    'valid/containerized_python_component.yaml': refused('task concat-message: a containerized Python component \\(kfp component build\\): its code is o', params={'message1': 'hello', 'message2': 'hello'}),
    'valid/create_pod_metadata_complex.yaml': failed('validate-no-pod-metadata', outputs={'validate-pod-metadata': {'Output': True}, 'validate-pod-metadata-2': {'Output': True}}),
    'valid/critical/add_numbers.yaml': ok(params={'a': '3', 'b': '3'}, outputs={'add-numbers': {'Output': 6}}),
    'valid/critical/artifact_cache.yaml': ok(ran=('crust-comp', 'mantle/core/core-comp')),
    'valid/critical/artifact_crust.yaml': ok(ran=('crust-comp', 'mantle/core/core-comp')),
    'valid/critical/collected_parameters.yaml': ok(outputs={'collecting-parameters/consume-ids': {'Output': 'completed'}, 'collecting-parameters/for-loop-1[0]/consume-single-id': {'Output': 'completed'}, 'collecting-parameters/for-loop-1[0]/prepend-id': {'Output': 'model_id_s1'}, 'collecting-parameters/for-loop-1[1]/consume-single-id': {'Output': 'completed'}, 'collecting-parameters/for-loop-1[1]/prepend-id': {'Output': 'model_id_s2'}, 'collecting-parameters/for-loop-1[2]/consume-single-id': {'Output': 'completed'}, 'collecting-parameters/for-loop-1[2]/prepend-id': {'Output': 'model_id_s3'}, 'collecting-parameters/split-ids': {'Output': ['s1', 's2', 's3']}, 'consume-ids': {'Output': 'completed'}}),
    'valid/critical/component_with_optional_inputs.yaml': ok(ran=('component-op',)),
    'valid/critical/container_component_with_no_inputs.yaml': ok(ran=('hello-world-container',)),
    'valid/critical/flip_coin.yaml': ok(check=coin_then_number('flip-coin', 'Output', heads=('condition-1/random-num', 'condition-1/condition-2/print-msg', 'condition-1/condition-3/print-msg-2', 5), tails=('condition-4/random-num-2', 'condition-4/condition-5/print-msg-3', 'condition-4/condition-6/print-msg-4', 15))),
    'valid/critical/if_else_with_oneof_artifacts.yaml': ok(ran=('print-artifact', 'flip-coin-pipeline/print-artifact'), check=branches('flip-coin', 'Output', {'heads': ('condition-branches-1/condition-2/param-to-artifact',), 'tails': ('condition-branches-1/condition-3/param-to-artifact-2',)}, prefix='flip-coin-pipeline/')),
    'valid/critical/missing_kubernetes_optional_inputs.yaml': ok(secrets=True, mounts=('/mnt/config', '/mnt/secret'), ran=('log-message',)),
    'valid/critical/mixed_parameters.yaml': ok(outputs={'mantle/core/core-comp': {'Output': 1}}, ran=('crust-comp',)),
    'valid/critical/modelcar.yaml': refused('task importer: dsl\\.importer: the artifact URI oci://registry\\.domain\\.local/modelcar:test ne', needs=('ocifs',)),
    'valid/critical/multiple_artifacts_namedtuple.yaml': ok(ran=('crust-comp', 'mantle/core/core-comp')),
    'valid/critical/multiple_parameters_namedtuple.yaml': ok(outputs={'mantle/core/core-comp': {'val1': 'foo', 'val2': 'bar'}}, ran=('crust-comp',)),
    'valid/critical/notebook_component_simple.yaml': refused('task run-train-notebook: the component installs nbclient>=0\\.10,<1, ipykernel>=6,<7, jupyte', needs=('nbclient', 'ipykernel', 'jupyter_client')),
    'valid/critical/parallel_for_after_dependency.yaml': ok(outputs={'for-loop-2[0]/print-op': {'Output': 'foo'}, 'for-loop-2[1]/print-op': {'Output': 'foo'}, 'for-loop-2[2]/print-op': {'Output': 'foo'}, 'print-op-2': {'Output': 'bar'}, 'print-op-3': {'Output': 'baz'}}),
    'valid/critical/parameter_cache.yaml': ok(outputs={'mantle/core/core-comp': {'Output': 'foo'}}, ran=('crust-comp',)),
    'valid/critical/parameter_oneof.yaml': ok(ran=('crust-comp',), check=branches('flip-coin', 'Output', {'heads': ('condition-branches-1/condition-2/core-comp',), 'tails': ('condition-branches-1/condition-3/core-output-comp',)}, prefix='mantle/core/')),
    'valid/critical/parameters_simple.yaml': ok(outputs={'add': {'Output': 12}, 'add-container': {'sum': 12}, 'for-loop-2[0]/double': {'Output': 2}, 'for-loop-2[1]/double': {'Output': 4}, 'for-loop-2[2]/double': {'Output': 6}}),
    'valid/critical/pipeline_with_artifact_custom_path.yaml': ok(outputs={'validate-input-artifact': {'Output': True}}, ran=('component-output-artifact',)),
    'valid/critical/pipeline_with_artifact_upload_download.yaml': refused('task download-dataset-and-upload-as-artifact: the component installs datasets==4\\.0\\.0 in it', needs=('datasets',)),
    'valid/critical/pipeline_with_env.yaml': ok(ran=('print-env', 'print-env-op')),
    'valid/critical/pipeline_with_importer_workspace.yaml': ok(outputs={'import-stage/read-dir': {'Output': 'part-000.txt,part-001.txt'}, 'import-stage/train': {'message': 'My model trained using data: Hello from producer file\n', 'scalar': '123'}}, ran=('get-uri', 'get-uri-2', 'write-dir-artifact', 'write-file-artifact')),
    'valid/critical/pipeline_with_input_status_state.yaml': ok(ran=('echo-state', 'exit-handler-1/some-task')),
    'valid/critical/pipeline_with_placeholders.yaml': ok(ran=('print-all-placeholders',)),
    'valid/critical/pipeline_with_pod_metadata.yaml': ok(outputs={'validate-no-pod-metadata': {'Output': True}, 'validate-pod-metadata-task-a': {'Output': True}, 'validate-pod-metadata-task-b': {'Output': True}, 'validate-pod-metadata-task-c': {'Output': True}, 'validate-pod-metadata-task-d': {'Output': True}}),
    'valid/critical/pipeline_with_retry.yaml': ok(outputs={'add': {'Output': 8.0}}),
    'valid/critical/pipeline_with_secret_as_env.yaml': ok(secrets=True, outputs={'generate-secret-name': {'some_output': 'test-secret-3'}}, ran=('comp',)),
    'valid/critical/pipeline_with_submit_request.yaml': ok(ran=('submit-request', 'submit-request-2')),
    'valid/critical/pipeline_with_volume_long_name.yaml': ok(ran=('dummy-task',)),
    'valid/critical/pipeline_with_workspace.yaml': ok(outputs={'read-from-workspace': {'Output': 'Hello from workspace!'}}, ran=('write-to-workspace',)),
    'valid/critical/producer_consumer_param_pipeline.yaml': ok(outputs={'producer': {'output_value': 'Hello world, this is an output parameter\n'}}, ran=('consumer',)),
    'valid/critical/pythonic_artifacts_test_pipeline.yaml': ok(ran=('gen-data', 'train-model')),
    'valid/critical/two_step_pipeline_containerized.yaml': ok(ran=('component1', 'component2')),
    'valid/cross_loop_after_topology.yaml': ok(ran=('for-loop-10[0]/print-op-5', 'for-loop-10[1]/print-op-5', 'for-loop-12[0]/for-loop-14[0]/print-op-7', 'for-loop-12[0]/for-loop-14[1]/print-op-7', 'for-loop-12[0]/print-op-8', 'for-loop-12[1]/for-loop-14[0]/print-op-7', 'for-loop-12[1]/for-loop-14[1]/print-op-7', 'for-loop-12[1]/print-op-8', 'for-loop-2[0]/print-op', 'for-loop-2[1]/print-op', 'for-loop-4[0]/print-op-2', 'for-loop-4[1]/print-op-2', 'for-loop-6[0]/for-loop-8[0]/print-op-4', 'for-loop-6[0]/for-loop-8[1]/print-op-4', 'for-loop-6[0]/print-op-3', 'for-loop-6[1]/for-loop-8[0]/print-op-4', 'for-loop-6[1]/for-loop-8[1]/print-op-4', 'for-loop-6[1]/print-op-3', 'print-op-6')),
    'valid/env-var.yaml': ok(env={'PIPETUNE_KFP_TEST': 'set'}, params={'env_var': 'PIPETUNE_KFP_TEST'}, outputs={'comp': {'Output': 'set'}}),
    'valid/essential/component_with_env_variable.yaml': ok(outputs={'read-env-var': {'Output': 'env_var_value'}}),
    'valid/essential/component_with_pip_index_urls.yaml': refused('task component-op: the component installs yapf in its image \\(packages_to_install\\); here it', needs=('yapf',)),
    'valid/essential/component_with_pip_install.yaml': refused('task component-with-pip-install: the component installs yapf in its image \\(packages_to_ins', needs=('yapf',)),
    'valid/essential/component_with_pip_install_in_venv.yaml': refused('task component-with-pip-install: the component installs yapf in its image \\(packages_to_ins', needs=('yapf',)),
    'valid/essential/concat_message.yaml': ok(params={'message1': 'hello', 'message2': 'hello'}, outputs={'concat-message': {'Output': 'hellohello'}}),
    'valid/essential/container_no_input.yaml': ok(ran=('container-no-input',)),
    'valid/essential/dict_input.yaml': ok(params={'struct': '{"A": 1, "B": 2}'}, ran=('dict-input',)),
    'valid/essential/embedded_artifact.yaml': ok(ran=('read-embedded-artifact-dir', 'read-embedded-artifact-file')),
    'valid/essential/iris_pipeline_compiled.yaml': refused('task create-dataset: the component installs pandas==2\\.2\\.0 in its image \\(packages_to_instal', needs=('pandas',)),
    'valid/essential/lightweight_python_functions_pipeline.yaml': ok(params={'message': 'hello'}, outputs={'preprocess': {'output_bool_parameter_path': True, 'output_dict_parameter_path': {'A': 1.0, 'B': 2.0}, 'output_list_parameter_path': ['a', 'b', 'c'], 'output_parameter_path': 'hello'}}, ran=('train',)),
    'valid/essential/lightweight_python_functions_with_outputs.yaml': ok(params={'first_message': 'hello', 'first_number': '3', 'second_message': 'hello', 'second_number': '3'}, outputs={'add-numbers': {'Output': 6}, 'concat-message': {'Output': 'hellohello'}, 'output-named-tuple': {'scalar': '123'}}, ran=('output-artifact',)),
    'valid/essential/pipeline_with_after.yaml': ok(ran=('print-text', 'print-text-2', 'print-text-3')),
    'valid/essential/pipeline_with_condition.yaml': ok(ran=('print-op',), check=branches('flip-coin-op', 'Output', {'heads': ('condition-1/flip-coin-op-2', 'condition-1/print-op-2', 'condition-1/print-op-3'), 'tails': ()})),
    'valid/essential/pipeline_with_metrics_outputs.yaml': ok(ran=('output-metrics', 'for-loop-2[0]/output-metrics-2', 'for-loop-2[1]/output-metrics-2')),
    'valid/essential/pipeline_with_nested_conditions.yaml': ok(ran=('print-op', 'print-op-2', 'condition-1/print-op-3'), check=equal_coins),
    'valid/essential/pipeline_with_nested_conditions_yaml.yaml': ok(check=coin_then_number('flip-coin', 'output', heads=('condition-1/generate-random-number', 'condition-1/condition-2/print', 'condition-1/condition-3/print-2', 5), tails=('condition-4/generate-random-number-2', 'condition-4/condition-5/print-3', 'condition-4/condition-6/print-4', 15))),
    'valid/essential/pipeline_with_outputs.yaml': ok(outputs={'inner-pipeline/print-op1': {'Output': 'world'}, 'print-op1': {'Output': 'Hello'}}, ran=('inner-pipeline/print-op2',)),
    'valid/essential/pipeline_with_params_containing_format.yaml': ok(outputs={'for-loop-2[0]/print-op2': {'Output': '1 and KFP.'}, 'for-loop-2[1]/print-op2': {'Output': '2 and KFP.'}, 'print-op': {'Output': 'Hello KFP'}, 'print-op-2': {'Output': 'Hello KFP, again.'}}),
    'valid/essential/pipeline_with_reused_component.yaml': ok(outputs={'add-numbers': {'Output': 5}, 'add-numbers-2': {'Output': 10}, 'add-numbers-3': {'Output': 17}}),
    'valid/essential/placeholder_with_if_placeholder_none_input_value.yaml': ok(ran=('component-with-optional-inputs',)),
    'valid/failing/fail_v2.yaml': failed('fail'),
    'valid/failing/pipeline_with_exit_handler.yaml': failed('exit-handler-1/fail-op', ran=('exit-handler-1/print-op-2', 'print-op')),
    'valid/failing/pipeline_with_multiple_exit_handlers.yaml': failed('exit-handler-1/fail-op', ran=('exit-handler-1/print-op-2', 'exit-handler-2/print-op-4', 'exit-handler-3/print-op-6', 'print-op', 'print-op-3', 'print-op-5')),
    'valid/gpu-scheduling/nvidia_gpu_scheduling_check.yaml': ok(ran=('verify-gpu-scheduled',)),
    'valid/hello_world.yaml': ok(ran=('echo',)),
    'valid/identity.yaml': ok(params={'value': 'hello'}, outputs={'identity': {'Output': 'hello'}}),
    'valid/if_elif_else_complex.yaml': ok(ran=('print-ints',)),
    'valid/if_elif_else_with_oneof_parameters.yaml': ok(check=oneof('flip-three-sided-die', {'heads': 'condition-branches-1/condition-2/print-and-return', 'tails': 'condition-branches-1/condition-3/print-and-return-2', 'draw': 'condition-branches-1/condition-4/special-print-and-return'}, 'print-and-return', prefix='roll-die-pipeline/')),
    'valid/if_else_with_oneof_artifacts.yaml': ok(ran=('print-artifact', 'flip-coin-pipeline/print-artifact'), check=branches('flip-coin', 'Output', {'heads': ('condition-branches-1/condition-2/param-to-artifact',), 'tails': ('condition-branches-1/condition-3/param-to-artifact-2',)}, prefix='flip-coin-pipeline/')),
    'valid/if_else_with_oneof_parameters.yaml': ok(check=oneof('flip-coin', {'heads': 'condition-branches-1/condition-2/print-and-return', 'tails': 'condition-branches-1/condition-3/print-and-return-2'}, 'print-and-return-3')),
    'valid/input_artifact.yaml': ok(artifacts={'data': 'input artifact text'}, ran=('input-artifact',)),
    'valid/integration/ray_integration_compiled.yaml': refused('task ray-fn: the component installs codeflare-sdk==0\\.32\\.2 in its image \\(packages_to_instal', needs=('codeflare-sdk',)),
    'valid/local_execution/local_execution_pipeline_with_exit_handler.yaml': ok(outputs={'exit-handler-1/echo': {'Output': 'hello'}, 'record-exit': {'Output': 'exit:COMPLETE'}}),
    'valid/local_execution/local_execution_pipeline_with_ignore_upstream_failure.yaml': failed('fail-always', params={'marker_path': '{tmp}/marker_path'}, outputs={'write-marker': {'Output': 'cleanup_ran'}}),
    'valid/local_execution/local_execution_pipeline_with_k8s_only_methods.yaml': ok(outputs={'echo': {'Output': 'hello'}}),
    'valid/local_execution/local_execution_pipeline_with_oneof.yaml': ok(outputs={'condition-branches-1/condition-2/branch-a': {'Output': 'A'}, 'tag-selected': {'Output': 'selected:A'}}, skipped=('condition-branches-1/condition-3',)),
    'valid/local_execution/local_execution_pipeline_with_retry.yaml': ok(params={'counter_path': '{tmp}/counter_path'}),
    'valid/local_execution/pipeline_with_caching.yaml': ok(outputs={'add-one': {'Output': 2}}),
    'valid/local_execution/pipeline_with_collected_artifacts.yaml': ok(outputs={'read-and-join': {'Output': '0,1,2'}}, ran=('for-loop-2[0]/write-artifact', 'for-loop-2[1]/write-artifact', 'for-loop-2[2]/write-artifact')),
    'valid/log_streaming_compiled.yaml': ok(ran=('print-message',)),
    'valid/long-running.yaml': long('two tasks that each sleep 5 minutes by design (sleep 300): too long for the suite'),
    'valid/metrics_visualization_v2.yaml': ok(ran=('wine-classification', 'markdown-visualization', 'iris-sgdclassifier', 'html-visualization', 'digit-classification')),
    'valid/mounted_cabundle_configmap.yaml': ok(ran=('echo',)),
    'valid/mounted_cabundle_secret.yaml': ok(ran=('echo',)),
    'valid/nested_return.yaml': ok(outputs={'nested-return': {'Output': [{'A_a': '1', 'B_b': '2'}, {'A_a': '10', 'B_b': '20'}]}}),
    'valid/nested_with_parameters.yaml': ok(outputs={'add': {'Output': 72}, 'for-loop-2[0]/for-loop-4[0]/add-two-nums': {'Output': 4}, 'for-loop-2[0]/for-loop-4[0]/double': {'Output': 2}, 'for-loop-2[0]/for-loop-4[0]/double-2': {'Output': 2}, 'for-loop-2[0]/for-loop-4[1]/add-two-nums': {'Output': 6}, 'for-loop-2[0]/for-loop-4[1]/double': {'Output': 2}, 'for-loop-2[0]/for-loop-4[1]/double-2': {'Output': 4}, 'for-loop-2[0]/for-loop-4[2]/add-two-nums': {'Output': 8}, 'for-loop-2[0]/for-loop-4[2]/double': {'Output': 2}, 'for-loop-2[0]/for-loop-4[2]/double-2': {'Output': 6}, 'for-loop-2[1]/for-loop-4[0]/add-two-nums': {'Output': 6}, 'for-loop-2[1]/for-loop-4[0]/double': {'Output': 4}, 'for-loop-2[1]/for-loop-4[0]/double-2': {'Output': 2}, 'for-loop-2[1]/for-loop-4[1]/add-two-nums': {'Output': 8}, 'for-loop-2[1]/for-loop-4[1]/double': {'Output': 4}, 'for-loop-2[1]/for-loop-4[1]/double-2': {'Output': 4}, 'for-loop-2[1]/for-loop-4[2]/add-two-nums': {'Output': 10}, 'for-loop-2[1]/for-loop-4[2]/double': {'Output': 4}, 'for-loop-2[1]/for-loop-4[2]/double-2': {'Output': 6}, 'for-loop-2[2]/for-loop-4[0]/add-two-nums': {'Output': 8}, 'for-loop-2[2]/for-loop-4[0]/double': {'Output': 6}, 'for-loop-2[2]/for-loop-4[0]/double-2': {'Output': 2}, 'for-loop-2[2]/for-loop-4[1]/add-two-nums': {'Output': 10}, 'for-loop-2[2]/for-loop-4[1]/double': {'Output': 6}, 'for-loop-2[2]/for-loop-4[1]/double-2': {'Output': 4}, 'for-loop-2[2]/for-loop-4[2]/add-two-nums': {'Output': 12}, 'for-loop-2[2]/for-loop-4[2]/double': {'Output': 6}, 'for-loop-2[2]/for-loop-4[2]/double-2': {'Output': 6}}),
    'valid/notebook_component_mixed.yaml': refused('task evaluate-model: the component installs nbclient>=0\\.10,<1, ipykernel>=6,<7, jupyter_cl', needs=('nbclient', 'ipykernel', 'jupyter_client')),
    'valid/output_metrics.yaml': ok(ran=('output-metrics',)),
    'valid/parallel_and_nested/loop_consume_upstream.yaml': ok(outputs={'split-input': {'Output': ['component1', 'component2', 'component3']}}, ran=('for-loop-1[0]/create-file', 'for-loop-1[0]/read-file', 'for-loop-1[1]/create-file', 'for-loop-1[1]/read-file', 'for-loop-1[2]/create-file', 'for-loop-1[2]/read-file', 'print-input')),
    'valid/parallel_and_nested/nested_parallel_for_secret.yaml': ok(secrets=True, outputs={'emit-secret-name': {'Output': 'test-secret-1'}, 'for-loop-2[0]/worker-component': {'Output': 'user1'}, 'for-loop-2[1]/worker-component': {'Output': 'user1'}}),
    'valid/parallel_and_nested/nested_pipeline_opt_input_child_level_compiled.yaml': ok(ran=('nested-pipeline/component-a-bool', 'nested-pipeline/component-a-int', 'nested-pipeline/component-a-str', 'nested-pipeline/component-b-bool', 'nested-pipeline/component-b-int', 'nested-pipeline/component-b-str')),
    'valid/parallel_and_nested/nested_pipeline_opt_inputs_nil_compiled.yaml': ok(ran=('nested-pipeline/component-bool', 'nested-pipeline/component-int', 'nested-pipeline/component-str')),
    'valid/parallel_and_nested/nested_pipeline_opt_inputs_parent_level_compiled.yaml': ok(ran=('nested-pipeline-nil-defaults/component-nil-bool-default', 'nested-pipeline-nil-defaults/component-nil-int-default', 'nested-pipeline-nil-defaults/component-nil-str-default', 'nested-pipeline-non-nil-defaults/component-bool-default', 'nested-pipeline-non-nil-defaults/component-int-default', 'nested-pipeline-non-nil-defaults/component-str-default')),
    'valid/parallel_and_nested/parallel_for_mount_pvc.yaml': ok(mounts=('/data',), outputs={'for-loop-2[0]/example-component': {'Output': 'a'}}),
    'valid/parallel_and_nested/parallel_for_secret.yaml': ok(secrets=True, outputs={'for-loop-2[0]/example-component': {'Output': 'user1'}, 'for-loop-2[1]/example-component': {'Output': 'user1'}, 'for-loop-2[2]/example-component': {'Output': 'user1'}}),
    'valid/parallel_and_nested/pipeline_in_pipeline.yaml': ok(outputs={'inner-pipeline/print-op1': {'Output': 'world'}, 'print-op1': {'Output': 'Hello'}}, ran=('inner-pipeline/print-op2',)),
    'valid/parallel_and_nested/pipeline_in_pipeline_complex.yaml': ok(outputs={'for-loop-2[0]/inner-pipeline/print-op1': {'Output': 'Hello'}, 'for-loop-2[1]/inner-pipeline/print-op1': {'Output': 'world!'}, 'print-op1': {'Output': 'Hello'}}, ran=('for-loop-2[0]/inner-pipeline/condition-1/print-op2', 'for-loop-2[1]/inner-pipeline/condition-2/print-op'), skipped=('for-loop-2[1]/inner-pipeline/condition-1', 'for-loop-2[0]/inner-pipeline/condition-2')),
    'valid/parallel_and_nested/pipeline_in_pipeline_loaded_from_yaml.yaml': ok(outputs={'pipeline-in-pipeline/inner-pipeline/print-op1': {'Output': 'world'}, 'pipeline-in-pipeline/print-op1': {'Output': 'Hello'}}, ran=('pipeline-in-pipeline/inner-pipeline/print-op2', 'print-op1')),
    'valid/parallel_and_nested/pipeline_with_loops.yaml': ok(outputs={'args-generator-op': {'Output': [{'A_a': '1', 'B_b': '2'}, {'A_a': '10', 'B_b': '20'}]}}, ran=('for-loop-1[0]/print-text', 'for-loop-1[1]/print-text', 'for-loop-2[0]/print-struct', 'for-loop-2[0]/print-text-2', 'for-loop-2[0]/print-text-3', 'for-loop-2[1]/print-struct', 'for-loop-2[1]/print-text-2', 'for-loop-2[1]/print-text-3', 'for-loop-4[0]/print-struct-2', 'for-loop-4[0]/print-text-4', 'for-loop-4[0]/print-text-5', 'for-loop-4[1]/print-struct-2', 'for-loop-4[1]/print-text-4', 'for-loop-4[1]/print-text-5')),
    'valid/parameters_complex.yaml': ok(outputs={'add-two-numbers': {'Output': 306}, 'for-loop-2[0]/double': {'Output': 2}, 'for-loop-2[0]/for-loop-4[0]/double-2': {'Output': 8}, 'for-loop-2[0]/for-loop-4[1]/double-2': {'Output': 10}, 'for-loop-2[0]/for-loop-4[2]/double-2': {'Output': 12}, 'for-loop-2[0]/simple-add': {'Output': 30}, 'for-loop-2[1]/double': {'Output': 4}, 'for-loop-2[1]/for-loop-4[0]/double-2': {'Output': 8}, 'for-loop-2[1]/for-loop-4[1]/double-2': {'Output': 10}, 'for-loop-2[1]/for-loop-4[2]/double-2': {'Output': 12}, 'for-loop-2[1]/simple-add': {'Output': 30}, 'for-loop-2[2]/double': {'Output': 6}, 'for-loop-2[2]/for-loop-4[0]/double-2': {'Output': 8}, 'for-loop-2[2]/for-loop-4[1]/double-2': {'Output': 10}, 'for-loop-2[2]/for-loop-4[2]/double-2': {'Output': 12}, 'for-loop-6[0]/nested-add-2': {'Output': 90}, 'for-loop-6[0]/simple-add-2': {'Output': 12}, 'for-loop-6[1]/nested-add-2': {'Output': 90}, 'for-loop-6[1]/simple-add-2': {'Output': 12}, 'for-loop-6[2]/nested-add-2': {'Output': 90}, 'for-loop-6[2]/simple-add-2': {'Output': 12}, 'nested-add': {'Output': 90}}),
    'valid/pipeline_as_exit_task.yaml': failed('exit-handler-1/fail-op', outputs={'conditional-notification/get-run-state': {'Output': 'FAILED'}}, ran=('conditional-notification/condition-1/print-op', 'exit-handler-1/print-op')),
    'valid/pipeline_producer_consumer.yaml': ok(outputs={'add-pipeline/add': {'Output': 36}, 'add-pipeline/for-loop-2[0]/echo-and-return': {'Output': 'm'}, 'add-pipeline/for-loop-2[1]/echo-and-return': {'Output': 'a'}, 'add-pipeline/for-loop-2[2]/echo-and-return': {'Output': 't'}, 'add-pipeline/for-loop-2[3]/echo-and-return': {'Output': 'h'}, 'for-loop-2[0]/for-loop-4[0]/double-pipeline/double': {'Output': 2}, 'for-loop-2[0]/for-loop-4[1]/double-pipeline/double': {'Output': 4}, 'for-loop-2[0]/for-loop-4[2]/double-pipeline/double': {'Output': 6}, 'for-loop-2[1]/for-loop-4[0]/double-pipeline/double': {'Output': 2}, 'for-loop-2[1]/for-loop-4[1]/double-pipeline/double': {'Output': 4}, 'for-loop-2[1]/for-loop-4[2]/double-pipeline/double': {'Output': 6}, 'for-loop-2[2]/for-loop-4[0]/double-pipeline/double': {'Output': 2}, 'for-loop-2[2]/for-loop-4[1]/double-pipeline/double': {'Output': 4}, 'for-loop-2[2]/for-loop-4[2]/double-pipeline/double': {'Output': 6}}, ran=('join-and-print',)),
    'valid/pipeline_with_concat_placeholder.yaml': ok(ran=('component-with-concat-placeholder',)),
    'valid/pipeline_with_condition_dynamic_task_output_custom_training_job.yaml': refused("task custom-training-job \\(in comp-condition-1\\): image 'gcr\\.io/ml-pipeline/google-cloud-pip", params={'location': 'hello', 'project': 'hello'}),
    'valid/pipeline_with_dynamic_importer_metadata.yaml': refused('task importer: dsl\\.importer: the artifact URI gs://ml-pipeline-playground/shakespeare1\\.txt', needs=('gcsfs',)),
    'valid/pipeline_with_dynamic_task_output_custom_training_job.yaml': refused("task custom-training-job: image 'gcr\\.io/ml-pipeline/google-cloud-pipeline-components:2\\.14\\.", params={'location': 'hello', 'project': 'hello'}),
    'valid/pipeline_with_google_artifact_type.yaml': refused('task model-consumer: the component installs aiplatform in its image \\(packages_to_install\\);', needs=('aiplatform',)),
    'valid/pipeline_with_importer.yaml': refused('task importer: dsl\\.importer: the artifact URI gs://ml-pipeline-playground/shakespeare1\\.txt', needs=('gcsfs',)),
    'valid/pipeline_with_importer_and_gcpc_types.yaml': refused("task consumer-op: image 'dummy' runs 'cmd', which is not on this machine; install it so 'c"),
    'valid/pipeline_with_loops_and_conditions.yaml': ok(),
    'valid/pipeline_with_metadata_fields.yaml': ok(params={'string': 'hello'}, artifacts={'in_dataset': 'input artifact text'}, outputs={'dataset-joiner': {'Output': 'helloinput artifact text'}}, ran=('str-to-dataset',)),
    'valid/pipeline_with_nested_loops.yaml': ok(ran=('for-loop-1[0]/for-loop-2[0]/print-op', 'for-loop-1[0]/for-loop-2[1]/print-op', 'for-loop-1[1]/for-loop-2[0]/print-op', 'for-loop-1[1]/for-loop-2[1]/print-op', 'for-loop-4[0]/for-loop-6[0]/print-op-3', 'for-loop-4[0]/for-loop-6[1]/print-op-3', 'for-loop-4[0]/for-loop-6[2]/print-op-3', 'for-loop-4[0]/print-op-2', 'for-loop-4[1]/for-loop-6[0]/print-op-3', 'for-loop-4[1]/for-loop-6[1]/print-op-3', 'for-loop-4[1]/for-loop-6[2]/print-op-3', 'for-loop-4[1]/print-op-2')),
    'valid/pipeline_with_only_display_name.yaml': ok(ran=('echo',)),
    'valid/pipeline_with_parallelfor_list_artifacts_GH-12033.yaml': ok(outputs={'for-loop-1[0]/print-artifact-name': {'Output': 'Output'}, 'for-loop-1[1]/print-artifact-name': {'Output': 'Output'}, 'for-loop-1[2]/print-artifact-name': {'Output': 'Output'}, 'for-loop-1[3]/print-artifact-name': {'Output': 'Output'}, 'for-loop-2[0]/print-artifact-name-2': {'Output': 'Output'}, 'for-loop-2[1]/print-artifact-name-2': {'Output': 'Output'}, 'for-loop-2[2]/print-artifact-name-2': {'Output': 'Output'}, 'for-loop-2[3]/print-artifact-name-2': {'Output': 'Output'}}, ran=('make-artifacts/for-loop-1[0]/make-artifact', 'make-artifacts/for-loop-1[1]/make-artifact', 'make-artifacts/for-loop-1[2]/make-artifact', 'make-artifacts/for-loop-1[3]/make-artifact', 'make-datasets/for-loop-1[0]/make-dataset', 'make-datasets/for-loop-1[1]/make-dataset', 'make-datasets/for-loop-1[2]/make-dataset', 'make-datasets/for-loop-1[3]/make-dataset')),
    'valid/pipeline_with_parallelfor_parallelism.yaml': ok(params={'loop_parameter': '["a", "b", "c"]'}, outputs={'list-dict-maker-0': {'Output': [{'a': 1, 'b': 2}, {'a': 2, 'b': 3}, {'a': 3, 'b': 4}]}, 'list-dict-maker-1': {'Output': [{'a': 1, 'b': 2}, {'a': 2, 'b': 3}, {'a': 3, 'b': 4}]}, 'list-dict-maker-1-2': {'Output': [{'a': 1, 'b': 2}, {'a': 2, 'b': 3}, {'a': 3, 'b': 4}]}, 'list-dict-maker-2': {'Output': [{'a': 1, 'b': 2}, {'a': 2, 'b': 3}, {'a': 3, 'b': 4}]}, 'list-dict-maker-3': {'Output': [{'a': 1, 'b': 2}, {'a': 2, 'b': 3}, {'a': 3, 'b': 4}]}}, ran=('for-loop-10[0]/print-int-3', 'for-loop-10[1]/print-int-3', 'for-loop-10[2]/print-int-3', 'for-loop-11[0]/print-int-4', 'for-loop-11[1]/print-int-4', 'for-loop-11[2]/print-int-4', 'for-loop-12[0]/print-int-5', 'for-loop-12[1]/print-int-5', 'for-loop-12[2]/print-int-5', 'for-loop-13[0]/print-int-6', 'for-loop-13[1]/print-int-6', 'for-loop-13[2]/print-int-6', 'for-loop-1[0]/for-loop-2[0]/print-text-2', 'for-loop-1[0]/for-loop-2[1]/print-text-2', 'for-loop-1[0]/for-loop-2[2]/print-text-2', 'for-loop-1[0]/print-text', 'for-loop-1[1]/for-loop-2[0]/print-text-2', 'for-loop-1[1]/for-loop-2[1]/print-text-2', 'for-loop-1[1]/for-loop-2[2]/print-text-2', 'for-loop-1[1]/print-text', 'for-loop-1[2]/print-text', 'for-loop-4[0]/for-loop-6[0]/print-text-5', 'for-loop-4[0]/for-loop-6[0]/print-text-6', 'for-loop-4[0]/for-loop-6[1]/print-text-5', 'for-loop-4[0]/for-loop-6[1]/print-text-6', 'for-loop-4[0]/print-text-3', 'for-loop-4[0]/print-text-4', 'for-loop-4[1]/for-loop-6[0]/print-text-5', 'for-loop-4[1]/for-loop-6[0]/print-text-6', 'for-loop-4[1]/for-loop-6[1]/print-text-5', 'for-loop-4[1]/for-loop-6[1]/print-text-6', 'for-loop-4[1]/print-text-3', 'for-loop-4[1]/print-text-4', 'for-loop-8[0]/print-int', 'for-loop-8[1]/print-int', 'for-loop-8[2]/print-int', 'for-loop-9[0]/print-int-2', 'for-loop-9[1]/print-int-2', 'for-loop-9[2]/print-int-2')),
    'valid/pipeline_with_parallelfor_pipeline_param.yaml': ok(params={'loop_parameter': '["a", "b", "c"]', 'prefix': 'hello'}, outputs={'for-loop-1[0]/print-with-prefix': {'Output': 'hello: a'}, 'for-loop-1[1]/print-with-prefix': {'Output': 'hello: b'}, 'for-loop-1[2]/print-with-prefix': {'Output': 'hello: c'}, 'for-loop-2[0]/print-with-prefix-2': {'Output': 'dynamic-prefix: a'}, 'for-loop-2[1]/print-with-prefix-2': {'Output': 'dynamic-prefix: b'}, 'for-loop-2[2]/print-with-prefix-2': {'Output': 'dynamic-prefix: c'}, 'for-loop-4[0]/for-loop-5[0]/print-with-prefix-3': {'Output': 'hello: a'}, 'for-loop-4[0]/for-loop-5[1]/print-with-prefix-3': {'Output': 'hello: b'}, 'for-loop-4[0]/for-loop-5[2]/print-with-prefix-3': {'Output': 'hello: c'}, 'for-loop-4[1]/for-loop-5[0]/print-with-prefix-3': {'Output': 'hello: a'}, 'for-loop-4[1]/for-loop-5[1]/print-with-prefix-3': {'Output': 'hello: b'}, 'for-loop-4[1]/for-loop-5[2]/print-with-prefix-3': {'Output': 'hello: c'}, 'make-prefix': {'Output': 'dynamic-prefix'}}),
    'valid/pipeline_with_secret_as_volume.yaml': ok(secrets=True, mounts=('/mnt/my_vol',), ran=('comp',)),
    'valid/pipeline_with_string_machine_fields_pipeline_input.yaml': ok(outputs={'sum-numbers': {'Output': 3}}),
    'valid/pipeline_with_string_machine_fields_task_output.yaml': ok(outputs={'accelerator-limit': {'Output': '1'}, 'accelerator-type': {'Output': 'NVIDIA_TESLA_P4'}, 'cpu-limit': {'Output': '4000m'}, 'memory-limit': {'Output': '15G'}, 'sum-numbers': {'Output': 3}}),
    'valid/pipeline_with_task_final_status.yaml': failed('exit-handler-1/fail-op', ran=('exit-handler-1/print-op', 'exit-op')),
    'valid/pipeline_with_task_final_status_yaml.yaml': ok(ran=('exit-handler-1/print-op', 'exit-op')),
    'valid/pipeline_with_task_using_ignore_upstream_failure.yaml': failed('fail-op', ran=('print-op',)),
    'valid/pipeline_with_utils.yaml': ok(ran=('echo',)),
    'valid/pipeline_with_various_io_types.yaml': refused("task downstream: the component gives no command, so it runs its image 'gcr\\.io/image''s ent", params={'input1': 'hello'}, artifacts={'input3': 'input artifact text'}),
    'valid/pipeline_with_volume.yaml': ok(mounts=('/data',), outputs={'consumer': {'Output': 'Hello world'}, 'producer': {'Output': 'Hello world'}}),
    'valid/pipeline_with_volume_no_cache.yaml': ok(mounts=('/data',), outputs={'consumer': {'Output': 'Hello world'}, 'producer': {'Output': 'Hello world'}}),
    'valid/preprocess.yaml': ok(params={'input_dict_parameter': '{"A": 1, "B": 2}', 'input_list_parameter': '["a", "b", "c"]', 'message': 'hello'}, outputs={'preprocess': {'output_bool_parameter_path': True, 'output_dict_parameter_path': {'A': 1, 'B': 2}, 'output_list_parameter_path': ['a', 'b', 'c'], 'output_parameter_path': 'hello'}}),
    'valid/pvc_mount.yaml': ok(mounts=('/data',), params={'pvc_name': 'my-pvc'}, outputs={'producer': {'Output': 'hello'}}, ran=('consumer',)),
    'valid/pythonic_artifact_with_single_return.yaml': refused('task make-language-model: the component installs dill==0\\.3\\.7 in its image \\(packages_to_ins', needs=('dill',)),
    'valid/pythonic_artifacts_with_list_of_artifacts.yaml': ok(ran=('for-loop-1[0]/make-dataset', 'for-loop-1[1]/make-dataset', 'for-loop-1[2]/make-dataset', 'for-loop-1[3]/make-dataset', 'join-datasets')),
    'valid/pythonic_artifacts_with_multiple_returns.yaml': ok(ran=('make-dataset', 'splitter-pipeline/dataset-splitter')),
    'valid/run_as_user_cache_disabled.yaml': ok(ran=('echo',)),
    'valid/run_as_user_cache_enabled.yaml': ok(ran=('echo',)),
    'valid/sequential_v1.yaml': ok(params={'param1': 'hello', 'param2': 'hello'}, ran=('echo', 'echo-2')),
    'valid/sequential_v2.yaml': refused("task download: image 'google/cloud-sdk' runs 'gsutil' in its script, a cloud provider's to", params={'url': 'hello'}),
    'valid/take_nap_compiled.yaml': ok(params={'naptime_secs': '1'}, outputs={'take-nap': {'Output': "I'm awake now. Did I snore?"}}, ran=('wake-up',)),
    'valid/take_nap_pipeline_root_compiled.yaml': ok(params={'naptime_secs': '1'}, outputs={'take-nap': {'Output': "I'm awake now. Did I snore?"}}, ran=('wake-up',)),
    'valid/two_step_pipeline.yaml': refused("task read-from-gcs: image 'google/cloud-sdk:slim' runs 'gsutil' in its script, a cloud pro"),
    'valid/upload_download_compiled.yaml': refused('task test-uploaded-artifact: the component installs minio in its image \\(packages_to_instal', needs=('minio',), params={'bucket_name': 'hello', 'mlpipeline_minio_artifact_secret': 'hello'}),
    'valid/xgboost_sample_pipeline.yaml': refused('task convert-csv-to-apache-parquet: the component installs pyarrow==0\\.17\\.1 in its image \\(p', needs=('pyarrow',)),
}
