"""Katib's own example Experiments, unchanged: each loads and renders its first trial, or is
refused with a message naming the feature pipetune lacks.

The fixtures live in ../shared (other teams' inputs); a user's clone has none, so the module
skips there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipetune.errors import SpecError
from pipetune.experiment import (
    Experiment,
    format_value,
    load_experiment,
    local_command,
    render_trial,
)
from pipetune.experiment._substitute import PLACEHOLDER
from pipetune.kinds import check_training_job, replica_roles
from pipetune.tuner.algorithms import get_algorithm, suggest_batch
from pipetune.tuner.launchers import ExperimentLauncher
from pipetune.yamlsafe import load_yaml_file

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = SHARED / "fixtures" / "katib-v1beta1"

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="no ../shared/fixtures/katib-v1beta1 here")

FILES = sorted(FIXTURES.glob("*.yaml")) if FIXTURES.is_dir() else []

#: Fixtures pipetune refuses, with the words the one-line refusal must hold. Every Katib
#: algorithm loads (bayesianoptimization, cmaes, hyperband, multivariate-tpe, sobol included).
REFUSED = {
    # Katib reads this template from a ConfigMap in the cluster; there is none here.
    "trial-template__trial-configmap-source": ("spec.trialTemplate.configMap", "trialSpec"),
}

#: Kinds that load but have no local equivalent (they run with the Kubernetes engine), and
#: why a fixture is still refused locally.
LOCAL_REFUSALS = {
    "argo__argo-workflow": "it runs with --engine kubernetes",
    "kubeflow-training-operator__mpijob-horovod": "it runs with --engine kubernetes",
    "kubeflow-training-operator__xgboostjob-lightgbm": "it runs with --engine kubernetes",
    "tekton__pipeline-run": "it runs with --engine kubernetes",
}
#: Training jobs the local engine runs replica by replica: fixture, kind, replicas.
LOCAL_REPLICAS = {
    "kubeflow-trainer__trainjob-pytorch": "TrainJob",
    "kubeflow-training-operator__pytorchjob-mnist": "PyTorchJob",
    "kubeflow-training-operator__tfjob-mnist-with-summaries": "TFJob",
}


def _id(path: Path) -> str:
    return path.stem


def first_assignment(experiment: Experiment) -> dict[str, Any]:
    """The experiment's first trial, as its own algorithm (or pipetune's default) suggests it."""
    name = experiment.algorithm.name or "auto"
    algorithm = get_algorithm(name, experiment.algorithm.settings)
    batch = suggest_batch(algorithm, experiment.space, [], experiment.seed or 0, 1)
    assert batch, f"{name} suggested nothing"
    return dict(batch[0].assignment)


def strings(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from strings(item)
    elif isinstance(tree, str):
        yield tree


def check_landed(template: Any, rendered: Any, values: dict[str, Any], where: str = "") -> int:
    """Walk template and rendered trial together: every placeholder's value is where it was,
    formatted into a longer string or (whole) as the value itself or its text. Returns how
    many placeholders were checked."""
    if isinstance(template, dict):
        assert isinstance(rendered, dict), where
        return sum(check_landed(v, rendered[k], values, f"{where}.{k}") for k, v in template.items())
    if isinstance(template, list):
        assert isinstance(rendered, list) and len(rendered) == len(template), where
        return sum(check_landed(t, r, values, f"{where}[{i}]") for i, (t, r) in enumerate(zip(template, rendered)))
    if isinstance(template, str) and PLACEHOLDER.search(template):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            value = values[whole.group(1)]
            assert rendered == value or rendered == format_value(value), where
        else:
            expected = PLACEHOLDER.sub(lambda m: format_value(values[m.group(1)]), template)
            assert rendered == expected, where
        return len(PLACEHOLDER.findall(template))
    assert rendered == template, where
    return 0


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_fixture_loads_and_renders_or_is_refused(path: Path) -> None:
    if path.stem in REFUSED:
        with pytest.raises(SpecError) as caught:
            load_experiment(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message
        for words in REFUSED[path.stem]:
            assert words in message, message
        return

    experiment = load_experiment(path)
    raw = load_yaml_file(path)
    assert experiment.name == raw["metadata"]["name"]
    assert experiment.is_katib
    assignment = first_assignment(experiment)
    rendered = render_trial(experiment, assignment, f"{experiment.name}-0", "team-a")

    assert rendered["metadata"]["name"] == f"{experiment.name}-0"
    assert rendered["metadata"]["namespace"] == "team-a"
    assert not [s for s in strings(rendered) if "${" in s], "a placeholder is left"
    values = {}
    for parameter in experiment.trial_template.trial_parameters:
        if parameter.meta is None:
            values[parameter.name] = assignment[parameter.reference]
    meta = {p.name for p in experiment.trial_template.trial_parameters if p.meta is not None}
    if not meta:
        template = raw["spec"]["trialTemplate"]["trialSpec"]
        body = {k: v for k, v in rendered.items() if k != "metadata"}
        checked = check_landed({k: v for k, v in template.items() if k != "metadata"}, body, values)
        assert checked >= len(values)
    # The template itself is untouched by rendering.
    assert experiment.trial_template.trial_spec == raw["spec"]["trialTemplate"]["trialSpec"]


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_fixture_maps_to_a_local_command_or_says_why_not(path: Path) -> None:
    if path.stem in REFUSED:
        pytest.skip("refused at load")
    experiment = load_experiment(path)
    assignment = first_assignment(experiment)
    rendered = render_trial(experiment, assignment, "trial-0")
    if path.stem in LOCAL_REFUSALS:
        with pytest.raises(SpecError, match=LOCAL_REFUSALS[path.stem]) as caught:
            local_command(rendered, experiment)
        assert str(caught.value).startswith(f"{path}: ")
        return
    if path.stem in LOCAL_REPLICAS:
        prepared = ExperimentLauncher(experiment).prepare(0, assignment, Path("/tmp/o"))
        assert prepared.resource is not None
        assert prepared.resource.manifest["kind"] == LOCAL_REPLICAS[path.stem]
        assert check_training_job(prepared.resource.manifest) == []
        roles = replica_roles(prepared.resource.manifest)
        assert roles and all(role.command for role in roles)
        return
    assert rendered["kind"] == "Job"
    command = local_command(rendered, experiment)
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    assert command.command == tuple(container["command"]) + tuple(container.get("args", []))
    assert all(isinstance(item, str) for item in command.command)
    assert command.container == "training-container"
    lr = next(a for a in command.command if a.startswith("--lr="))
    assert lr == f"--lr={format_value(assignment['lr'])}"
    if experiment.metrics_collector.kind == "File":
        assert command.metrics_file == experiment.metrics_collector.path
        moved = command.with_outputs_dir("/tmp/run-1/outputs")
        name = Path(command.metrics_file).name
        assert f"--log-path=/tmp/run-1/outputs/{name}" in moved.command


def _fixture(name: str) -> Path:
    path = FIXTURES / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} is not among the fixtures")
    return path


def test_metadata_references_get_the_trials_metadata() -> None:
    path = _fixture("trial-template__trial-metadata-substitution")
    experiment = load_experiment(path)
    rendered = render_trial(experiment, {"lr": 0.02, "momentum": 0.6}, "meta-7", "ns-x")
    env = {e["name"]: e["value"] for e in rendered["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {
        "TRIAL_NAME": "meta-7",
        "TRIAL_NAMESPACE": "ns-x",
        "TRIAL_KIND": "Job",
        "TRIAL_API_VERSION": "batch/v1",
        "TRIAL_LABEL_CUSTOM": "custom-label",
        "TRIAL_ANNOTATION_CUSTOM": "custom-annotation",
    }
    assert rendered["metadata"]["labels"] == {"custom-key": "custom-label"}


def test_a_whole_placeholder_in_args_lands_as_text_katib_style() -> None:
    experiment = load_experiment(_fixture("kubeflow-training-operator__mpijob-horovod"))
    rendered = render_trial(experiment, {"lr": 0.002, "num-steps": 70}, "mpi-0")
    args = rendered["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--lr") + 1] == "0.002"
    assert args[args.index("--num-steps") + 1] == "70"


def test_tekton_param_value_is_text() -> None:
    experiment = load_experiment(_fixture("tekton__pipeline-run"))
    rendered = render_trial(experiment, {"lr": 0.015}, "tekton-0")
    assert rendered["spec"]["params"][0] == {"name": "lr", "value": "0.015"}
    # Tekton's own $(params.x) references are not ours and pass through.
    steps = rendered["spec"]["pipelineSpec"]["tasks"][1]["taskSpec"]["steps"]
    assert "--lr=$(params.lr)" in steps[0]["command"]


def test_objective_defaults_and_explicit_metric_strategies() -> None:
    strategy = load_experiment(_fixture("metrics-collector__metrics-collection-strategy"))
    assert strategy.objective.metric_strategies == {"loss": "min", "accuracy": "max"}
    default = load_experiment(_fixture("early-stopping__median-stop-with-json-format"))
    # Katib's webhook: metrics without a strategy follow the objective type.
    assert default.objective.metric_strategies == {"accuracy": "max", "loss": "max"}
    assert default.objective.goal == 0.99


def test_collectors_and_early_stopping_are_read() -> None:
    json_file = load_experiment(_fixture("metrics-collector__file-metrics-collector-with-json-format"))
    assert (json_file.metrics_collector.kind, json_file.metrics_collector.format) == ("File", "JSON")
    assert json_file.metrics_collector.path == "/katib/mnist.json"
    text = load_experiment(_fixture("metrics-collector__file-metrics-collector"))
    assert text.metrics_collector.format == "TEXT"
    assert len(text.metrics_collector.filters) == 1
    stdout_filter = load_experiment(_fixture("kubeflow-training-operator__xgboostjob-lightgbm"))
    assert stdout_filter.metrics_collector.kind == "StdOut"
    assert stdout_filter.metrics_collector.filters
    median = load_experiment(_fixture("early-stopping__median-stop"))
    assert median.early_stopping is not None
    rule = median.early_stopping.rule
    assert (rule.min_trials_required, rule.start_step) == (1, 2)
    assert load_experiment(_fixture("resume-experiment__long-running-resume")).resume_policy == "LongRunning"
    assert load_experiment(_fixture("hp-tuning__random")).parallel_trial_count == 3


def test_configmap_trial_source_is_refused_by_name() -> None:
    path = _fixture("trial-template__trial-configmap-source")
    data = load_yaml_file(path)
    data["spec"]["algorithm"] = {"algorithmName": "random"}
    from pipetune.experiment import experiment_from_dict

    with pytest.raises(SpecError) as caught:
        experiment_from_dict(data, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: spec.trialTemplate.configMap: ")
    assert "kubeflow/trial-templates" in message and "trialSpec" in message
