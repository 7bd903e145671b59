"""What the controller knows about a parent (a CustomRun or an Experiment), as plain functions
over plain data: which CustomRuns are ours, where the experiment spec comes from, how the
CustomRun's params apply to it, the children's names and owner, the tuner's progress as a
status shows it, and the status a standalone Experiment shows. The Tekton custom-task
contract is ``_customtask``; the plan of a reconcile ``_plan``; the I/O ``_reconcile``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipetune.components import format_value
from pipetune.errors import SpecError
from pipetune.experiment import Experiment, experiment_from_dict
from pipetune.kinds import EXPERIMENT_API, EXPERIMENT_KIND
from pipetune.names import experiment_name

#: The status field holding the controller's own state: on a CustomRun nothing else survives
#: the status schema, and the Experiment keeps it in the same place so one code path serves both.
STATE_FIELD = "extraFields"
#: CustomRun params that set the experiment's budget, besides its fixed trial arguments.
BUDGET_PARAMS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount", "seed")
#: An Experiment's name is at most 40 characters (trial names are derived from it).
_PLACEHOLDER = "${trialParameters."
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


class ParentError(SpecError):
    """A parent that can't run: ``reason`` goes on its condition, the message names the cause."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: An Experiment with this label set to "true" is only a template for CustomRuns: it is not run
#: on its own. Without it, an applied Experiment runs, Katib-style.
TEMPLATE_LABEL = "pipetune.dev/template"


def is_template(experiment: Mapping[str, Any]) -> bool:
    """Whether an Experiment is only there for CustomRuns to name (``TEMPLATE_LABEL``)."""
    labels = (experiment.get("metadata") or {}).get("labels") or {}
    return str(labels.get(TEMPLATE_LABEL, "")).lower() == "true"


def is_ours(customrun: Mapping[str, Any]) -> bool:
    """Whether a CustomRun asks for pipetune's Experiment (``customRef`` or ``customSpec``)."""
    spec = customrun.get("spec") or {}
    for key in ("customRef", "customSpec"):
        ref = spec.get(key)
        if isinstance(ref, Mapping) and ref.get("apiVersion") == EXPERIMENT_API and ref.get("kind") == EXPERIMENT_KIND:
            return True
    return False


@dataclass(frozen=True)
class Source:
    """Where a CustomRun's experiment comes from: an Experiment resource by name, or the spec
    embedded in ``customSpec.spec``."""

    name: str | None = None
    spec: Mapping[str, Any] | None = None


def experiment_source(customrun: Mapping[str, Any]) -> Source:
    """The CustomRun's experiment source; ``ParentError`` when it names none."""
    spec = customrun.get("spec") or {}
    ref, embedded = spec.get("customRef"), spec.get("customSpec")
    if isinstance(ref, Mapping) and ref.get("name"):
        return Source(name=str(ref["name"]))
    if isinstance(embedded, Mapping) and isinstance(embedded.get("spec"), Mapping):
        return Source(spec=embedded["spec"])
    raise ParentError(
        "MissingExperiment",
        "the CustomRun names no Experiment: give customRef.name, or the experiment spec under "
        "the pipeline task's taskSpec.spec (customSpec.spec)",
    )


def child_base(name: str, attempt: int = 0) -> str:
    """The experiment name a parent's children derive their names from: the parent's name
    (``-r<attempt>`` for a CustomRun's retry) as a valid Experiment name, so ``<base>-0007-2``
    is still a valid name and label value."""
    return experiment_name(f"{name}-r{attempt}" if attempt else name, fallback="run")


def parse_experiment(
    spec: Mapping[str, Any], name: str, namespace: str, params: list[Mapping[str, Any]] | None = None,
    source: str = "",
) -> Experiment:
    """The experiment ``spec`` describes, named ``name`` in ``namespace``, with the CustomRun's
    ``params`` applied (``experiment_document``). A bad spec is the same ``SpecError``
    ``pipetune tune`` gives, with ``source`` naming where it came from."""
    return experiment_from_dict(experiment_document(spec, name, namespace, params, source), source)


