"""Experiments: Katib-shaped specs, structural substitution, and trials rendered and mapped.

``load_experiment`` reads a ``pipetune.dev/v1alpha1`` or a Katib ``kubeflow.org/v1beta1``
Experiment; ``render_trial`` turns it and one assignment into the trial's resource (or a
component's arguments); ``local_command`` maps a rendered ``batch/v1 Job`` to a command line.
"""

from pipetune.experiment._model import (
    API_VERSION,
    KATIB_API_VERSION,
    AlgorithmSpec,
    ComponentTrial,
    EarlyStoppingSpec,
    Experiment,
    LocalOverride,
    MetricsCollectorSpec,
    Objective,
    TrialParameter,
    TrialTemplate,
)
from pipetune.experiment._parse import experiment_from_dict, load_experiment
from pipetune.experiment._substitute import MetaReference, format_value, substitute
from pipetune.experiment._trial import (
    LocalCommand,
    local_command,
    local_override,
    move_collector_path,
    move_in_manifest,
    render_trial,
    trial_values,
)

__all__ = [
    "API_VERSION",
    "KATIB_API_VERSION",
    "AlgorithmSpec",
    "ComponentTrial",
    "EarlyStoppingSpec",
    "Experiment",
    "LocalCommand",
    "LocalOverride",
    "MetaReference",
    "MetricsCollectorSpec",
    "Objective",
    "TrialParameter",
    "TrialTemplate",
    "experiment_from_dict",
    "format_value",
    "load_experiment",
    "local_command",
    "local_override",
    "move_collector_path",
    "move_in_manifest",
    "render_trial",
    "substitute",
    "trial_values",
]
