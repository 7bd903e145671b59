"""What KFP's driver decides, as one pure function over a plan and what has happened so far:
which task instances start, which are skipped (a false condition), which end without a run
(an importer of a local file, a cache hit, an input that cannot be resolved), and, once the
root DAG has ended, whether the pipeline succeeded.

The rules, as KFP runs a compiled pipeline (its driver per task, Argo's DAG semantics):

- A task waits for every task it depends on to end. When one failed (or never started because
  its own upstream failed), the task does not start either, unless its trigger strategy is
  ``ALL_UPSTREAM_TASKS_COMPLETED`` (``ignore_upstream_failure``, an exit handler's task). A
  task after a skipped one runs. Within one DAG, after a task failed no new task of that DAG
  starts, except those that run whatever their upstream did; running ones finish.
- A task with a condition is evaluated on its own input parameters (``_kfp_cel``); false skips
  it, and a skipped DAG task skips everything in it.
- A nested DAG (a sub-pipeline, a condition branch, an exit handler body) runs its tasks with
  its inputs; its outputs come from its subtasks' (the first producer that ran, for
  ``dsl.OneOf``). A DAG succeeds when none of its tasks failed.
- A loop runs its body once per item (a static list, a list parameter or a list of
  artifacts), at most ``parallelismLimit`` iterations at once; its outputs are the lists of its
  iterations' outputs (``dsl.Collected``).

Instances are keyed by path: ``task`` in the root, ``dag/task`` inside a nested DAG,
``loop[i]/task`` in a loop's i-th iteration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.engines.base import Phase
from pipetune.kfp import typed
from pipetune.pipeline._kfp import DagPlan, PipelinePlan, TaskPlan, task_needs
from pipetune.pipeline._kfp_cel import CelError, evaluate, parse_condition
from pipetune.pipeline._schedule import SKIPPED, TaskOutcome

#: A runtime artifact as the executor input and output carry it: name, type, uri, metadata.
Artifact = dict[str, Any]

_FINAL = ("succeeded", "failed", "skipped", "omitted")


@dataclass
class Produced:
    """A task instance's outputs: parameters, and artifacts (each a list: an output of a loop
    or an artifact-list output holds several)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)


@dataclass(frozen=True)
class Want:
    """A task instance to run: its key, its task, its resolved inputs, its DAG's name and that
    DAG's input parameters (``scope``: what the platform section's names refer to)."""

    key: str
    task: TaskPlan
    parameters: Mapping[str, Any]
    artifacts: Mapping[str, list[Artifact]]
    dag: str
    scope: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ended:
    """A task instance that ends without a run: ``Succeeded`` with ``produced`` (reason
    ``Cached`` or ``Imported``), or ``Failed`` with ``message``; ``run_id``: the earlier run
    whose outputs a cache hit reused (the scheduler records the hit as a run pointing at it)."""

    phase: Phase
    reason: str
    message: str
    produced: Produced = field(default_factory=Produced)
    run_id: str | None = None


@dataclass
class Verdict:
    """One decision: what to start, end without a run and skip; ``done`` once the root DAG
    ended, with ``succeeded`` and ``message``."""

    start: list[Want] = field(default_factory=list)
    end: dict[str, Ended] = field(default_factory=dict)
    skip: dict[str, str] = field(default_factory=dict)
    done: bool = False
    succeeded: bool = False
    message: str = ""
    outputs: Produced = field(default_factory=Produced)


@dataclass
class _State:
    status: str  # waiting | running | succeeded | failed | skipped | omitted
    produced: Produced = field(default_factory=Produced)
    message: str = ""

    @property
    def final(self) -> bool:
        return self.status in _FINAL


#: How an instance that needs no run ends (an importer, a cache hit): ``None`` to run it.
Shortcut = Callable[[Want], "Ended | None"]


