"""Bad experiments: each refused with one line naming the file, the field and what was expected."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipetune.errors import SpaceError, SpecError
from pipetune.experiment import Experiment, load_experiment

KATIB: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"name": "bad-inputs", "namespace": "kubeflow"},
    "spec": {
        "objective": {"type": "minimize", "goal": 0.001, "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random"},
        "parallelTrialCount": 2,
        "maxTrialCount": 4,
        "maxFailedTrialCount": 1,
        "parameters": [
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}},
            {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.9"}},
        ],
        "trialTemplate": {
            "primaryContainerName": "training-container",
            "trialParameters": [
                {"name": "learningRate", "description": "lr", "reference": "lr"},
                {"name": "momentum", "description": "momentum", "reference": "momentum"},
            ],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "training-container",
                                    "image": "example/train:1",
                                    "command": [
                                        "python3",
                                        "train.py",
                                        "--lr=${trialParameters.learningRate}",
                                        "--momentum=${trialParameters.momentum}",
                                    ],
                                }
                            ],
                            "restartPolicy": "Never",
                        }
                    }
                },
            },
        },
    },
}
COMMAND = "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command"


def katib() -> dict[str, Any]:
    return copy.deepcopy(KATIB)


def ours() -> dict[str, Any]:
    doc = katib()
    doc["apiVersion"] = "pipetune.dev/v1alpha1"
    return doc


@pytest.fixture
def write(tmp_path: Path) -> Callable[[Any], Path]:
    def write(doc: Any, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


@pytest.fixture
def refused(write: Callable[[Any], Path]) -> Callable[..., str]:
    """Load ``doc``; return the refusal, checked to be one line that starts with the file."""

    def refused(doc: Any, error: type[Exception] = SpecError) -> str:
        path = write(doc)
        with pytest.raises(error) as caught:
            load_experiment(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message, message
        return message[len(f"{path}: ") :]

    return refused


@pytest.fixture
def load(write: Callable[[Any], Path]) -> Callable[[Any], Experiment]:
    def load(doc: Any) -> Experiment:
        return load_experiment(write(doc))

    return load


def test_the_base_documents_load(load: Callable[[Any], Experiment]) -> None:
    assert load(katib()).name == "bad-inputs"
    assert load(ours()).api_version == "pipetune.dev/v1alpha1"


# -- the search space, through the spec ----------------------------------------------------------


def test_min_above_max(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parameters"][0]["feasibleSpace"] = {"min": "0.5", "max": "0.1"}
    message = refused(doc, SpaceError)
    assert message == "spec.parameters[0] (lr).feasibleSpace: min 0.5 is above max 0.1"


def test_unknown_parameter_type(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parameters"][1]["parameterType"] = "float"
    message = refused(doc, SpaceError)
    assert message.startswith("spec.parameters[1] (momentum).parameterType: ")
    assert "double, int, discrete, categorical" in message and "'float'" in message


def test_unknown_distribution(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parameters"][0]["feasibleSpace"]["distribution"] = "gaussian"
    message = refused(doc, SpaceError)
    assert message.startswith("spec.parameters[0] (lr).feasibleSpace: ")
    assert "'gaussian'" in message and "uniform, logUniform, normal, logNormal" in message


def test_no_parameters(refused: Callable[..., str]) -> None:
    doc = katib()
    del doc["spec"]["parameters"]
    assert refused(doc, SpaceError).startswith("spec.parameters: expected a non-empty list")


# -- the objective -------------------------------------------------------------------------------


def test_goal_not_a_number(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["goal"] = "high"
    assert refused(doc) == "spec.objective.goal: expected a number, got 'high'"


def test_goal_as_a_string_number_is_read(load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    doc["spec"]["objective"]["goal"] = "0.25"
    assert load(doc).objective.goal == 0.25


def test_unknown_objective_type(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["type"] = "lower"
    assert refused(doc) == "spec.objective.type: expected minimize or maximize, got 'lower'"


def test_unknown_metric_strategy(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["metricStrategies"] = [{"name": "loss", "value": "mean"}]
    message = refused(doc)
    assert message == "spec.objective.metricStrategies (loss).value: expected one of min, max, latest, got 'mean'"


def test_strategy_for_a_metric_not_collected(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["metricStrategies"] = [{"name": "acc", "value": "max"}]
    assert "'acc' is not a metric of this objective; expected one of loss" in refused(doc)


def test_objective_metric_among_the_additional_ones(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["additionalMetricNames"] = ["loss"]
    assert refused(doc).startswith("spec.objective.additionalMetricNames: 'loss' is the objective metric")


# -- trial parameters and placeholders -----------------------------------------------------------


def test_trial_parameter_referencing_an_unknown_parameter(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"][0]["reference"] = "learning_rate"
    message = refused(doc)
    assert message.startswith(
        "spec.trialTemplate.trialParameters[0] (learningRate).reference: 'learning_rate' is not "
        "a parameter; expected one of lr, momentum"
    )


def test_placeholder_with_no_trial_parameter(refused: Callable[..., str]) -> None:
    doc = katib()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"].append("--batch=${trialParameters.batchSize}")
    message = refused(doc)
    assert message == (
        f"{COMMAND}[4]: placeholder ${{trialParameters.batchSize}} has no trialParameter; "
        "known: ${trialParameters.learningRate}, ${trialParameters.momentum}"
    )


def test_unused_trial_parameter(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"].append({"name": "extra", "reference": "${trialSpec.Name}"})
    message = refused(doc)
    assert message.startswith("spec.trialTemplate.trialParameters[2] (extra): ${trialParameters.extra} is never used")


def test_duplicate_trial_parameter(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"][1]["name"] = "learningRate"
    assert "'learningRate' is declared twice" in refused(doc)


def test_bad_meta_reference(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"].append({"name": "who", "reference": "${trialSpec.Owner}"})
    message = refused(doc)
    assert message.startswith("spec.trialTemplate.trialParameters[2] (who).reference: ")
    assert "${trialSpec.Name}" in message and "${trialSpec.Labels[key]}" in message


def test_meta_reference_to_a_missing_label(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialParameters"].append({"name": "team", "reference": "${trialSpec.Labels[team]}"})
    message = refused(doc)
    assert "the trialSpec has no label 'team' in metadata.labels (it has: none)" in message


def test_meta_form_used_directly_in_the_template(refused: Callable[..., str]) -> None:
    doc = katib()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"].append("--name=${trialSpec.Name}")
    message = refused(doc)
    assert message.startswith(f"{COMMAND}[4]: ${{trialSpec.Name}} is never substituted")


def test_tekton_spelling_of_a_placeholder(refused: Callable[..., str]) -> None:
    doc = katib()
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"][2] = "--lr=$(trialParameters.learningRate)"
    message = refused(doc)
    assert "Katib's form is ${trialParameters.learningRate}" in message


def test_trial_parameters_required_for_katib_only(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    del doc["spec"]["trialTemplate"]["trialParameters"]
    assert refused(doc).startswith("spec.trialTemplate.trialParameters: required")
    doc = ours()
    del doc["spec"]["trialTemplate"]["trialParameters"]
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"][2:] = ["--lr=${trialParameters.lr}", "--momentum=${trialParameters.momentum}"]
    names = [(p.name, p.reference) for p in load(doc).trial_template.trial_parameters]
    assert names == [("lr", "lr"), ("momentum", "momentum")]


# -- unknown fields, structure -------------------------------------------------------------------


def test_unknown_top_level_field(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["specs"] = {}
    assert refused(doc) == "the document: unknown field 'specs'; expected one of apiVersion, kind, metadata, spec, status"


def test_unknown_spec_field(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["maxTrials"] = 3
    message = refused(doc)
    assert message.startswith("spec: unknown field 'maxTrials'; expected one of parameters, objective, algorithm")
    assert "maxTrialCount" in message


def test_unknown_nested_field(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["objective"]["metric"] = "loss"
    assert refused(doc).startswith("spec.objective: unknown field 'metric'; expected one of type, goal")


def test_pipetune_extension_on_katibs_api_version(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    doc["spec"]["seed"] = 3
    assert refused(doc).startswith("spec.seed: a pipetune extension; expected apiVersion pipetune.dev/v1alpha1")
    doc["apiVersion"] = "pipetune.dev/v1alpha1"
    assert load(doc).seed == 3


def test_wrong_api_version_and_kind(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["apiVersion"] = "kubeflow.org/v1alpha3"
    assert refused(doc) == (
        "apiVersion: expected one of pipetune.dev/v1alpha1, kubeflow.org/v1beta1, got 'kubeflow.org/v1alpha3'"
    )
    doc = katib()
    doc["kind"] = "Trial"
    assert refused(doc) == "kind: expected Experiment, got 'Trial'"


def test_malformed_yaml(refused: Callable[..., str]) -> None:
    message = refused("apiVersion: kubeflow.org/v1beta1\nspec:\n  objective: [unclosed\n")
    assert message.startswith("malformed YAML at line ")


def test_not_a_mapping(refused: Callable[..., str]) -> None:
    assert refused("- a\n- b\n") == "expected a mapping with apiVersion, kind, metadata and spec"


def test_bad_experiment_name(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["metadata"]["name"] = "My_Experiment"
    assert refused(doc).startswith("metadata.name: expected lower-case letters")


def test_trial_spec_with_a_fixed_name(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialSpec"]["metadata"] = {"name": "fixed"}
    assert refused(doc).startswith("spec.trialTemplate.trialSpec.metadata.name: expected it omitted")


def test_nas_config_refused(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["nasConfig"] = {"graphConfig": {"numLayers": 8}}
    assert refused(doc).startswith("spec.nasConfig: neural architecture search (Katib's enas and darts)")


def test_configmap_trial_source_refused(refused: Callable[..., str]) -> None:
    doc = katib()
    template = doc["spec"]["trialTemplate"]
    del template["trialSpec"]
    template["configMap"] = {"configMapName": "trial-templates", "configMapNamespace": "kubeflow", "templatePath": "t.yaml"}
    message = refused(doc)
    assert message.startswith("spec.trialTemplate.configMap: a trial template read from a ConfigMap (kubeflow/trial-templates")
    assert "expected the template inline as spec.trialTemplate.trialSpec" in message


# -- counts, algorithm, early stopping, collector ------------------------------------------------


def test_parallel_trial_count_below_one(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parallelTrialCount"] = 0
    assert refused(doc) == "spec.parallelTrialCount: expected an integer of 1 or more, got 0"


def test_max_trial_count_below_parallel(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parallelTrialCount"] = 5
    doc["spec"]["maxFailedTrialCount"] = 0
    assert refused(doc) == "spec.parallelTrialCount: 5 is above spec.maxTrialCount 4; expected at most 4"


def test_max_failed_above_max_trials_is_accepted_and_never_triggers(load: Callable[[Any], Experiment]) -> None:
    """Katib's webhook refuses this, yet Katib's own simple-pbt example has it (3 above 2):
    pipetune loads it; so many failures can't happen, so it never ends the experiment."""
    doc = katib()
    doc["spec"]["maxFailedTrialCount"] = 9
    assert load(doc).max_failed_trial_count == 9


