"""The Experiment: Katib-shaped, validated when built, with messages that name file and field.

Two ``apiVersion``s are read, both ``kind: Experiment``:

* ``kubeflow.org/v1beta1``: a Katib Experiment, accepted unchanged;
* ``pipetune.dev/v1alpha1``: the same fields plus pipetune's extensions: ``spec.seed``,
  ``spec.trialTimeout``, ``spec.maxTrialRetries``, ``spec.local`` and a component as the trial
  (``trialTemplate.trialSpec: {component: PATH, arguments: {...}}``); ``trialParameters`` may
  be omitted there (one per search-space parameter, named like it).

Defaults (Katib's where Katib has one):

=============================  =================================================================
``metadata.name``              the file's stem, lower-cased, other characters turned into ``-``
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

Metrics collectors other than StdOut and File load (the Experiment is valid) and are refused
when a trial is mapped to a local command (:func:`pipetune.experiment.local_command`). A trial
template in a ConfigMap (``trialTemplate.configMap``) is refused at load: nothing here can read
it. Algorithm names and settings are checked at load through the algorithm registry.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, coerce, load_component
from pipetune.errors import SpaceError, SpecError
from pipetune.experiment._substitute import (
    PLACEHOLDER,
    MetaReference,
    check_placeholders,
    placeholder,
)
from pipetune.tuner.objective import Objective
from pipetune.tuner.space import DoubleParameter, IntParameter, SearchSpace
from pipetune.yamlsafe import load_yaml_file

API_VERSION = "pipetune.dev/v1alpha1"
KATIB_API_VERSION = "kubeflow.org/v1beta1"
API_VERSIONS = (API_VERSION, KATIB_API_VERSION)
KIND = "Experiment"

DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_MAX_TRIAL_COUNT = 12
RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
#: Collectors a local run can honour: its log and a file it writes.
LOCAL_COLLECTOR_KINDS = ("StdOut", "File")
FILE_FORMATS = ("TEXT", "JSON")
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"
EARLY_STOPPING_ALGORITHMS = ("medianstop",)

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
_EXTENSION_KEYS = ("seed", "trialTimeout", "maxTrialRetries", "local")
_PARAMETER_KEYS = ("name", "parameterType", "feasibleSpace")
_FEASIBLE_SPACE_KEYS = ("min", "max", "step", "list", "distribution")
_OBJECTIVE_KEYS = ("type", "goal", "objectiveMetricName", "additionalMetricNames", "metricStrategies")
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
_FILE_SYSTEM_PATH_KEYS = ("path", "kind", "format")
_FILTER_KEYS = ("metricsFormat",)
_NAME_VALUE_KEYS = ("name", "value")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NAME_MAX = 40  # Katib's limit: trial names are derived from it
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class _FieldError(SpecError):
    """A problem in one field; the loader prefixes the file. Still a SpecError if it leaks."""


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
        from pipetune.tuner.early_stopping import get_early_stopping

        try:
            get_early_stopping(self.name, self.settings)
        except SpecError as exc:
            raise _FieldError(_placed(str(exc), "spec.earlyStopping", _ALGORITHM_KEYS)) from None

    @property
    def rule(self) -> Any:
        """The validated rule object (``pipetune.tuner.early_stopping.MedianStop``)."""
        from pipetune.tuner.early_stopping import get_early_stopping

        return get_early_stopping(self.name, self.settings)


@dataclass(frozen=True)
class MetricsCollectorSpec:
    """``spec.metricsCollectorSpec``, Katib's defaults filled in.

    ``path`` is the metrics file (File) or event directory (TensorFlowEvent); ``format`` is
    TEXT or JSON (File); ``filters`` are ``source.filter.metricsFormat`` regular expressions,
    each with two groups (name, value), used by StdOut and File TEXT.
    """

    kind: str = "StdOut"
    path: str | None = None
    path_kind: str | None = None
    format: str | None = None
    filters: tuple[str, ...] = ()
    http_get: Mapping[str, Any] | None = None
    custom_collector: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        where = "spec.metricsCollectorSpec"
        if self.kind not in COLLECTOR_KINDS:
            raise _FieldError(
                f"{where}.collector.kind: expected one of {', '.join(COLLECTOR_KINDS)}, got {self.kind!r}"
            )
        if self.kind == "File":
            if not self.path or not self.path.startswith("/") or self.path_kind != "File":
                raise _FieldError(
                    f"{where}.source.fileSystemPath: expected kind File and an absolute path, got "
                    f"kind {self.path_kind!r}, path {self.path!r}"
                )
            if self.format not in FILE_FORMATS:
                raise _FieldError(
                    f"{where}.source.fileSystemPath.format: expected TEXT or JSON, got {self.format!r}"
                )
            if self.format == "JSON" and self.filters:
                raise _FieldError(
                    f"{where}.source.filter: expected no filter for a JSON metrics file (each line "
                    "is a JSON object of metrics)"
                )
        if self.kind == "TensorFlowEvent" and self.path_kind != "Directory":
            raise _FieldError(
                f"{where}.source.fileSystemPath.kind: expected Directory for TensorFlowEvent, got "
                f"{self.path_kind!r}"
            )
        if self.kind == "Custom" and not self.custom_collector:
            raise _FieldError(f"{where}.collector.customCollector: required for collector kind Custom")
        for i, text in enumerate(self.filters):
            try:
                groups = re.compile(text).groups
            except re.error as exc:
                raise _FieldError(
                    f"{where}.source.filter.metricsFormat[{i}]: not a valid regular expression: {exc}"
                ) from None
            if groups < 2:
                raise _FieldError(
                    f"{where}.source.filter.metricsFormat[{i}]: expected two groups (metric name, "
                    f"metric value), got {groups} in {text!r}"
                )

    @property
    def local_error(self) -> str | None:
        """Why a local run can't collect these metrics, or None when it can."""
        if self.kind in LOCAL_COLLECTOR_KINDS:
            return None
        how = {
            "TensorFlowEvent": "reading TensorFlow event files",
            "PrometheusMetric": "scraping a Prometheus endpoint",
            "Custom": "a custom collector container",
            "Push": "trials pushing metrics to Katib's DB manager",
        }[self.kind]
        return (
            f"spec.metricsCollectorSpec.collector.kind: {self.kind} ({how}) is not supported for "
            "local runs; expected StdOut or File (or write results.yaml)"
        )

    @property
    def cluster_error(self) -> str | None:
        """Why the Kubernetes engine can't collect these metrics, or None when it can: it
        reads the primary container's termination message and log, not files in the pod."""
        if self.kind == "StdOut":
            return None
        return (
            f"spec.metricsCollectorSpec.collector.kind: {self.kind} is not supported on the "
            "Kubernetes engine, which reads the primary container's termination message and log; "
            "expected StdOut (or write results.yaml, which the termination message carries)"
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


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Load and validate an Experiment file; ``SpecError`` names the file, field and what was
    expected. A component trial spec's path is resolved against the file's folder."""
    file = Path(path)
    return experiment_from_dict(load_yaml_file(file), file)


def experiment_from_dict(data: Any, source: str | os.PathLike[str] | None = None) -> Experiment:
    """Validate a parsed Experiment document. ``source`` is the file it came from: messages
    name it, and relative component paths resolve against its folder (else the working
    directory)."""
    path = Path(source) if source is not None else None
    src = str(path) if path else "experiment"
    try:
        fields = _parse(data, path)
    except _FieldError as exc:
        raise SpecError(f"{src}: {exc}") from None
    except SpaceError as exc:
        raise SpaceError(f"{src}: {_placed(str(exc), 'spec.parameters')}") from None
    return Experiment(**fields, path=path, raw=data)


# -- parsing -------------------------------------------------------------------------------------


def _parse(data: Any, path: Path | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _FieldError("expected a mapping with apiVersion, kind, metadata and spec")
    _check_keys(data, _TOP_KEYS, "the document")
    api_version = data.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise _FieldError(f"apiVersion: expected one of {', '.join(API_VERSIONS)}, got {api_version!r}")
    if data.get("kind") != KIND:
        raise _FieldError(f"kind: expected Experiment, got {data.get('kind')!r}")
    ours = api_version == API_VERSION
    metadata = _mapping(data.get("metadata"), "metadata", optional=True)
    name = metadata.get("name")
    if name is None:
        name = _default_name(path)
    elif not isinstance(name, str) or not _NAME.match(name) or len(name) > _NAME_MAX:
        raise _FieldError(
            f"metadata.name: expected lower-case letters, digits and '-', starting with a letter, "
            f"at most {_NAME_MAX} characters, got {name!r}"
        )
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise _FieldError(f"metadata.namespace: expected a string, got {namespace!r}")

    spec = _mapping(data.get("spec"), "spec")
    known = _KATIB_SPEC_KEYS + _EXTENSION_KEYS if ours else _KATIB_SPEC_KEYS
    _check_keys(spec, known, "spec", extensions=() if ours else _EXTENSION_KEYS)
    if spec.get("nasConfig") is not None:
        raise _FieldError(
            "spec.nasConfig: neural architecture search (Katib's enas and darts) is not supported; "
            "expected spec.parameters"
        )
    _check_parameter_keys(spec.get("parameters"))
    space = SearchSpace.from_katib(spec.get("parameters"), "spec.parameters")
    algorithm = _algorithm(spec.get("algorithm"))
    seed = _seed(spec.get("seed") if ours else None, algorithm.settings)
    parallel = _int(spec.get("parallelTrialCount"), "spec.parallelTrialCount", 1, DEFAULT_PARALLEL_TRIAL_COUNT)
    max_trials = _int(spec.get("maxTrialCount"), "spec.maxTrialCount", 1, None)
    if max_trials is None:
        max_trials = max(DEFAULT_MAX_TRIAL_COUNT, parallel)
    fields: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "api_version": api_version,
        "space": space,
        "objective": _objective(spec.get("objective")),
        "algorithm": algorithm,
        "early_stopping": _early_stopping(spec.get("earlyStopping")),
        "parallel_trial_count": parallel,
        "max_trial_count": max_trials,
        "max_failed_trial_count": _int(spec.get("maxFailedTrialCount"), "spec.maxFailedTrialCount", 0, None),
        "resume_policy": _string(spec.get("resumePolicy"), "spec.resumePolicy", "Never"),
        "metrics_collector": _collector(spec.get("metricsCollectorSpec")),
        "trial_template": _trial_template(spec.get("trialTemplate"), space, ours, path),
        "seed": seed,
    }
    if ours:
        fields["trial_timeout"] = _duration(spec.get("trialTimeout"), "spec.trialTimeout")
        fields["max_trial_retries"] = _int(spec.get("maxTrialRetries"), "spec.maxTrialRetries", 0, 0)
        fields["local"] = _local(spec.get("local"))
        if fields["local"] is not None and fields["trial_template"].component is not None:
            raise _FieldError(
                "spec.local: overrides a resource's primary container; a component trial runs its "
                "own command, so expected no spec.local"
            )
    if fields["trial_template"].component is not None and fields["metrics_collector"].kind != "StdOut":
        raise _FieldError(
            "spec.metricsCollectorSpec.collector.kind: a component trial reports through "
            f"results.yaml (or its log); expected StdOut, got {fields['metrics_collector'].kind}"
        )
    return fields


def _check_parameter_keys(parameters: Any) -> None:
    """Typos in a parameter (``feasibleSpace.distrbution``) are refused, not ignored; the
    values themselves are checked by ``SearchSpace.from_katib``."""
    if not isinstance(parameters, list):
        return
    for i, item in enumerate(parameters):
        if not isinstance(item, dict):
            continue
        where = f"spec.parameters[{i}]" + (f" ({item['name']})" if isinstance(item.get("name"), str) else "")
        _check_keys(item, _PARAMETER_KEYS, where)
        if isinstance(item.get("feasibleSpace"), dict):
            _check_keys(item["feasibleSpace"], _FEASIBLE_SPACE_KEYS, f"{where}.feasibleSpace")


def _objective(value: Any) -> Objective:
    where = "spec.objective"
    data = _mapping(value, where)
    _check_keys(data, _OBJECTIVE_KEYS, where)
    goal = data.get("goal")
    if goal is not None:
        goal = _number(goal, f"{where}.goal")
    additional = data.get("additionalMetricNames") or []
    if not isinstance(additional, list) or not all(isinstance(n, str) and n for n in additional):
        raise _FieldError(f"{where}.additionalMetricNames: expected a list of metric names")
    strategies = _name_values(data.get("metricStrategies"), f"{where}.metricStrategies", "metric")
    kind = data.get("type")
    if kind is None:
        raise _FieldError(f"{where}.type: required; expected minimize or maximize")
    try:
        return Objective(
            metric=data.get("objectiveMetricName"),
            type=kind,
            goal=goal,
            additional_metrics=tuple(additional),
            metric_strategies=strategies,
        )
    except SpecError as exc:
        raise _FieldError(str(exc)) from None


def _algorithm(value: Any) -> AlgorithmSpec:
    where = "spec.algorithm"
    if value is None:
        return AlgorithmSpec()
    data = _mapping(value, where)
    _check_keys(data, _ALGORITHM_KEYS, where)
    name = data.get("algorithmName")
    if name is not None and (not isinstance(name, str) or not name):
        raise _FieldError(f"{where}.algorithmName: expected an algorithm name, got {name!r}")
    settings = _settings(data.get("algorithmSettings"), f"{where}.algorithmSettings")
    if name is not None:
        from pipetune.tuner.algorithms import get_algorithm

        try:
            get_algorithm(name, settings)
        except SpecError as exc:
            raise _FieldError(_placed(str(exc), "spec.algorithm", _ALGORITHM_KEYS)) from None
    return AlgorithmSpec(name, settings)


def _early_stopping(value: Any) -> EarlyStoppingSpec | None:
    where = "spec.earlyStopping"
    if value is None:
        return None
    data = _mapping(value, where)
    _check_keys(data, _ALGORITHM_KEYS, where)
    name = data.get("algorithmName")
    if not isinstance(name, str) or not name:
        raise _FieldError(
            f"{where}.algorithmName: expected one of {', '.join(EARLY_STOPPING_ALGORITHMS)}, got {name!r}"
        )
    return EarlyStoppingSpec(name, _settings(data.get("algorithmSettings"), f"{where}.algorithmSettings"))


def _settings(value: Any, where: str) -> dict[str, str]:
    """Katib's ``[{name, value}]`` settings as a name -> string map."""
    settings: dict[str, str] = {}
    for name, text in _name_values(value, where, "setting").items():
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise _FieldError(f"{where} ({name}).value: expected a string, got {text!r}")
        settings[name] = text if isinstance(text, str) else str(text)
    return settings


def _name_values(value: Any, where: str, noun: str) -> dict[str, Any]:
    """Katib's ``[{name, value}]`` lists (settings, metric strategies) as a map, each name once."""
    found: dict[str, Any] = {}
    for i, item in enumerate(_list(value, where)):
        at = f"{where}[{i}]"
        item = _mapping(item, at)
        _check_keys(item, _NAME_VALUE_KEYS, at)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _FieldError(f"{at}.name: expected a {noun} name, got {name!r}")
        if name in found:
            raise _FieldError(f"{at}.name: {name!r} is given twice")
        found[name] = item.get("value")
    return found


def _seed(value: Any, settings: Mapping[str, str]) -> int | None:
    seed = None
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(f"spec.seed: expected an integer, got {value!r}")
        seed = value
    if "random_state" in settings:
        text = settings["random_state"]
        try:
            state = int(text.strip())
        except ValueError:
            raise _FieldError(
                f"spec.algorithm.algorithmSettings (random_state).value: expected an integer, got {text!r}"
            ) from None
        if seed is not None and seed != state:
            raise _FieldError(
                f"spec.seed: {seed} differs from spec.algorithm.algorithmSettings random_state "
                f"{state}; expected one seed (give either, or the same value)"
            )
        seed = state
    return seed


def _collector(value: Any) -> MetricsCollectorSpec:
    where = "spec.metricsCollectorSpec"
    if value is None:
        return MetricsCollectorSpec()
    data = _mapping(value, where)
    _check_keys(data, _COLLECTOR_SPEC_KEYS, where)
    collector = _mapping(data.get("collector"), f"{where}.collector", optional=True)
    _check_keys(collector, _COLLECTOR_KEYS, f"{where}.collector")
    kind = collector.get("kind") or "StdOut"
    source = _mapping(data.get("source"), f"{where}.source", optional=True)
    _check_keys(source, _SOURCE_KEYS, f"{where}.source")
    file_path = _mapping(source.get("fileSystemPath"), f"{where}.source.fileSystemPath", optional=True)
    _check_keys(file_path, _FILE_SYSTEM_PATH_KEYS, f"{where}.source.fileSystemPath")
    filters = _mapping(source.get("filter"), f"{where}.source.filter", optional=True)
    _check_keys(filters, _FILTER_KEYS, f"{where}.source.filter")
    formats = _list(filters.get("metricsFormat"), f"{where}.source.filter.metricsFormat")
    if not all(isinstance(text, str) for text in formats):
        raise _FieldError(f"{where}.source.filter.metricsFormat: expected a list of regular expressions")
    path = _string(file_path.get("path"), f"{where}.source.fileSystemPath.path", None)
    path_kind = _string(file_path.get("kind"), f"{where}.source.fileSystemPath.kind", None)
    file_format = _string(file_path.get("format"), f"{where}.source.fileSystemPath.format", None)
    if kind == "File":
        path_kind = path_kind or "File"
        path = path or DEFAULT_METRICS_FILE
        file_format = file_format or "TEXT"
    elif kind == "TensorFlowEvent":
        path_kind = path_kind or "Directory"
        path = path or DEFAULT_TFEVENT_DIR
    http_get = source.get("httpGet")
    custom = collector.get("customCollector")
    return MetricsCollectorSpec(
        kind=kind,
        path=path,
        path_kind=path_kind,
        format=file_format,
        filters=tuple(formats),
        http_get=dict(http_get) if isinstance(http_get, dict) else None,
        custom_collector=dict(custom) if isinstance(custom, dict) else None,
    )


def _trial_template(value: Any, space: SearchSpace, ours: bool, path: Path | None) -> TrialTemplate:
    where = "spec.trialTemplate"
    data = _mapping(value, where)
    _check_keys(data, _TEMPLATE_KEYS, where)
    if data.get("configMap") is not None:
        config = data["configMap"] if isinstance(data["configMap"], dict) else {}
        named = "/".join(str(config.get(k)) for k in ("configMapNamespace", "configMapName") if config.get(k))
        raise _FieldError(
            f"{where}.configMap: a trial template read from a ConfigMap ({named or 'unnamed'}"
            f"{', ' + str(config['templatePath']) if config.get('templatePath') else ''}) is not "
            f"supported; expected the template inline as {where}.trialSpec"
        )
    trial_spec = data.get("trialSpec")
    if trial_spec is None:
        raise _FieldError(f"{where}.trialSpec: required; expected the trial's resource")
    trial_spec = _mapping(trial_spec, f"{where}.trialSpec")
    component = None
    if "component" in trial_spec:
        if not ours:
            raise _FieldError(
                f"{where}.trialSpec.component: a component trial is a pipetune extension; "
                f"expected apiVersion {API_VERSION}"
            )
        component = _component_trial(trial_spec, f"{where}.trialSpec", path)
        trial_spec = None
    else:
        _check_resource(trial_spec, f"{where}.trialSpec")
        trial_spec = copy.deepcopy(trial_spec)  # no aliasing with the caller's document
    raw_parameters = data.get("trialParameters")
    if raw_parameters is None:
        if not ours:
            raise _FieldError(f"{where}.trialParameters: required; expected a list of {{name, reference}}")
        parameters = tuple(TrialParameter(name, name) for name in space.names)
    else:
        parameters = tuple(
            _trial_parameter(item, f"{where}.trialParameters[{i}]")
            for i, item in enumerate(_list(raw_parameters, f"{where}.trialParameters"))
        )
    labels = _mapping(data.get("primaryPodLabels"), f"{where}.primaryPodLabels", optional=True)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _FieldError(f"{where}.primaryPodLabels: expected a map of strings")
    retain = data.get("retain", False)
    if not isinstance(retain, bool):
        raise _FieldError(f"{where}.retain: expected true or false, got {retain!r}")
    for key in ("successCondition", "failureCondition"):
        text = _string(data.get(key), f"{where}.{key}", None)
        if text is not None:
            from pipetune.kinds import ConditionError, compile_condition

            try:
                compile_condition(text)
            except ConditionError as exc:
                raise _FieldError(f"{where}.{key}: {exc}") from None
    return TrialTemplate(
        trial_parameters=parameters,
        trial_spec=trial_spec,
        component=component,
        primary_container_name=_string(data.get("primaryContainerName"), f"{where}.primaryContainerName", None),
        primary_pod_labels=labels,
        success_condition=_string(data.get("successCondition"), f"{where}.successCondition", None),
        failure_condition=_string(data.get("failureCondition"), f"{where}.failureCondition", None),
        retain=retain,
    )


def _check_resource(resource: dict[str, Any], where: str) -> None:
    for key in ("apiVersion", "kind"):
        if not isinstance(resource.get(key), str) or not resource.get(key):
            raise _FieldError(f"{where}.{key}: required; expected the trial resource's {key}")
    metadata = resource.get("metadata")
    if metadata is not None:
        metadata = _mapping(metadata, f"{where}.metadata")
        for key in ("name", "namespace"):
            if key in metadata:
                raise _FieldError(
                    f"{where}.metadata.{key}: expected it omitted; each trial sets its own {key}"
                )


def _component_trial(data: dict[str, Any], where: str, path: Path | None) -> ComponentTrial:
    _check_keys(data, _COMPONENT_TRIAL_KEYS, where)
    reference = data.get("component")
    if not isinstance(reference, str) or not reference.strip():
        raise _FieldError(f"{where}.component: expected the path of a component.yaml, got {reference!r}")
    file = _component_path(reference, path)
    try:
        spec = load_component(file)
    except SpecError as exc:
        raise _FieldError(f"{where}.component: {exc}") from None
    arguments = _mapping(data.get("arguments"), f"{where}.arguments", optional=True)
    declared = {item.name: item for item in spec.inputs}
    for name in arguments:
        if name not in declared:
            raise _FieldError(
                f"{where}.arguments.{name}: not an input of component {spec.name!r}; expected one of "
                f"{', '.join(declared) or 'none'}"
            )
    missing = [item.name for item in spec.inputs if item.required and item.name not in arguments]
    if missing:
        raise _FieldError(
            f"{where}.arguments: component {spec.name!r} needs input {missing[0]!r}; expected it "
            "among the arguments"
        )
    return ComponentTrial(spec, copy.deepcopy(arguments))


def _component_path(reference: str, path: Path | None) -> Path:
    """A component reference resolved against the experiment's folder; a bare catalog name
    (``train-sklearn``) that is not a path there names a catalog component."""
    base = path.parent if path is not None else Path.cwd()
    file = (base / Path(reference).expanduser()).resolve()
    if not file.exists() and "/" not in reference and not reference.endswith((".yaml", ".yml")):
        from pipetune.catalog import component_file

        catalog = component_file(reference)
        if catalog.exists():
            return catalog
    return file


def _trial_parameter(value: Any, where: str) -> TrialParameter:
    data = _mapping(value, where)
    _check_keys(data, _TRIAL_PARAMETER_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not name or "{" in name or "}" in name:
        raise _FieldError(f"{where}.name: expected a name without '{{' or '}}', got {name!r}")
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference:
        raise _FieldError(f"{where} ({name}).reference: expected a parameter name, got {reference!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _FieldError(f"{where} ({name}).description: expected a string")
    return TrialParameter(name, reference, description)


def _local(value: Any) -> LocalOverride | None:
    where = "spec.local"
    if value is None:
        return None
    data = _mapping(value, where)
    _check_keys(data, _LOCAL_KEYS, where)
    argv: dict[str, tuple[str, ...] | None] = {}
    for key in ("command", "args"):
        items = data.get(key)
        if items is None:
            argv[key] = None
            continue
        if not isinstance(items, list) or not all(isinstance(i, (str, int, float)) and not isinstance(i, bool) for i in items):
            raise _FieldError(f"{where}.{key}: expected a list of strings")
        argv[key] = tuple(i if isinstance(i, str) else str(i) for i in items)
    if argv["command"] is None and argv["args"] is None:
        raise _FieldError(f"{where}: expected command, args or both")
    env = _mapping(data.get("env"), f"{where}.env", optional=True)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise _FieldError(f"{where}.env: expected a map of strings (quote numbers)")
    return LocalOverride(argv["command"], argv["args"], dict(env))


# -- small checks --------------------------------------------------------------------------------


def _check_keys(
    data: Mapping[str, Any], known: tuple[str, ...], where: str, extensions: tuple[str, ...] = ()
) -> None:
    for key in data:
        if key in known:
            continue
        if key in extensions:
            raise _FieldError(
                f"{where}.{key}: a pipetune extension; expected apiVersion {API_VERSION} to use it "
                f"(Katib's fields: {', '.join(known)})"
            )
        raise _FieldError(f"{where}: unknown field {key!r}; expected one of {', '.join(known)}")


def _mapping(value: Any, where: str, optional: bool = False) -> dict[str, Any]:
    if value is None and optional:
        return {}
    if value is None:
        raise _FieldError(f"{where}: required; expected a mapping")
    if not isinstance(value, dict):
        raise _FieldError(f"{where}: expected a mapping, got {_shown(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _FieldError(f"{where}: expected a list, got {_shown(value)}")
    return value


def _string(value: Any, where: str, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _FieldError(f"{where}: expected a string, got {value!r}")
    return value


def _int(value: Any, where: str, minimum: int, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _FieldError(f"{where}: expected an integer of {minimum} or more, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    """A finite number, or a string holding one (Katib writes some numbers as strings)."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number):
        raise _FieldError(f"{where}: expected a number, got {value!r}")
    return number


def _duration(value: Any, where: str) -> float | None:
    """Seconds, as a number or a Go duration (``90s``, ``10m``, ``1h30m``)."""
    if value is None:
        return None
    seconds: float | None = None
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = list(_DURATION_PART.finditer(text))
            if parts and "".join(p.group(0) for p in parts) == text:
                seconds = sum(float(p.group(1)) * _DURATION_UNITS[p.group(2)] for p in parts)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise _FieldError(
            f"{where}: expected a positive number of seconds or a duration such as 90s, 10m, 1h30m; "
            f"got {value!r}"
        )
    return seconds


def _default_name(path: Path | None) -> str:
    stem = path.stem if path is not None else "experiment"
    name = re.sub(r"[^a-z0-9-]+", "-", stem.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:_NAME_MAX].rstrip("-")
    return name or "experiment"


def _placed(message: str, field: str, children: tuple[str, ...] = ()) -> str:
    """Another module's message placed under the spec field it concerns:
    ``algorithm.algorithmName: x`` and ``algorithmSettings: x`` go under ``spec.algorithm``; a
    message that names no field becomes ``spec.algorithm: message``."""
    if message.startswith("spec."):
        return message
    parent, _, head = field.rpartition(".")
    token = re.match(r"^([A-Za-z_]+)", message)
    first = token.group(1) if token else ""
    if first == head:
        return f"{parent}.{message}"
    if first in children:
        return f"{field}.{message}"
    return f"{field}: {message}"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)
