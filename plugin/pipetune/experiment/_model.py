"""The Experiment: Katib-shaped, validated when built, with messages that name file and field.

Two ``apiVersion``s are read, both ``kind: Experiment``:

* ``kubeflow.org/v1beta1``: a Katib Experiment, accepted unchanged;
* ``pipetune.dev/v1alpha1``: the same fields plus pipetune's extensions: ``spec.seed``,
  ``spec.trialTimeout``, ``spec.maxTrialRetries``, ``spec.local`` and a component as the trial
  (``trialTemplate.trialSpec: {component: PATH, arguments: {...}}``); ``trialParameters`` may
  be omitted there (one per search-space parameter, named like it). Several objectives in
  place of ``spec.objective``: ``spec.objectives: [{type, objectiveMetricName, goal}]`` (the
  result is the Pareto front; ``goal`` optional: the experiment ends when one trial reaches
  every goal given); and ``spec.constraints: [{metricName, min, max}]`` (either bound may be
  left out): a trial is feasible when every metric is within its bounds, and only feasible
  trials become the best or enter the front.

Defaults (Katib's where Katib has one):

=============================  =================================================================
``metadata.name``              the file's stem as a valid name (``pipetune.names.experiment_name``)
``spec.parallelTrialCount``    3 (Katib's default)
``spec.maxTrialCount``         12, or ``parallelTrialCount`` when that is larger (Katib: no limit)
``spec.maxFailedTrialCount``   None: failures never end the experiment by themselves (Katib)
``spec.resumePolicy``          ``Never`` (Katib)
``spec.algorithm``             None: pipetune's default algorithm, chosen by the tuner
``objective.metricStrategies`` each metric without one follows the objective type: ``min`` when
                               minimising, ``max`` when maximising (what Katib's defaulting
                               webhook does for the objective and the additional metrics alike)
``metricsCollectorSpec``       ``StdOut`` with Katib's default filter; ``File`` defaults to
                               ``/var/log/katib/metrics.log``, format ``TEXT`` (Katib)
``earlyStopping`` settings     medianstop: ``min_trials_required`` 3, ``start_step`` 4 (Katib)
``spec.seed``                  ``algorithmSettings.random_state`` when given, else None
``spec.trialTimeout``          None: no limit
``spec.maxTrialRetries``       0
=============================  =================================================================

Metrics collectors are checked at load as Katib's webhook checks them; PrometheusMetric, Custom
and Push load (the Experiment is valid) and are refused, with the reason, before a local trial
runs (:func:`pipetune.experiment.local_command`) or a cluster trial is created
(``MetricsCollectorSpec.cluster_error``). A trial
template in a ConfigMap (``trialTemplate.configMap``) is refused at load: nothing here can read
it. Algorithm names and settings are checked at load through the algorithm registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, coerce
from pipetune.errors import SpecError
from pipetune.experiment._fields import _FieldError, _placed
from pipetune.experiment._substitute import (
    PLACEHOLDER,
    MetaReference,
    check_placeholders,
    placeholder,
)
from pipetune.kinds import EXPERIMENT_API, EXPERIMENT_KIND
from pipetune.tuner.early_stopping import MedianStop, get_early_stopping
from pipetune.tuner.objective import Objective
from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace

API_VERSION = EXPERIMENT_API
KATIB_API_VERSION = "kubeflow.org/v1beta1"
API_VERSIONS = (API_VERSION, KATIB_API_VERSION)
KIND = EXPERIMENT_KIND

DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_MAX_TRIAL_COUNT = 12
RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
#: Collectors a local run can honour: its log and a file it writes.
LOCAL_COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent")
#: Collectors the Kubernetes engine can honour: the primary's log, and pipetune's collector
#: container beside it for a file or event folder in the pod.
CLUSTER_COLLECTOR_KINDS = LOCAL_COLLECTOR_KINDS
FILE_FORMATS = ("TEXT", "JSON")
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"
DEFAULT_PROMETHEUS_PORT = 8080
DEFAULT_PROMETHEUS_PATH = "/metrics"
EARLY_STOPPING_ALGORITHMS = ("medianstop",)

#: The fields of each mapping in an Experiment document: ``_parse`` refuses any other key and
#: ``_schema`` builds the CRD's properties from them.
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_KATIB_SPEC_KEYS = (
    "parameters",
    "objective",
    "algorithm",
    "earlyStopping",
    "trialTemplate",
    "parallelTrialCount",
    "maxTrialCount",
    "maxFailedTrialCount",
    "metricsCollectorSpec",
    "nasConfig",
    "resumePolicy",
)
_EXTENSION_KEYS = ("seed", "trialTimeout", "maxTrialRetries", "local", "objectives", "constraints")
_PARAMETER_KEYS = ("name", "parameterType", "feasibleSpace")
_FEASIBLE_SPACE_KEYS = ("min", "max", "step", "list", "distribution")
_OBJECTIVE_KEYS = ("type", "goal", "objectiveMetricName", "additionalMetricNames", "metricStrategies")
#: ``spec.objectives[]`` and ``spec.constraints[]`` (pipetune extensions).
_OBJECTIVES_KEYS = ("type", "goal", "objectiveMetricName")
_CONSTRAINT_KEYS = ("metricName", "min", "max")
_ALGORITHM_KEYS = ("algorithmName", "algorithmSettings")
_TEMPLATE_KEYS = (
    "retain",
    "trialParameters",
    "primaryPodLabels",
    "primaryContainerName",
    "successCondition",
    "failureCondition",
    "trialSpec",
    "configMap",
)
_TRIAL_PARAMETER_KEYS = ("name", "description", "reference")
_COMPONENT_TRIAL_KEYS = ("component", "arguments")
_LOCAL_KEYS = ("command", "args", "env")
_COLLECTOR_SPEC_KEYS = ("source", "collector")
_SOURCE_KEYS = ("httpGet", "fileSystemPath", "filter")
_COLLECTOR_KEYS = ("kind", "customCollector")
#: ``spec.metricsCollectorSpec.collector`` keys of pipetune's own (``apiVersion: pipetune.dev``):
#: the collector container's resources, which Katib sets cluster-wide in katib-config.
_COLLECTOR_EXTENSION_KEYS = ("resources",)
_RESOURCES_KEYS = ("requests", "limits")
_FILE_SYSTEM_PATH_KEYS = ("path", "kind", "format")
_FILTER_KEYS = ("metricsFormat",)
_NAME_VALUE_KEYS = ("name", "value")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NAME_MAX = 40  # Katib's limit: trial names are derived from it


# -- the parts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlgorithmSpec:
    """``spec.algorithm``: ``name`` None means pipetune's default (the tuner picks it)."""

    name: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """``spec.earlyStopping``: medianstop only (Katib's one rule), settings checked."""

    name: str = "medianstop"
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            get_early_stopping(self.name, self.settings)
        except SpecError as exc:
            raise _FieldError(_placed(str(exc), "spec.earlyStopping", _ALGORITHM_KEYS)) from None

    @property
    def rule(self) -> MedianStop:
        """The validated rule object."""
        return get_early_stopping(self.name, self.settings)