def test_counts_must_be_integers(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["maxTrialCount"] = "4"
    assert refused(doc) == "spec.maxTrialCount: expected an integer of 1 or more, got '4'"


def test_counts_beyond_katibs_int32_are_refused(refused: Callable[..., str]) -> None:
    """A maxTrialCount of 10**400 used to load, and the tuner then ran without end."""
    doc = katib()
    doc["spec"]["maxTrialCount"] = 10**400
    assert refused(doc) == (
        "spec.maxTrialCount: expected an integer of at most 2147483647 (Katib's int32), got an integer of 401 digits"
    )
    doc["spec"]["maxTrialCount"] = 2**31
    assert refused(doc) == "spec.maxTrialCount: expected an integer of at most 2147483647 (Katib's int32), got 2147483648"


def test_defaults(load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    for key in ("parallelTrialCount", "maxTrialCount", "maxFailedTrialCount", "algorithm"):
        del doc["spec"][key]
    experiment = load(doc)
    assert experiment.parallel_trial_count == 3
    assert experiment.max_trial_count == 12
    assert experiment.max_failed_trial_count is None
    assert experiment.algorithm.name is None
    assert experiment.resume_policy == "Never"
    assert experiment.metrics_collector.kind == "StdOut"
    assert experiment.seed is None and experiment.trial_timeout is None
    assert experiment.max_trial_retries == 0
    assert experiment.objective.metric_strategies == {"loss": "min"}
    doc["spec"]["parallelTrialCount"] = 20
    assert load(doc).max_trial_count == 20


def test_default_name_from_the_file(write: Callable[..., Path]) -> None:
    doc = katib()
    del doc["metadata"]
    assert load_experiment(write(doc, "My_Tuning.yaml")).name == "my-tuning"


def test_unknown_algorithm(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["algorithm"]["algorithmName"] = "magic"
    message = refused(doc)
    assert message.startswith("spec.algorithm.algorithmName: unknown algorithm 'magic'; expected one of ")
    assert "random" in message and "tpe" in message


def test_unknown_algorithm_setting(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["algorithm"]["algorithmSettings"] = [{"name": "n_startup", "value": "3"}]
    assert refused(doc).startswith("spec.algorithm.algorithmSettings: 'n_startup' is not a setting")


def test_seed_from_random_state_and_conflict(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = ours()
    doc["spec"]["algorithm"]["algorithmSettings"] = [{"name": "random_state", "value": "10"}]
    assert load(doc).seed == 10
    doc["spec"]["seed"] = 11
    assert refused(doc).startswith("spec.seed: 11 differs from spec.algorithm.algorithmSettings random_state 10")
    doc["spec"]["seed"] = 10
    assert load(doc).seed == 10


def test_early_stopping(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    doc["spec"]["earlyStopping"] = {"algorithmName": "medianstop"}
    rule = load(doc).early_stopping.rule
    assert (rule.min_trials_required, rule.start_step) == (3, 4)
    doc["spec"]["earlyStopping"] = {"algorithmName": "hyperband-stop"}
    assert refused(doc) == "spec.earlyStopping.algorithmName: 'hyperband-stop' is not supported; expected medianstop"
    doc["spec"]["earlyStopping"] = {
        "algorithmName": "medianstop",
        "algorithmSettings": [{"name": "start_step", "value": "0"}],
    }
    assert refused(doc).startswith("spec.earlyStopping.algorithmSettings.start_step: expected an integer of 1 or more")


def test_resume_policy(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["resumePolicy"] = "Always"
    assert refused(doc) == "spec.resumePolicy: expected one of Never, LongRunning, FromVolume, got 'Always'"


def test_collector_kind_and_filters(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Logs"}}
    assert refused(doc).startswith("spec.metricsCollectorSpec.collector.kind: expected one of StdOut, File")
    doc["spec"]["metricsCollectorSpec"] = {"source": {"filter": {"metricsFormat": ["loss=(\\d+)"]}}}
    assert "expected two groups (metric name, metric value), got 1" in refused(doc)
    doc["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "File"},
        "source": {
            "fileSystemPath": {"path": "/m.json", "kind": "File", "format": "JSON"},
            "filter": {"metricsFormat": ["(a)(b)"]},
        },
    }
    assert refused(doc).startswith("spec.metricsCollectorSpec.source.filter: expected no filter for a JSON metrics file")
    doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "File"}}
    collector = load(doc).metrics_collector
    assert (collector.path, collector.path_kind, collector.format) == ("/var/log/katib/metrics.log", "File", "TEXT")
    doc["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "PrometheusMetric"}}
    assert load(doc).metrics_collector.local_error.startswith(
        "spec.metricsCollectorSpec.collector.kind: PrometheusMetric is not supported for local runs (Katib scrapes "
        "the trial's Prometheus endpoint from a sidecar)"
    )


# -- pipetune extensions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("600", 600.0), ("10m", 600.0), ("1h30m", 5400.0), ("250ms", 0.25), (".5s", 0.5),
     ("1.5h", 5400.0), ("+90s", 90.0), ("12\u03bcs", 12e-6)],
)
def test_trial_timeout(load: Callable[[Any], Experiment], value: Any, seconds: float) -> None:
    doc = ours()
    doc["spec"]["trialTimeout"] = value
    assert load(doc).trial_timeout == seconds


@pytest.mark.parametrize("value", ["soon", "10 m", 0, -5, "1x", "-5m", "0s", "0", "", ".s", "1d", "3000000h"])
def test_bad_trial_timeout(refused: Callable[..., str], value: Any) -> None:
    doc = ours()
    doc["spec"]["trialTimeout"] = value
    assert refused(doc).startswith("spec.trialTimeout: expected a positive number of seconds or a duration such as 90s")


def test_max_trial_retries(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = ours()
    doc["spec"]["maxTrialRetries"] = 2
    assert load(doc).max_trial_retries == 2
    doc["spec"]["maxTrialRetries"] = -1
    assert refused(doc) == "spec.maxTrialRetries: expected an integer of 0 or more, got -1"


def test_local_override_fields(refused: Callable[..., str], load: Callable[[Any], Experiment]) -> None:
    doc = ours()
    doc["spec"]["local"] = {"command": ["python", "train.py"], "env": {"MODE": "local"}}
    local = load(doc).local
    assert local is not None and local.command == ("python", "train.py") and local.args is None
    doc["spec"]["local"] = {"env": {"MODE": "local"}}
    assert refused(doc) == "spec.local: expected command, args or both"
    doc["spec"]["local"] = {"command": ["python"], "workdir": "/tmp"}
    assert refused(doc).startswith("spec.local: unknown field 'workdir'; expected one of command, args, env")
    doc["spec"]["local"] = {"args": ["--lr=${trialParameters.rate}"]}
    assert refused(doc).startswith("spec.local.args[0]: placeholder ${trialParameters.rate} has no trialParameter")


def test_typo_in_a_parameter_is_refused(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["parameters"][0]["feasibleSpace"]["distrbution"] = "normal"
    assert refused(doc) == (
        "spec.parameters[0] (lr).feasibleSpace: unknown field 'distrbution'; expected one of "
        "min, max, step, list, distribution"
    )


def test_missing_trial_template(refused: Callable[..., str]) -> None:
    doc = katib()
    del doc["spec"]["trialTemplate"]
    assert refused(doc) == "spec.trialTemplate: required; expected a mapping"


def test_component_argument_type_must_fit_the_parameter(refused: Callable[..., str]) -> None:
    doc = ours()
    doc["spec"]["trialTemplate"]["trialSpec"] = {
        "component": "train-sklearn",
        "arguments": {"n_estimators": "${trialParameters.learningRate}", "seed": "${trialParameters.momentum}"},
    }
    assert refused(doc) == (
        "spec.trialTemplate.trialSpec.arguments.n_estimators: parameter 'lr' can take 0.01, which "
        "input 'n_estimators' (Integer) refuses: expected an Integer, got 0.01"
    )


def test_component_argument_must_be_an_input(refused: Callable[..., str]) -> None:
    doc = ours()
    doc["spec"]["trialTemplate"]["trialSpec"] = {
        "component": "train-sklearn",
        "arguments": {"lr": "${trialParameters.learningRate}", "momentum": "${trialParameters.momentum}"},
    }
    message = refused(doc)
    assert message.startswith(
        "spec.trialTemplate.trialSpec.arguments.lr: not an input of component 'train-sklearn'; expected one of dataset,"
    )


def test_component_trial_is_ours_only(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["trialSpec"] = {"component": "train-sklearn", "arguments": {}}
    assert refused(doc).startswith("spec.trialTemplate.trialSpec.component: a component trial is a pipetune extension")


def test_loaded_experiment_does_not_alias_the_document(tmp_path: Path) -> None:
    from pipetune.experiment import experiment_from_dict

    doc = katib()
    experiment = experiment_from_dict(doc, tmp_path / "e.yaml")
    doc["spec"]["trialTemplate"]["trialSpec"]["kind"] = "Changed"
    assert experiment.trial_template.kind == "Job"


def test_a_condition_pipetune_cannot_evaluate_is_refused_at_load(refused: Callable[..., str]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["successCondition"] = 'status.conditions.#(type%"Comp*")#'
    message = refused(doc)
    assert message.startswith("spec.trialTemplate.successCondition: GJSON ")
    assert "is not supported" in message


def test_katib_gjson_conditions_load(load: Callable[[Any], Experiment]) -> None:
    doc = katib()
    doc["spec"]["trialTemplate"]["successCondition"] = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    doc["spec"]["trialTemplate"]["failureCondition"] = 'status.[@this].#(phase=="Failed")#'
    template = load(doc).trial_template
    assert template.success_condition == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