def decide_kfp(plan: PipelinePlan, values: Mapping[str, Any], artifacts: Mapping[str, list[Artifact]],
               outcomes: Mapping[str, TaskOutcome], produced: Mapping[str, Produced],
               shortcut: Shortcut, job_resource_name: str) -> Verdict:
    """The decision for ``plan`` run with pipeline parameter ``values`` and input
    ``artifacts``, given every instance's ``outcomes`` and the outputs of those that
    succeeded (``produced``); ``shortcut`` ends an instance without a run when it can."""
    walk = _Walk(plan, outcomes, produced, shortcut, job_resource_name)
    state = walk.dag(plan.root, "", dict(values), {k: list(v) for k, v in artifacts.items()})
    verdict = walk.verdict
    if not state.final:
        return verdict
    verdict.done = True
    verdict.succeeded = state.status == "succeeded"
    if verdict.succeeded:
        verdict.message = "all tasks succeeded"
        verdict.outputs = state.produced
        return verdict
    failed = [k for k, o in outcomes.items() if o.final and not o.skipped and o.phase is not Phase.SUCCEEDED]
    failed += [k for k, e in verdict.end.items() if e.phase is not Phase.SUCCEEDED]
    if failed:
        first = outcomes.get(failed[0])
        why = (first.message or first.reason) if first is not None else verdict.end[failed[0]].message
        verdict.message = f"task {failed[0]} failed: {why}"
    else:
        verdict.message = state.message or "failed"
    if walk.omitted:
        verdict.message += f"; not started: {', '.join(walk.omitted)}"
    return verdict