@dataclass(frozen=True)
class MetricsCollectorSpec:
    """``spec.metricsCollectorSpec``, Katib's defaults filled in, checked as Katib's webhook
    checks it.

    ``path`` is the metrics file (File) or event directory (TensorFlowEvent); ``format`` is
    TEXT or JSON (File); ``filters`` are ``source.filter.metricsFormat`` regular expressions,
    each with two groups (name, value), used by StdOut and File TEXT; ``has_filter``: a
    ``source.filter`` was given (Katib refuses one, even empty, for a JSON file);
    ``resources``: ``collector.resources`` (pipetune extension), the requests and limits of
    the collector container over Katib's defaults (``pipetune.kinds.collector_resources``).
    """

    kind: str = "StdOut"
    path: str | None = None
    path_kind: str | None = None
    format: str | None = None
    filters: tuple[str, ...] = ()
    http_get: Mapping[str, Any] | None = None
    custom_collector: Mapping[str, Any] | None = None
    has_filter: bool = False
    resources: Mapping[str, Mapping[str, str]] | None = None

    def __post_init__(self) -> None:
        where = "spec.metricsCollectorSpec"
        source = f"{where}.source"
        if self.kind not in COLLECTOR_KINDS:
            raise _FieldError(
                f"{where}.collector.kind: expected one of {', '.join(COLLECTOR_KINDS)}, got {self.kind!r}"
            )
        if self.kind == "File":
            if not self.path or not self.path.startswith("/") or self.path_kind != "File":
                raise _FieldError(
                    f"{source}.fileSystemPath: expected kind File and an absolute path, got "
                    f"kind {self.path_kind!r}, path {self.path!r}"
                )
            if self.format not in FILE_FORMATS:
                raise _FieldError(
                    f"{source}.fileSystemPath.format: expected TEXT or JSON, got {self.format!r}"
                )
            if self.format == "JSON" and (self.filters or self.has_filter):
                raise _FieldError(
                    f"{source}.filter: expected no filter for a JSON metrics file (each line "
                    "is a JSON object of metrics)"
                )
        if self.kind == "TensorFlowEvent":
            if self.path_kind != "Directory" or not self.path or not self.path.startswith("/"):
                raise _FieldError(
                    f"{source}.fileSystemPath: expected kind Directory and the absolute path of "
                    f"the folder the event files are written under, got kind {self.path_kind!r}, "
                    f"path {self.path!r}"
                )
            if self.format is not None:
                raise _FieldError(
                    f"{source}.fileSystemPath.format: expected none for TensorFlowEvent (event "
                    f"files have one format), got {self.format!r}"
                )
        if self.kind == "PrometheusMetric":
            self._check_http_get(source)
        if self.kind == "Custom":
            if not self.custom_collector:
                raise _FieldError(f"{where}.collector.customCollector: required for collector kind Custom")
            if self.path is not None and (not self.path.startswith("/") or self.path_kind not in ("File", "Directory")):
                raise _FieldError(
                    f"{source}.fileSystemPath: expected kind File or Directory and an absolute path, "
                    f"got kind {self.path_kind!r}, path {self.path!r}"
                )
        for i, text in enumerate(self.filters):
            _check_metrics_format(text, f"{source}.filter.metricsFormat[{i}]")

    def _check_http_get(self, source: str) -> None:
        http = self.http_get or {}
        port, path = http.get("port", DEFAULT_PROMETHEUS_PORT), http.get("path") or DEFAULT_PROMETHEUS_PATH
        number = port if isinstance(port, int) and not isinstance(port, bool) else None
        if isinstance(port, str) and port.isdigit():
            number = int(port)
        if number is None or number <= 0:
            raise _FieldError(f"{source}.httpGet.port: expected a positive port number, got {port!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise _FieldError(f"{source}.httpGet.path: expected a path starting with '/', got {path!r}")

    @property
    def local_error(self) -> str | None:
        """Why a local run can't collect these metrics, or None when it can."""
        if self.kind in LOCAL_COLLECTOR_KINDS:
            return None
        how = {
            "PrometheusMetric": "Katib scrapes the trial's Prometheus endpoint from a sidecar",
            "Custom": "Katib runs your collector container beside the trial, and no container runs here",
            "Push": "the trial pushes its metrics to Katib's DB manager, which is not here; "
                    "call pipetune.report or print name=value lines",
        }[self.kind]
        return (
            f"spec.metricsCollectorSpec.collector.kind: {self.kind} is not supported for "
            f"local runs ({how}); expected StdOut, File or TensorFlowEvent (or write results.yaml)"
        )

    @property
    def cluster_error(self) -> str | None:
        """Why the Kubernetes engine can't collect these metrics, or None when it can: it
        reads the primary container's log (StdOut) and, for File and TensorFlowEvent, a
        collector container added beside it (``pipetune.kinds.add_metrics_collector``, which
        refuses the kinds it can't be added to)."""
        if self.kind in CLUSTER_COLLECTOR_KINDS:
            return None
        how = {
            "PrometheusMetric": "Katib scrapes the trial's Prometheus endpoint from a sidecar, and "
                                "pipetune's collector reads files, not endpoints",
            "Custom": "Katib runs your collector container beside the trial and reads what it pushes "
                      "to Katib's DB manager, which is not there",
            "Push": "the trial pushes its metrics to Katib's DB manager, which is not there; "
                    "call pipetune.report or print name=value lines",
        }[self.kind]
        return (
            f"spec.metricsCollectorSpec.collector.kind: {self.kind} is not supported on the "
            f"Kubernetes engine ({how}); expected StdOut, File or TensorFlowEvent (or write "
            "results.yaml, which the termination message carries)"
        )


#: Syntax Python's ``re`` reads and Go's ``regexp`` (RE2, which Katib's collector and webhook
#: use) refuses: lookaround and backreferences.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=)|\\[1-9]")
#: Katib's webhook: a metricsFormat needs "two top subexpressions" (its own textual test).
_TWO_GROUPS = re.compile(r".*\(.*\).*\(.*\).*")


def _check_metrics_format(text: str, where: str) -> None:
    """A ``metricsFormat`` expression as Katib's webhook checks it, and with two groups."""
    if _NOT_RE2.search(text):
        raise _FieldError(
            f"{where}: {text!r} uses lookaround or a backreference, which Go's regexp (Katib's) "
            "does not have; expected an RE2 expression"
        )
    try:
        groups = re.compile(text).groups
    except re.error as exc:
        raise _FieldError(f"{where}: not a valid regular expression: {exc}") from None
    if groups < 2 or not _TWO_GROUPS.match(text):
        raise _FieldError(
            f"{where}: expected two groups (metric name, metric value), got {groups} in {text!r}"
        )


@dataclass(frozen=True)
class TrialParameter:
    """``trialTemplate.trialParameters[]``: ``reference`` is a parameter name or a meta
    reference such as ``${trialSpec.Name}``."""

    name: str
    reference: str
    description: str = ""

    @property
    def meta(self) -> MetaReference | None:
        return MetaReference.parse(self.reference)


@dataclass(frozen=True)
class ComponentTrial:
    """A component as the trial (pipetune extension): its spec and its arguments template."""

    component: ComponentSpec
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialTemplate:
    """``spec.trialTemplate``: exactly one of ``trial_spec`` (a resource) and ``component``."""

    trial_parameters: tuple[TrialParameter, ...]
    trial_spec: Mapping[str, Any] | None = None
    component: ComponentTrial | None = None
    primary_container_name: str | None = None
    primary_pod_labels: Mapping[str, str] = field(default_factory=dict)
    success_condition: str | None = None
    failure_condition: str | None = None
    retain: bool = False

    def __post_init__(self) -> None:
        if (self.trial_spec is None) == (self.component is None):
            raise _FieldError(
                "spec.trialTemplate.trialSpec: expected a resource or a component, exactly one"
            )

    @property
    def kind(self) -> str | None:
        return None if self.trial_spec is None else str(self.trial_spec.get("kind"))

    @property
    def api_version(self) -> str | None:
        return None if self.trial_spec is None else str(self.trial_spec.get("apiVersion"))

    def template(self) -> Any:
        """What substitution walks: the resource, or the component's arguments."""
        return self.trial_spec if self.component is None else dict(self.component.arguments)


@dataclass(frozen=True)
class LocalOverride:
    """``spec.local`` (pipetune extension): for a local run, replace the primary container's
    ``command`` and/or ``args`` and add ``env``; placeholders allowed. For images whose
    entrypoint can't run on this machine."""

    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def template(self) -> dict[str, Any]:
        return {
            "command": list(self.command or ()),
            "args": list(self.args or ()),
            "env": dict(self.env),
        }


# -- the experiment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. Cross-field rules are checked here, with the file named:
    counts, trialParameter references, and every placeholder against the trialParameters."""

    name: str
    space: SearchSpace
    objective: Objective
    trial_template: TrialTemplate
    api_version: str = API_VERSION
    namespace: str | None = None
    algorithm: AlgorithmSpec = field(default_factory=AlgorithmSpec)
    early_stopping: EarlyStoppingSpec | None = None
    parallel_trial_count: int = DEFAULT_PARALLEL_TRIAL_COUNT
    max_trial_count: int = DEFAULT_MAX_TRIAL_COUNT
    max_failed_trial_count: int | None = None
    resume_policy: str = "Never"
    metrics_collector: MetricsCollectorSpec = field(default_factory=MetricsCollectorSpec)
    seed: int | None = None
    trial_timeout: float | None = None
    max_trial_retries: int = 0
    local: LocalOverride | None = None
    path: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        src = self.source
        if self.parallel_trial_count > self.max_trial_count:
            raise SpecError(
                f"{src}: spec.parallelTrialCount: {self.parallel_trial_count} is above "
                f"spec.maxTrialCount {self.max_trial_count}; expected at most {self.max_trial_count}"
            )
        # maxFailedTrialCount above maxTrialCount is accepted, unlike Katib's webhook: Katib's
        # own simple-pbt example has it, and it only means failures never end the experiment.
        if self.resume_policy not in RESUME_POLICIES:
            raise SpecError(
                f"{src}: spec.resumePolicy: expected one of {', '.join(RESUME_POLICIES)}, got "
                f"{self.resume_policy!r}"
            )
        self._check_trial_parameters(src)
        self._check_placeholders(src)
        self._check_component_types(src)

    @property
    def source(self) -> str:
        """How messages name this experiment: its file, or its name."""
        return str(self.path) if self.path else f"experiment {self.name!r}"

    @property
    def is_katib(self) -> bool:
        return self.api_version == KATIB_API_VERSION

    @property
    def component(self) -> ComponentSpec | None:
        """The component the trials run, for a component trial spec."""
        trial = self.trial_template.component
        return trial.component if trial else None

    def _check_trial_parameters(self, src: str) -> None:
        template = self.trial_template
        where = "spec.trialTemplate.trialParameters"
        names: set[str] = set()
        references: set[str] = set()
        for i, parameter in enumerate(template.trial_parameters):
            at = f"{where}[{i}] ({parameter.name})"
            if parameter.name in names:
                raise SpecError(f"{src}: {at}.name: {parameter.name!r} is declared twice")
            if parameter.reference in references:
                raise SpecError(
                    f"{src}: {at}.reference: {parameter.reference!r} is referenced twice; expected "
                    "one trialParameter per parameter"
                )
            names.add(parameter.name)
            references.add(parameter.reference)
            try:
                meta = parameter.meta
            except ValueError as exc:
                raise SpecError(f"{src}: {at}.reference: {exc}") from None
            if meta is None:
                if parameter.reference not in self.space.names:
                    raise SpecError(
                        f"{src}: {at}.reference: {parameter.reference!r} is not a parameter; "
                        f"expected one of {', '.join(self.space.names)} or a ${{trialSpec.…}} "
                        "metadata reference"
                    )
                continue
            if template.component is not None and meta.key not in ("Name", "Namespace"):
                raise SpecError(
                    f"{src}: {at}.reference: {meta.text} needs a resource as the trial; a "
                    "component trial has only ${trialSpec.Name} and ${trialSpec.Namespace}"
                )
            if meta.index is not None and template.trial_spec is not None:
                entries = (template.trial_spec.get("metadata") or {}).get(meta.key.lower()) or {}
                if meta.index not in entries:
                    known = ", ".join(sorted(map(str, entries))) or "none"
                    raise SpecError(
                        f"{src}: {at}.reference: {meta.text}: the trialSpec has no "
                        f"{meta.key[:-1].lower()} {meta.index!r} in metadata.{meta.key.lower()} "
                        f"(it has: {known})"
                    )

    def _check_placeholders(self, src: str) -> None:
        template = self.trial_template
        known = {parameter.name: None for parameter in template.trial_parameters}
        where = "spec.trialTemplate.trialSpec" + (".arguments" if template.component else "")
        used = check_placeholders(template.template(), known, src, where)
        if self.local is not None:
            used |= check_placeholders(self.local.template(), known, src, "spec.local")
        for i, parameter in enumerate(template.trial_parameters):
            if parameter.name not in used:
                raise SpecError(
                    f"{src}: spec.trialTemplate.trialParameters[{i}] ({parameter.name}): "
                    f"{placeholder(parameter.name)} is never used in {where}"
                    f"{' or spec.local' if self.local is not None else ''}; expected it in the "
                    "template, or remove the trialParameter"
                )


    def _check_component_types(self, src: str) -> None:
        """A component argument that is one whole placeholder must accept every value its
        parameter can take: a double parameter can't feed an Integer input."""
        trial = self.trial_template.component
        if trial is None:
            return
        references = {p.name: p.reference for p in self.trial_template.trial_parameters}
        for name, value in trial.arguments.items():
            whole = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
            if whole is None or references.get(whole.group(1)) not in self.space.names:
                continue
            parameter = self.space[references[whole.group(1)]]
            declared = trial.component.input(name)
            if not declared.is_parameter:
                continue
            for sample in _samples(parameter):
                try:
                    coerce(sample, declared.type or "String")
                except ValueError as exc:
                    raise SpecError(
                        f"{src}: spec.trialTemplate.trialSpec.arguments.{name}: parameter "
                        f"{parameter.name!r} can take {sample!r}, which input {name!r} "
                        f"({declared.type}) refuses: {exc}"
                    ) from None


def _samples(parameter: Any) -> list[Any]:
    """Values that show whether a parameter fits an input type: the ends of a range (for a
    double range also the first value past its start, never an integer), each listed value."""
    if isinstance(parameter, IntParameter):
        return [int(parameter.min), int(parameter.max)]
    if isinstance(parameter, DoubleParameter):
        low, high = float(parameter.min), float(parameter.max)
        return [low, high, *([math.nextafter(low, high)] if high > low else [])]
    return list(getattr(parameter, "values", ()))
