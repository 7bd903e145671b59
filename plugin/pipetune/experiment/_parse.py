"""Experiment documents read into the model: :func:`load_experiment` and :func:`experiment_from_dict`.

Each part of the document is checked as it is read, with the field kit of
:mod:`pipetune.experiment._fields`, against the key tuples of :mod:`pipetune.experiment._model`;
a message names the field and what was expected, and the loader puts the file in front of it.
What needs more than one field (counts, references, placeholders) is checked by the
:class:`~pipetune.experiment.Experiment` itself when it is built. The defaults are listed in
:mod:`pipetune.experiment._model`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetune.catalog import component_file
from pipetune.components import load_component
from pipetune.errors import SpaceError, SpecError
from pipetune.experiment._fields import (
    _check_keys,
    _duration,
    _FieldError,
    _int,
    _list,
    _mapping,
    _number,
    _placed,
    _string,
)
from pipetune.experiment._model import (
    _ALGORITHM_KEYS,
    _COLLECTOR_EXTENSION_KEYS,
    _COLLECTOR_KEYS,
    _COLLECTOR_SPEC_KEYS,
    _COMPONENT_TRIAL_KEYS,
    _CONSTRAINT_KEYS,
    _EXTENSION_KEYS,
    _FEASIBLE_SPACE_KEYS,
    _FILE_SYSTEM_PATH_KEYS,
    _FILTER_KEYS,
    _KATIB_SPEC_KEYS,
    _LOCAL_KEYS,
    _NAME,
    _NAME_MAX,
    _NAME_VALUE_KEYS,
    _OBJECTIVE_KEYS,
    _OBJECTIVES_KEYS,
    _PARAMETER_KEYS,
    _RESOURCES_KEYS,
    _SOURCE_KEYS,
    _TEMPLATE_KEYS,
    _TOP_KEYS,
    _TRIAL_PARAMETER_KEYS,
    API_VERSION,
    API_VERSIONS,
    DEFAULT_MAX_TRIAL_COUNT,
    DEFAULT_METRICS_FILE,
    DEFAULT_PARALLEL_TRIAL_COUNT,
    DEFAULT_TFEVENT_DIR,
    EARLY_STOPPING_ALGORITHMS,
    KIND,
    AlgorithmSpec,
    ComponentTrial,
    EarlyStoppingSpec,
    Experiment,
    LocalOverride,
    MetricsCollectorSpec,
    TrialParameter,
    TrialTemplate,
)
from pipetune.kinds import ConditionError, compile_condition
from pipetune.names import experiment_name
from pipetune.tuner.algorithms import get_algorithm
from pipetune.tuner.objective import Constraint, Objective
from pipetune.tuner.space import SearchSpace
from pipetune.yamlsafe import load_yaml_file


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
    _check_keys(spec, known, "spec", extensions=() if ours else _EXTENSION_KEYS, extension_api=API_VERSION)
    if spec.get("nasConfig") is not None:
        raise _FieldError(
            "spec.nasConfig: neural architecture search (Katib's enas and darts) is not supported; "
            "expected spec.parameters"
        )
    _check_parameter_keys(spec.get("parameters"))
    space = SearchSpace.from_katib(spec.get("parameters"), "spec.parameters")
    objective = _objectives(spec)
    algorithm = _algorithm(spec.get("algorithm"), len(objective.objectives))
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
        "objective": objective,
        "algorithm": algorithm,
        "early_stopping": _early_stopping(spec.get("earlyStopping")),
        "parallel_trial_count": parallel,
        "max_trial_count": max_trials,
        "max_failed_trial_count": _int(spec.get("maxFailedTrialCount"), "spec.maxFailedTrialCount", 0, None),
        "resume_policy": _string(spec.get("resumePolicy"), "spec.resumePolicy", "Never"),
        "metrics_collector": _collector(spec.get("metricsCollectorSpec"), ours),
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
    metric: Any = data.get("objectiveMetricName")  # Objective refuses a missing or odd one, naming it
    try:
        return Objective(
            metric=metric,
            type=kind,
            goal=goal,
            additional_metrics=tuple(additional),
            metric_strategies=strategies,
        )
    except SpecError as exc:
        raise _FieldError(str(exc)) from None


def _objectives(spec: Mapping[str, Any]) -> Objective:
    """``spec.objective``, or ``spec.objectives`` (exactly one of them), with
    ``spec.constraints``: the first objective, the others and the constraints on it."""
    listed = spec.get("objectives")
    constraints = _constraints(spec.get("constraints"))
    if listed is None:
        if spec.get("objective") is None:
            raise _FieldError("spec.objective: required; expected a mapping {type, objectiveMetricName} "
                              "(or, with apiVersion pipetune.dev/v1alpha1, spec.objectives: a list of them)")
        objective = _objective(spec.get("objective"))
        return replace(objective, constraints=constraints) if constraints else objective
    if spec.get("objective") is not None:
        raise _FieldError(
            "spec.objectives: expected either spec.objective (one objective) or spec.objectives "
            "(a list), not both"
        )
    items = _list(listed, "spec.objectives")
    if not items:
        raise _FieldError("spec.objectives: expected a list of {type, objectiveMetricName, goal}, got []")
    objectives = []
    for i, item in enumerate(items):
        where = f"spec.objectives[{i}]"
        data = _mapping(item, where)
        _check_keys(data, _OBJECTIVES_KEYS, where)
        goal = data.get("goal")
        if goal is not None:
            goal = _number(goal, f"{where}.goal")
        kind = data.get("type")
        if kind is None:
            raise _FieldError(f"{where}.type: required; expected minimize or maximize")
        metric: Any = data.get("objectiveMetricName")
        try:
            objectives.append(Objective(metric=metric, type=kind, goal=goal))
        except SpecError as exc:
            raise _FieldError(str(exc).replace("spec.objective", where, 1)) from None
    try:
        return replace(objectives[0], others=tuple(objectives[1:]), constraints=constraints)
    except SpecError as exc:
        raise _FieldError(str(exc)) from None


def _constraints(value: Any) -> tuple[Constraint, ...]:
    found = []
    for i, item in enumerate(_list(value, "spec.constraints")):
        where = f"spec.constraints[{i}]"
        data = _mapping(item, where)
        _check_keys(data, _CONSTRAINT_KEYS, where)
        name = data.get("metricName")
        if not isinstance(name, str) or not name:
            raise _FieldError(f"{where}.metricName: expected a metric name, got {name!r}")
        bounds = {key: _number(data[key], f"{where}.{key}") if data.get(key) is not None else None
                  for key in ("min", "max")}
        try:
            found.append(Constraint(name, bounds["min"], bounds["max"]))
        except SpecError as exc:
            raise _FieldError(str(exc).replace(f"spec.constraints ({name})", f"{where} ({name})")) from None
    return tuple(found)


def _algorithm(value: Any, objectives: int = 1) -> AlgorithmSpec:
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
        try:
            get_algorithm(name, settings, objectives=objectives)
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


def _collector(value: Any, ours: bool = False) -> MetricsCollectorSpec:
    where = "spec.metricsCollectorSpec"
    if value is None:
        return MetricsCollectorSpec()
    data = _mapping(value, where)
    _check_keys(data, _COLLECTOR_SPEC_KEYS, where)
    collector = _mapping(data.get("collector"), f"{where}.collector", optional=True)
    known = _COLLECTOR_KEYS + _COLLECTOR_EXTENSION_KEYS if ours else _COLLECTOR_KEYS
    _check_keys(collector, known, f"{where}.collector",
                extensions=() if ours else _COLLECTOR_EXTENSION_KEYS, extension_api=API_VERSION)
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
        has_filter=source.get("filter") is not None,
        resources=_resources(collector.get("resources"), f"{where}.collector.resources"),
    )


#: A Kubernetes quantity (``500m``, ``1Gi``, ``2``, ``1e3``); a negative one removes the entry.
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")


def _resources(value: Any, where: str) -> dict[str, dict[str, str]] | None:
    """``collector.resources``: ``requests`` and ``limits``, each resource name to a quantity."""
    if value is None:
        return None
    data = _mapping(value, where)
    _check_keys(data, _RESOURCES_KEYS, where)
    found: dict[str, dict[str, str]] = {}
    for part in _RESOURCES_KEYS:
        entries = _mapping(data.get(part), f"{where}.{part}", optional=True)
        for name, quantity in entries.items():
            text = str(quantity).strip() if isinstance(quantity, (str, int, float)) and not isinstance(quantity, bool) else ""
            if not _QUANTITY.match(text):
                raise _FieldError(
                    f"{where}.{part}.{name}: expected a Kubernetes quantity (500m, 100Mi, 1) or a "
                    f"negative one (-1) to set none, got {quantity!r}"
                )
            found.setdefault(part, {})[str(name)] = text
    return found


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


def _default_name(path: Path | None) -> str:
    return experiment_name(path.stem if path is not None else "experiment")