def experiment_document(
    spec: Mapping[str, Any], name: str, namespace: str, params: list[Mapping[str, Any]] | None = None,
    source: str = "",
) -> dict[str, Any]:
    """The Experiment document ``spec`` makes with a custom task's ``params`` applied: a param
    sets a budget field (``BUDGET_PARAMS``) or a fixed argument of a component trial (an input
    no trial parameter sets); any other is a ``ParentError`` (``UnexpectedParams``) that names
    what the experiment takes. The spec is checked before (``SpecError``, as ``pipetune tune``)."""
    document: dict[str, Any] = {
        "apiVersion": EXPERIMENT_API,
        "kind": EXPERIMENT_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": copy.deepcopy(dict(spec)),
    }
    experiment = experiment_from_dict(copy.deepcopy(document), source)
    if not params:
        return document
    body = document["spec"]
    arguments = _fixed_arguments(experiment)
    for param in params:
        key, value = str(param.get("name", "")), param.get("value")
        if key in BUDGET_PARAMS:
            try:
                body[key] = int(str(value))
            except ValueError:
                raise ParentError("InvalidParams", f"{source}: param {key}: expected an integer, got {value!r}") from None
        elif arguments is not None and key in arguments:
            body["trialTemplate"]["trialSpec"].setdefault("arguments", {})[key] = value
        else:
            takes = list(BUDGET_PARAMS) + sorted(arguments or [])
            raise ParentError(
                "UnexpectedParams",
                f"{source}: param {key!r} is not declared by the experiment: it takes {', '.join(takes)}",
            )
    return document


def _fixed_arguments(experiment: Experiment) -> set[str] | None:
    """The inputs of a component trial that no trial parameter sets (given a fixed value, or
    left to their default); None for a resource trial, which takes no arguments."""
    trial = experiment.trial_template.component
    if trial is None:
        return None
    bound = {k for k, v in trial.arguments.items() if _PLACEHOLDER in str(v)}
    return {item.name for item in trial.component.inputs if item.name not in bound}