class _Walk:
    def __init__(self, plan: PipelinePlan, outcomes: Mapping[str, TaskOutcome], produced: Mapping[str, Produced],
                 shortcut: Shortcut, job_resource_name: str) -> None:
        self.plan, self.outcomes, self.produced, self.shortcut = plan, outcomes, produced, shortcut
        self.job = job_resource_name
        self.verdict = Verdict()
        self.omitted: list[str] = []
        self.begun: set[str] = set()
        for key in outcomes:
            parts = key.split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                self.begun.add(prefix)
                self.begun.add(prefix.split("[")[0] if prefix.endswith("]") else prefix)

    def dag(self, dag: DagPlan, prefix: str, parameters: dict[str, Any],
            artifacts: dict[str, list[Artifact]]) -> _State:
        states: dict[str, _State] = {}
        stopped = False
        for name in dag.order:
            task = dag.tasks[name]
            key = prefix + name
            needs = [states[n] for n in sorted(task_needs(task))]
            if not all(s.final for s in needs):
                states[name] = _State("waiting")
                continue
            upstream_failed = any(s.status in ("failed", "omitted") for s in needs)
            if (upstream_failed or stopped) and not task.all_upstream and key not in self.begun:
                states[name] = _State("omitted")
                self.omitted.append(key)
                continue
            state = self.task(task, key, dag, parameters, artifacts, states)
            states[name] = state
            if state.status == "failed":
                stopped = True
        if not all(s.final for s in states.values()):
            return _State("running")
        failed = [s for s in states.values() if s.status == "failed"]
        if failed:
            return _State("failed", message=failed[0].message)
        if any(s.status == "omitted" for s in states.values()):
            return _State("omitted")
        out = Produced()
        for output_name, output in dag.outputs.items():
            for producer, output_key in output.selectors:
                got = states[producer]
                if got.status != "succeeded":
                    continue
                if output.artifact and output_key in got.produced.artifacts:
                    out.artifacts[output_name] = got.produced.artifacts[output_key]
                    break
                if not output.artifact and output_key in got.produced.parameters:
                    out.parameters[output_name] = got.produced.parameters[output_key]
                    break
        return _State("succeeded", out)

    def task(self, task: TaskPlan, key: str, dag: DagPlan, parameters: Mapping[str, Any],
             artifacts: Mapping[str, list[Artifact]], states: Mapping[str, _State]) -> _State:
        outcome = self.outcomes.get(key)
        if outcome is not None and outcome.skipped:
            return _State("skipped", message=outcome.message or "")
        if task.kind != "dag" and outcome is not None:
            return self.container_state(key, outcome)
        if key in self.verdict.end:
            return self.container_state(key, None)
        try:
            given, given_artifacts = self.inputs(task, key, parameters, artifacts, states)
        except _Unresolved as exc:
            return self.end(key, Ended(Phase.FAILED, "InputMissing", str(exc)))
        if task.condition and key not in self.begun:
            try:
                holds = evaluate(parse_condition(task.condition, key), given)
            except CelError as exc:
                return self.end(key, Ended(Phase.FAILED, "ConditionFailed",
                                           f"condition {task.condition!r}: {exc}"))
            if holds is not True:
                reason = f"condition {task.condition} is false"
                self.verdict.skip[key] = reason
                return _State("skipped", message=reason)
        if task.kind == "dag":
            return self.nested(task, key, given, given_artifacts)
        want = Want(key, task, given, given_artifacts, dag.name, parameters)
        ended = self.shortcut(want)
        if ended is not None:
            return self.end(key, ended)
        self.verdict.start.append(want)
        return _State("running")

    def end(self, key: str, ended: Ended) -> _State:
        self.verdict.end[key] = ended
        if ended.phase is Phase.SUCCEEDED:
            return _State("succeeded", ended.produced)
        return _State("failed", message=f"task {key} failed: {ended.message}")

    def container_state(self, key: str, outcome: TaskOutcome | None) -> _State:
        if outcome is None:
            ended = self.verdict.end[key]
            return _State("succeeded" if ended.phase is Phase.SUCCEEDED else "failed", ended.produced, ended.message)
        if not outcome.final:
            return _State("running")
        if outcome.phase is Phase.SUCCEEDED:
            return _State("succeeded", self.produced.get(key) or Produced())
        return _State("failed", message=f"task {key} failed: {outcome.message or outcome.reason}")

    def nested(self, task: TaskPlan, key: str, given: Mapping[str, Any],
               given_artifacts: Mapping[str, list[Artifact]]) -> _State:
        body = self.plan.dags[task.dag or ""]
        scope = {k: v for k, v in body.defaults.items()}
        scope.update({k: typed_value(v, body.input_types.get(k), f"task {key}: input {k}") for k, v in given.items()})
        iterator = task.iterator
        if iterator is None:
            return self.dag(body, key + "/", scope, dict(given_artifacts))
        if iterator.raw is not None:
            items: list[Any] = list(iterator.raw)
        elif iterator.artifact:
            items = list(given_artifacts.get(iterator.items_input or "", []))
        else:
            value = given.get(iterator.items_input or "")
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None
            if not isinstance(value, list):
                return self.end(key, Ended(Phase.FAILED, "LoopItems",
                                           f"the loop's items ({iterator.items_input}) are not a list: {value!r}"))
            items = value
        iterations: list[_State] = []
        active = 0
        stopped = False
        for index, item in enumerate(items):
            prefix = f"{key}[{index}]"
            begun = prefix in self.begun
            if not begun and (stopped or (iterator.parallelism and active >= iterator.parallelism)):
                if stopped:
                    iterations.append(_State("omitted"))
                    self.omitted.append(prefix)
                else:
                    iterations.append(_State("waiting"))
                continue
            inner = dict(scope)
            inner_artifacts = dict(given_artifacts)
            if iterator.artifact:
                inner_artifacts[iterator.item_input] = [item]
            else:
                inner[iterator.item_input] = typed_value(item, body.input_types.get(iterator.item_input),
                                                    f"task {prefix}: loop item")
            state = self.dag(body, prefix + "/", inner, inner_artifacts)
            iterations.append(state)
            if not state.final:
                active += 1
            if state.status == "failed":
                stopped = True
        if not all(s.final for s in iterations):
            return _State("running")
        failed = [s for s in iterations if s.status == "failed"]
        if failed:
            return _State("failed", message=failed[0].message)
        if any(s.status == "omitted" for s in iterations):
            return _State("omitted")
        out = Produced()
        for output_name, output in body.outputs.items():
            if output.artifact:
                out.artifacts[output_name] = [a for s in iterations for a in s.produced.artifacts.get(output_name, [])]
            else:
                out.parameters[output_name] = [s.produced.parameters[output_name] for s in iterations
                                               if output_name in s.produced.parameters]
        return _State("succeeded", out)

    def inputs(self, task: TaskPlan, key: str, parameters: Mapping[str, Any],
               artifacts: Mapping[str, list[Artifact]],
               states: Mapping[str, _State]) -> tuple[dict[str, Any], dict[str, list[Artifact]]]:
        given: dict[str, Any] = {}
        given_artifacts: dict[str, list[Artifact]] = {}
        for name, source in task.inputs.items():
            if source.kind == "constant":
                value: Any = source.value
            elif source.kind == "status":
                producer = states[source.task or ""]
                # The MLMD execution states KFP reports: COMPLETE, FAILED, CANCELED.
                state = {"succeeded": "COMPLETE", "skipped": "SKIPPED"}.get(producer.status, "FAILED")
                value = {"state": state, "pipelineJobResourceName": self.job, "pipelineTaskName": source.task,
                         "error": {} if state != "FAILED" else
                         {"code": 1, "message": producer.message or f"task {source.task} did not succeed"}}
            elif source.kind == "parameter":
                pool = artifacts if source.artifact else parameters
                if source.value not in pool:
                    if name in task.optional or name in task.defaults:
                        continue
                    raise _Unresolved(f"input {name}: {source.value!r} has no value (an optional input of the "
                                      "pipeline left out)")
                value = pool[source.value]
            else:
                producer = states[source.task or ""]
                pool = producer.produced.artifacts if source.artifact else producer.produced.parameters
                if producer.status != "succeeded" or source.key not in pool:
                    if name in task.optional or name in task.defaults:
                        continue
                    why = {"skipped": "was skipped", "failed": "failed", "omitted": "did not run"}.get(
                        producer.status, "did not write it")
                    raise _Unresolved(f"input {name}: task {source.task} {why}, so its output {source.key} "
                                      "does not exist")
                value = pool[source.key or ""]
            if source.artifact:
                given_artifacts[name] = list(value)
                continue
            for field_name in source.selector:
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        raise _Unresolved(f"input {name}: the loop item {value!r} is not JSON") from None
                if not isinstance(value, Mapping) or field_name not in value:
                    raise _Unresolved(f"input {name}: the loop item has no field {field_name!r}: {value!r}")
                value = value[field_name]
            given[name] = typed_value(value, task.input_types.get(name), f"task {key}: input {name}")
        return given, given_artifacts


class _Unresolved(Exception):
    """An input whose value does not exist (KFP's driver fails the task)."""


def typed_value(value: Any, kind: str | None, where: str) -> Any:
    """A value as the launcher gives it: by its declared type (a ``3.0`` integer arrives as
    ``3``); a ``TASK_FINAL_STATUS`` struct or an undeclared one as it is."""
    if kind in (None, "None", "TASK_FINAL_STATUS") or value is None:
        return value
    try:
        return typed(value, kind, where)
    except Exception:  # noqa: BLE001 - a loop item or output of another type passes as it is, as in KFP
        return value


def outcome_of(key: str, ended: Ended) -> TaskOutcome:
    """The outcome the scheduler records for an instance that ended without a run."""
    return TaskOutcome(key, run_id=ended.run_id, phase=ended.phase, reason=ended.reason, message=ended.message,
                       parameters=dict(ended.produced.parameters))


__all__ = ["SKIPPED", "Artifact", "Ended", "Produced", "Verdict", "Want", "decide_kfp", "outcome_of", "typed_value"]
