"""render_trial and local_command: one trial's resource, and a Job as a local command."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pipetune.components import resolve_command
from pipetune.errors import SpaceError, SpecError
from pipetune.experiment import Experiment, experiment_from_dict, local_command, render_trial

ROOT = Path(__file__).resolve().parents[2]


def job_experiment(
    containers: list[dict[str, Any]] | None = None,
    api_version: str = "pipetune.dev/v1alpha1",
    source: str | Path = "/exp/job.yaml",
    **spec: Any,
) -> Experiment:
    containers = containers or [
        {
            "name": "training-container",
            "image": "example/train:1",
            "command": ["python3", "train.py", "--lr=${trialParameters.lr}"],
            "args": ["--layers", "${trialParameters.layers}", "--opt=${trialParameters.opt}"],
            "env": [{"name": "OPT", "value": "${trialParameters.opt}"}],
        }
    ]
    doc = {
        "apiVersion": api_version,
        "kind": "Experiment",
        "metadata": {"name": "job"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "parameters": [
                {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}},
                {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "8"}},
                {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}},
            ],
            "trialTemplate": {
                "trialParameters": [
                    {"name": "lr", "reference": "lr"},
                    {"name": "layers", "reference": "layers"},
                    {"name": "opt", "reference": "opt"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "parallelism": "${trialParameters.layers}",
                        "template": {"spec": {"containers": containers, "restartPolicy": "Never"}},
                    },
                },
            },
            **spec,
        },
    }
    return experiment_from_dict(doc, source)


ASSIGNMENT = {"lr": 0.01, "layers": 3, "opt": "adam"}


# -- render_trial --------------------------------------------------------------------------------


def test_render_sets_name_and_namespace_and_keeps_the_template() -> None:
    experiment = job_experiment()
    before = copy.deepcopy(experiment.trial_template.trial_spec)
    rendered = render_trial(experiment, ASSIGNMENT, "job-abc", "team")
    assert list(rendered) == ["apiVersion", "kind", "metadata", "spec"]
    assert rendered["metadata"] == {"name": "job-abc", "namespace": "team"}
    assert experiment.trial_template.trial_spec == before
    assert render_trial(experiment, ASSIGNMENT, "job-abd")["metadata"]["namespace"] == "default"


def test_typed_where_kubernetes_allows_it_text_where_it_declares_strings() -> None:
    rendered = render_trial(job_experiment(), ASSIGNMENT, "job-0")
    assert rendered["spec"]["parallelism"] == 3  # a whole placeholder keeps its type
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "train.py", "--lr=0.01"]
    assert container["args"] == ["--layers", "3", "--opt=adam"]  # args are []string
    assert container["env"] == [{"name": "OPT", "value": "adam"}]


def test_assignment_is_normalised_and_checked() -> None:
    experiment = job_experiment()
    doc = copy.deepcopy(dict(experiment.raw))
    doc["spec"]["parameters"][0]["feasibleSpace"]["max"] = "2"
    experiment = experiment_from_dict(doc, "/exp/job.yaml")
    rendered = render_trial(experiment, {"lr": 1, "layers": 4.0, "opt": "sgd"}, "job-1")
    assert rendered["spec"]["parallelism"] == 4 and type(rendered["spec"]["parallelism"]) is int
    assert rendered["spec"]["template"]["spec"]["containers"][0]["command"][2] == "--lr=1.0"
    with pytest.raises(SpaceError, match=r"^/exp/job\.yaml: assignment: parameter 'layers': 9 is outside"):
        render_trial(experiment, {"lr": 0.01, "layers": 9, "opt": "sgd"}, "job-2")
    with pytest.raises(SpaceError, match="do not match the parameters"):
        render_trial(experiment, {"lr": 0.01}, "job-3")


def test_component_trial_renders_bound_typed_arguments(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "comp"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "parameters": [
                {"name": "n_estimators", "parameterType": "int", "feasibleSpace": {"min": "10", "max": "20"}},
                {"name": "max_features", "parameterType": "categorical", "feasibleSpace": {"list": ["sqrt", "0.5"]}},
            ],
            "trialTemplate": {
                "trialParameters": [
                    {"name": "n", "reference": "n_estimators"},
                    {"name": "mf", "reference": "max_features"},
                    {"name": "trial", "reference": "${trialSpec.Name}"},
                ],
                "trialSpec": {
                    # relative to the experiment file's folder
                    "component": "../components/train-sklearn/component.yaml",
                    "arguments": {
                        "n_estimators": "${trialParameters.n}",
                        "max_features": "${trialParameters.mf}",
                        "dataset": "digits-${trialParameters.trial}",
                    },
                },
            },
        },
    }
    experiment = experiment_from_dict(doc, ROOT / "pipelines" / "comp.yaml")
    assert experiment.component is not None and experiment.component.name == "train-sklearn"
    arguments = render_trial(experiment, {"n_estimators": 12, "max_features": "0.5"}, "comp-1")
    assert arguments["n_estimators"] == 12 and type(arguments["n_estimators"]) is int
    assert arguments["max_features"] == "0.5"
    assert arguments["dataset"] == "digits-comp-1"
    assert arguments["test_size"] == 0.25  # the component's default, bound
    with pytest.raises(SpecError, match=r"local_command|component's own command"):
        local_command({}, experiment)
    # Elsewhere the same relative path names nothing.
    with pytest.raises(SpecError, match=r"spec\.trialTemplate\.trialSpec\.component: .*file not found"):
        experiment_from_dict(doc, tmp_path / "comp.yaml")


def test_component_meta_references_are_limited(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "parameters": [{"name": "n_estimators", "parameterType": "int", "feasibleSpace": {"min": "10", "max": "20"}}],
            "trialTemplate": {
                "trialParameters": [
                    {"name": "n", "reference": "n_estimators"},
                    {"name": "kind", "reference": "${trialSpec.Kind}"},
                ],
                "trialSpec": {
                    "component": "train-sklearn",  # a catalog name
                    "arguments": {"n_estimators": "${trialParameters.n}", "dataset": "${trialParameters.kind}"},
                },
            },
        },
    }
    with pytest.raises(SpecError, match=r"\(kind\)\.reference: \$\{trialSpec\.Kind\} needs a resource as the trial"):
        experiment_from_dict(doc, tmp_path / "c.yaml")


# -- local_command -------------------------------------------------------------------------------


def test_a_job_maps_to_its_primary_container() -> None:
    experiment = job_experiment()
    command = local_command(render_trial(experiment, ASSIGNMENT, "job-0"), experiment)
    assert command.command == ("python3", "train.py", "--lr=0.01", "--layers", "3", "--opt=adam")
    assert command.env == {"OPT": "adam"}
    assert command.image == "example/train:1"
    assert command.container == "training-container"
    assert command.metrics_file is None


def test_primary_container_choice() -> None:
    a = {"name": "main", "image": "i",
         "command": ["python", "a.py", "${trialParameters.lr}", "${trialParameters.layers}", "${trialParameters.opt}"]}
    b = {"name": "helper", "image": "i", "command": ["sleep", "1"]}
    experiment = job_experiment([a, b])
    several = r"primaryContainerName: required when the Job has several containers; expected one of main, helper"
    with pytest.raises(SpecError, match=several):
        local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    trained = dict(a, name="training-container")
    experiment = job_experiment([b, trained])
    only = r"only the primary container 'training-container' runs locally, and the Job also has helper"
    with pytest.raises(SpecError, match=only):
        local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)


def test_primary_container_by_name() -> None:
    a = {"name": "main", "image": "i",
         "command": ["python", "a.py", "${trialParameters.lr}", "${trialParameters.layers}", "${trialParameters.opt}"]}
    experiment = experiment_with_template(job_experiment([a]), primaryContainerName="main")
    assert local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment).container == "main"
    experiment = experiment_with_template(job_experiment([a]), primaryContainerName="trainer")
    with pytest.raises(SpecError, match=r"primaryContainerName: 'trainer' is not a container of the Job; expected one of main"):
        local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)


def experiment_with_template(experiment: Experiment, **template: Any) -> Experiment:
    doc = copy.deepcopy(dict(experiment.raw))
    doc["spec"]["trialTemplate"].update(template)
    return experiment_from_dict(doc, experiment.path)


def test_no_command_means_an_unknown_entrypoint() -> None:
    container = {"name": "training-container", "image": "i",
                 "args": ["--lr=${trialParameters.lr}", "${trialParameters.layers}", "${trialParameters.opt}"]}
    experiment = job_experiment([container])
    with pytest.raises(SpecError, match=r"no command, so the image's entrypoint would run it"):
        local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    experiment = job_experiment([container], local={"command": ["python", "-m", "trainer"]})
    command = local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    assert command.command == ("python", "-m", "trainer", "--lr=0.01", "3", "adam")


def test_local_override_with_placeholders_needs_the_assignment() -> None:
    doc = copy.deepcopy(dict(job_experiment().raw))
    doc["spec"]["trialTemplate"]["trialParameters"].append({"name": "who", "reference": "${trialSpec.Name}"})
    doc["spec"]["local"] = {
        "command": ["python", "-m", "mytrain", "--lr", "${trialParameters.lr}", "--run=${trialParameters.who}"],
        "args": [],
        "env": {"LAYERS": "${trialParameters.layers}", "MODE": "local"},
    }
    experiment = experiment_from_dict(doc, "/exp/job.yaml")
    rendered = render_trial(experiment, ASSIGNMENT, "job-7", "ns")
    with pytest.raises(ValueError, match="pass the trial's assignment"):
        local_command(rendered, experiment)
    command = local_command(rendered, experiment, ASSIGNMENT)
    assert command.command == ("python", "-m", "mytrain", "--lr", "0.01", "--run=job-7")
    assert command.env == {"OPT": "adam", "LAYERS": "3", "MODE": "local"}


def test_env_from_secrets_is_listed_not_set() -> None:
    container = {
        "name": "training-container",
        "image": "i",
        "command": ["python", "t.py", "${trialParameters.lr}", "${trialParameters.layers}", "${trialParameters.opt}"],
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, {"name": "N", "value": 2}],
        "envFrom": [{"configMapRef": {"name": "settings"}}],
        "workingDir": "/work",
    }
    experiment = job_experiment([container])
    command = local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    assert command.env == {"N": "2"}
    assert command.unresolved_env == ("TOKEN", "envFrom:settings")


def test_file_metrics_path_moves_into_the_outputs_dir() -> None:
    container = {
        "name": "training-container",
        "image": "i",
        "command": [
            "python",
            "t.py",
            "--log-path=/katib/metrics.log",
            "/katib/metrics.log",
            "/katib/metrics.log.bak",
            "/x/katib/metrics.log",
            "${trialParameters.lr}",
            "${trialParameters.layers}",
            "${trialParameters.opt}",
        ],
        "env": [{"name": "LOG", "value": "/katib/metrics.log"}],
    }
    experiment = job_experiment(
        [container],
        metricsCollectorSpec={
            "collector": {"kind": "File"},
            "source": {"fileSystemPath": {"path": "/katib/metrics.log", "kind": "File"}},
        },
    )
    command = local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    assert command.metrics_file == "/katib/metrics.log"
    moved = command.with_outputs_dir("/runs/r1/outputs")
    assert moved.metrics_file == "/runs/r1/outputs/metrics.log"
    assert moved.command[2:6] == (
        "--log-path=/runs/r1/outputs/metrics.log",
        "/runs/r1/outputs/metrics.log",
        "/katib/metrics.log.bak",  # another file
        "/x/katib/metrics.log",  # another path
    )
    assert moved.env == {"LOG": "/runs/r1/outputs/metrics.log"}
    plain = local_command(render_trial(job_experiment(), ASSIGNMENT, "t"), job_experiment())
    assert plain.with_outputs_dir("/o").metrics_file is None


@pytest.mark.parametrize(
    ("api_version", "kind", "words"),
    [
        ("kubeflow.org/v1", "PyTorchJob",
         "kind PyTorchJob (kubeflow.org/v1) is not one command: the local engine runs it as one process per replica"),
        ("kubeflow.org/v1", "TFJob", "one process per replica"),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob", "one process per replica"),
        ("kubeflow.org/v1", "MPIJob", "can't run locally, it runs with --engine kubernetes"),
        ("tekton.dev/v1", "PipelineRun", "can't run locally, it runs with --engine kubernetes"),
        ("argoproj.io/v1alpha1", "Workflow", "can't run locally"),
        ("apps/v1", "Deployment",
         "kind Deployment (apps/v1) can't run locally, it runs with --engine kubernetes; locally, expected batch/v1 Job, "
         "PyTorchJob, TFJob or TrainJob"),
    ],
)
def test_other_kinds_are_refused_locally(api_version: str, kind: str, words: str) -> None:
    experiment = job_experiment()
    rendered = render_trial(experiment, ASSIGNMENT, "t")
    rendered.update(apiVersion=api_version, kind=kind)
    with pytest.raises(SpecError) as caught:
        local_command(rendered, experiment)
    assert str(caught.value).startswith("/exp/job.yaml: spec.trialTemplate.trialSpec: ")
    assert words in str(caught.value)


@pytest.mark.parametrize("kind", ["PrometheusMetric", "Push", "Custom"])
def test_collectors_a_local_run_cannot_honour(kind: str) -> None:
    collector: dict[str, Any] = {"kind": kind}
    if kind == "Custom":
        collector["customCollector"] = {"name": "mine", "image": "me/collector"}
    experiment = job_experiment(metricsCollectorSpec={"collector": collector})
    unsupported = rf"spec\.metricsCollectorSpec\.collector\.kind: {kind} is not supported for local runs \(.+\)"
    with pytest.raises(SpecError, match=unsupported):
        local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)


def test_local_override_is_ours_only() -> None:
    with pytest.raises(SpecError, match=r"spec\.local: a pipetune extension"):
        job_experiment(api_version="kubeflow.org/v1beta1", local={"command": ["python"]})


def test_to_component_runs_the_same_argv() -> None:
    experiment = job_experiment()
    command = local_command(render_trial(experiment, ASSIGNMENT, "t"), experiment)
    component = command.to_component("job-trial")
    assert resolve_command(component, {}, {}) == list(command.command)
    assert component.container.env == {"OPT": "adam"}


def test_a_collectors_path_moves_with_the_folder_the_command_names() -> None:
    from pipetune.experiment import move_collector_path, move_in_manifest

    # The path itself, named inside a longer value.
    move, moved = move_collector_path("/katib/mnist.log", ["--log-path=/katib/mnist.log"], "/run/outputs")
    assert (move("--log-path=/katib/mnist.log"), moved) == ("--log-path=/run/outputs/mnist.log", "/run/outputs/mnist.log")
    # Katib's tfjob example: the collector reads /logs/test, the program is given /logs.
    move, moved = move_collector_path("/mnist-logs/test/", ["--log-path=/mnist-logs"], "/outputs")
    assert (move("--log-path=/mnist-logs"), moved) == ("--log-path=/outputs/mnist-logs", "/outputs/mnist-logs/test")
    # A longer name is not the path; a path under it moves with it.
    assert move("/mnist-logs-old /mnist-logs/train") == "/mnist-logs-old /outputs/mnist-logs/train"
    # Named nowhere: the path itself goes to the outputs (the program may build it).
    move, moved = move_collector_path("/var/log/katib/metrics.log", ["--epochs=1"], "/o")
    assert moved == "/o/metrics.log" and move("--epochs=1") == "--epochs=1"
    manifest = {"spec": {"tfReplicaSpecs": {"Worker": {"template": {"spec": {"containers": [
        {"name": "t", "command": ["python", "m.py", "--log-path=/mnist-logs"], "env": [{"name": "D", "value": "/mnist-logs"}]}
    ]}}}}}}
    move, _ = move_collector_path("/mnist-logs/test", ["--log-path=/mnist-logs"], "/outputs")
    moved_manifest = move_in_manifest(manifest, move)
    container = moved_manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "--log-path=/outputs/mnist-logs"
    assert container["env"] == [{"name": "D", "value": "/outputs/mnist-logs"}]
    assert manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["command"][-1] == \
        "--log-path=/mnist-logs"  # the template is untouched


def test_a_tensorflow_event_collector_maps_for_a_local_job() -> None:
    experiment = job_experiment(metricsCollectorSpec={
        "collector": {"kind": "TensorFlowEvent"},
        "source": {"fileSystemPath": {"path": "/tb/test", "kind": "Directory"}}})
    rendered = render_trial(experiment, ASSIGNMENT, "t")
    rendered["spec"]["template"]["spec"]["containers"][0]["args"] = ["--log-dir=/tb"]
    command = local_command(rendered, experiment).with_outputs_dir("/run/outputs")
    assert command.events_dir == "/run/outputs/tb/test" and command.metrics_file is None
    assert command.command[-1] == "--log-dir=/run/outputs/tb"