def owner_reference(parent: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to ``parent``, so the cluster deletes its children with it."""
    metadata = parent.get("metadata") or {}
    return {
        "apiVersion": parent.get("apiVersion"),
        "kind": parent.get("kind"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "controller": True,
    }


# -- the tuner's progress, as a status shows it ----------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """The tuner's state as a parent's status shows it: trials per status (``counts``), how
    many run, the best trial so far and, once it has ended, how."""

    total: int
    counts: Mapping[str, int] = field(default_factory=dict)
    running: int = 0
    metric: str = "objective"
    best_trial: str | None = None
    best_objective: float | None = None
    best_parameters: Mapping[str, Any] | None = None
    best_metrics: Mapping[str, float] | None = None
    parameter_names: tuple[str, ...] = ()
    #: A multi-objective experiment's Pareto front (``tuner.pareto.front_rows``); None for one
    #: objective.
    pareto_front: tuple[Mapping[str, Any], ...] | None = None
    #: ("Succeeded" or "Failed", reason, message) once the experiment has ended.
    ended: tuple[str, str, str] | None = None

    @property
    def done(self) -> int:
        """Trials that have ended, whatever their end."""
        return sum(v for k, v in self.counts.items() if k not in ("Pending", "Running"))

    @property
    def message(self) -> str:
        """``12/30 trials, 3 running, best accuracy 0.931``: the Running condition's message."""
        text = f"{self.done}/{self.total} trials, {self.running} running"
        if self.best_objective is not None:
            text += f", best {self.metric} {self.best_objective:.6g}"
        return text


# -- a standalone Experiment's status ----------------------------------------------------------------


def experiment_status(status: Mapping[str, Any], progress: Progress | None, now: datetime,
                      failure: tuple[str, str] | None = None) -> dict[str, Any]:
    """The next status of a standalone Experiment, Katib-style: conditions ``Created``,
    ``Running`` and, at the end, ``Succeeded`` or ``Failed``; trial counts; the current optimal
    trial. ``failure`` (reason, message) ends it Failed before it could run."""
    new = copy.deepcopy(dict(status))
    stamp = iso(now)
    new.setdefault("startTime", stamp)
    conditions = {c.get("type"): c for c in new.get("conditions") or [] if isinstance(c, Mapping)}
    conditions.setdefault("Created", _condition("Created", "True", "ExperimentCreated", "the experiment is created", stamp))
    if failure is not None:
        conditions["Running"] = _condition("Running", "False", failure[0], failure[1], stamp)
        conditions["Failed"] = _condition("Failed", "True", failure[0], failure[1], stamp)
        new["completionTime"] = stamp
    elif progress is not None:
        _counts(new, progress)
        if progress.ended is not None:
            kind, reason, message = progress.ended
            conditions["Running"] = _condition("Running", "False", reason, message, stamp)
            conditions[kind] = _condition(kind, "True", reason, message, stamp)
            new["completionTime"] = stamp
        else:
            conditions["Running"] = _condition("Running", "True", "ExperimentRunning", progress.message, stamp)
    merged = []
    for kind in ("Created", "Running", "Succeeded", "Failed"):
        if kind in conditions:
            old = condition_of(status, kind)
            condition = conditions[kind]
            if old and all(old.get(k) == condition.get(k) for k in ("status", "reason", "message")):
                condition = old  # unchanged: keep its transition time
            merged.append(condition)
    new["conditions"] = merged
    return new


def experiment_ended(status: Mapping[str, Any]) -> bool:
    """Whether a standalone Experiment's status says it has ended (Succeeded or Failed)."""
    return condition_of(status, "Succeeded").get("status") == "True" or condition_of(status, "Failed").get("status") == "True"


def _counts(status: dict[str, Any], progress: Progress) -> None:
    counts = progress.counts
    status["trials"] = sum(counts.values())
    status["trialsSucceeded"] = counts.get("Succeeded", 0)
    status["trialsFailed"] = counts.get("Failed", 0)
    status["trialsRunning"] = progress.running
    status["trialsPending"] = counts.get("Pending", 0)
    status["trialsKilled"] = counts.get("Killed", 0)
    status["trialsEarlyStopped"] = counts.get("EarlyStopped", 0)
    status["trialMetricsUnavailable"] = counts.get("MetricsUnavailable", 0)
    if progress.best_trial is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": progress.best_trial,
            "parameterAssignments": [
                {"name": k, "value": format_value(v)} for k, v in (progress.best_parameters or {}).items()
            ],
            "observation": {
                "metrics": [{"name": k, "latest": format_value(v)} for k, v in (progress.best_metrics or {}).items()]
            },
        }


def _condition(kind: str, value: str, reason: str, message: str, stamp: str) -> dict[str, Any]:
    return {"type": kind, "status": value, "reason": reason, "message": message,
            "lastUpdateTime": stamp, "lastTransitionTime": stamp}


# -- status helpers shared by both parents -----------------------------------------------------------


def condition_of(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The condition of type ``kind`` in ``status`` (a copy), or an empty dict."""
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return dict(condition)
    return {}


def iso(moment: datetime) -> str:
    """A status timestamp: RFC 3339 in UTC, to the second, as Kubernetes writes them."""
    return moment.astimezone(UTC).strftime(_STAMP)


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, _STAMP).replace(tzinfo=UTC)


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) turning ``old`` into ``new``: maps are patched key by key,
    and a key ``new`` dropped is nulled, since a merge patch keeps what it does not mention."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if before == value and key in old:
            continue
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            patch[key] = status_patch(before, value)
        else:
            patch[key] = value
    return patch
