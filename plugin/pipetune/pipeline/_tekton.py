"""A Tekton PipelineRun or TaskRun run here as Tekton's reconciler runs it: ``TektonSteps``
decides, the one scheduler (``_schedule``) starts the runs.

The decisions are Tekton's (``pkg/reconciler/pipelinerun``): a task starts once every task
it waits for has ended; its ``when`` expressions are evaluated then (false: the task is
skipped, and tasks that only ``runAfter`` it still run, while those using its results are
skipped); a failed task stops new tasks from starting (unless it has ``onError: continue``),
the running ones end, and then the ``finally`` tasks run, seeing ``$(tasks.status)`` and
``$(tasks.<name>.status)``; a ``matrix`` fans a task out to one run per combination, whose
string results become arrays; ``timeout``/``retries`` bound each attempt, and
``timeouts.pipeline``/``tasks``/``finally`` the whole run (running tasks are cancelled when
one passes).

What one task runs: a Task's steps as one local run of Tekton's entrypoint
(``pipetune.tekton.entrypoint``): every step a process, in order, sharing the task's
results, steps and workspace directories, with params, results, workspaces and context
substituted into ``script``, ``command``, ``args``, ``env`` and ``workingDir`` exactly as
Tekton substitutes them (Tekton puts params into script text; pipetune's own generated Tasks
pass them as args instead). A container's fixed paths (``/workspace``, ``/tekton/...``, a
workspace's or volume's ``mountPath``) are rewritten to the task's directories. A catalog
component runs as itself (``components/<name>``), pipetune's tuning custom task as the
catalog's ``tune``.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.controller import Progress, experiment_document, results_of
from pipetune.durations import parse_duration
from pipetune.engines.base import Phase
from pipetune.errors import ContractError, SpecError
from pipetune.pipeline._schedule import Decision, Launch, Step, Steps, TaskOutcome
from pipetune.pipeline._tekton_load import PipelineTask, TektonPlan, image_command, is_tekton, tekton_plans
from pipetune.programs import local_program
from pipetune.publisher import tekton_results
from pipetune.store import RunStore, new_run_id
from pipetune.tekton import is_multi_objective, kfp_only
from pipetune.tekton import variables as _vars
from pipetune.tekton.entrypoint import RESULTS_LIMIT
from pipetune.yamlsafe import dump_yaml

__all__ = ["TektonSteps", "bind_tekton_parameters", "is_tekton", "tekton_plans"]

_SH = ["sh"]
#: Tekton's default shell prelude for a script without a shebang (``pkg/pod/script.go``).
_PRELUDE = "#!/bin/sh\nset -e\n"


def bind_tekton_parameters(plan: TektonPlan, given: Mapping[str, str]) -> dict[str, Any]:
    """The pipeline's params: defaults, then the run's, then ``given`` (``-p``), each of its
    declared type; a param without a value, or a ``-p`` the pipeline lacks, is a ``SpecError``."""
    unknown = sorted(set(given) - set(plan.parameters) - set(plan.given))
    if unknown:
        raise SpecError(f"{plan.source}: -p {unknown[0]}: the param is not declared by {plan.pipeline_name} "
                        f"(its params: {', '.join(sorted(plan.parameters)) or 'none'})")
    values: dict[str, Any] = {k: v for k, v in plan.given.items() if k not in plan.parameters}
    for name, (kind, default) in plan.parameters.items():
        value: Any = plan.given.get(name, default)
        if name in given:
            value = given[name]
            if kind != "string":
                try:
                    value = json.loads(value)
                except ValueError:
                    raise SpecError(f"{plan.source}: -p {name}: the param is an {kind}; give it as JSON") from None
        if value is None:
            raise SpecError(f"{plan.source}: param {name}: required, give -p {name}=VALUE")
        if kind == "object" and isinstance(default, Mapping) and isinstance(value, Mapping):
            value = {**default, **value}
        if _kind_of(value) != kind:
            raise SpecError(f"{plan.source}: param {name}: declared {kind}, given {_kind_of(value)} {value!r}")
        if name in plan.enums and value not in plan.enums[name]:
            raise SpecError(f"{plan.source}: param {name}: {value!r} is not in its enum {list(plan.enums[name])}")
        values[name] = value
    return values


def _kind_of(value: Any) -> str:
    return "array" if isinstance(value, list) else "object" if isinstance(value, Mapping) else "string"


@dataclass
class _Prepared:
    """One instance's step, before it is started: its resolved params and matrix index."""

    task: PipelineTask
    params: dict[str, Any]
    index: int | None
    folder: Path | None = None


class _Invalid(Exception):
    """A reference that can't be resolved: the run fails with Tekton's reason."""


class TektonSteps(Steps):
    """A Tekton run's decisions (see the module docstring) over its ``plan``."""

    def __init__(self, plan: TektonPlan, values: Mapping[str, Any]) -> None:
        self.plan, self.values = plan, dict(values)
        self.uid = str(uuid.uuid4())
        self.keys: dict[str, list[str]] = {}
        self.skipped: dict[str, tuple[str, str]] = {}
        self.invalid: str | None = None
        self.stopped: str | None = None
        self.finally_began: float | None = None
        self.outcomes: Mapping[str, TaskOutcome] = {}
        self._root: Path | None = None
        self._store: RunStore | None = None

    # -- before anything runs --------------------------------------------------------------
    def check(self) -> None:
        """Every step's program must be on this machine: a ``SpecError`` naming the task, the
        step and its image."""
        for task in self.plan.all_tasks.values():
            spec = task.body.spec
            if task.body.component is not None:
                continue
            bound = {str(w.get("name")): str(w.get("workspace") or w.get("name")) for w in task.workspaces}
            for declared in spec.get("workspaces") or []:
                name = str(declared.get("name"))
                pipeline_side = bound.get(name, name if task.body.embedded else None)
                if not declared.get("optional") and (pipeline_side is None or self.plan.workspaces.get(pipeline_side) is None):
                    raise SpecError(f"{self.plan.source}: task {task.name}: workspace {name!r} is not bound (and not "
                                    "optional)")
            template = spec.get("stepTemplate") or {}
            for index, step in enumerate(spec.get("steps") or []):
                merged = {**template, **step}
                program = _program_of(merged)
                if program is None or "$(" in program:
                    continue
                if program.startswith("win") or program.lower().endswith(".exe"):
                    raise SpecError(f"{self.plan.source}: task {task.name} step {step.get('name') or index}: image "
                                    f"{merged.get('image')!r} runs the Windows program {program!r}, which does not run "
                                    "on this machine")
                if local_program([_mapped_path(program)]) is None:
                    raise SpecError(
                        f"{self.plan.source}: task {task.name} step {step.get('name') or f'unnamed-{index}'}: image "
                        f"{merged.get('image')!r} runs {program!r}, which is not on this machine; install it so "
                        f"{program!r} is on PATH (the image's tools run here directly, see README: How an image "
                        "maps to this machine)")

    def upstream(self, key: str, keys: Collection[str]) -> list[str]:
        """What instance ``key`` (a task, or ``task[i]`` of a matrix) waits for: the instances
        of the tasks it names in ``runAfter`` or whose results it reads."""
        name = next((n for n, ks in self.keys.items() if key in ks), key)
        task = self.plan.all_tasks.get(name)
        if task is None:
            return []
        return sorted(k for needed in task.needs for k in self.keys.get(needed, [needed]) if k in keys)

    # -- the reconciler ---------------------------------------------------------------------
    def decide(self, outcomes: Mapping[str, TaskOutcome], elapsed: float, store: RunStore) -> Decision:
        self.outcomes, self._store = outcomes, store
        start: list[Launch] = []
        skip: dict[str, str] = {}
        cancel: dict[str, str] = {}
        plan = self.plan
        total, tasks_limit, finally_limit = plan.timeouts
        if tasks_limit is None and total is not None and finally_limit is not None:
            tasks_limit = total - finally_limit
        if total is not None and elapsed > total and self.stopped is None:
            self.stopped = f"the PipelineRun timed out after {total:g}s" if plan.kind == "PipelineRun" else \
                f"the TaskRun timed out after {total:g}s"
        timed_out_tasks = tasks_limit is not None and elapsed > tasks_limit
        failed = [n for n in plan.tasks if self._status(n) == "Failed" and plan.tasks[n].on_error != "continue"]
        stopping = self.stopped or self.invalid or (f"task {failed[0]} failed" if failed else None) \
            or (f"timeouts.tasks of {tasks_limit:g}s passed" if timed_out_tasks else None)
        running_keys = [k for n in plan.all_tasks for k in self.keys.get(n, ()) if not outcomes[k].final]
        if self.stopped:
            for key in running_keys:
                cancel[key] = self.stopped
        elif timed_out_tasks:
            for name in plan.tasks:
                for key in self.keys.get(name, ()):
                    if not outcomes[key].final:
                        cancel[key] = f"timeouts.tasks of {tasks_limit:g}s passed"
        for name, task in plan.tasks.items():
            if name in self.keys or name in self.skipped:
                continue
            if stopping:
                self._skip(name, "stopping", f"not started: {stopping}", skip)
                continue
            if not all(self._final(n) for n in task.needs):
                continue
            self._consider(task, start, skip)
        dag_over = all(self._final(n) for n in plan.tasks)
        if dag_over and self.finally_began is None:
            self.finally_began = elapsed
        finally_over = finally_limit is not None and self.finally_began is not None and \
            elapsed - self.finally_began > finally_limit
        if finally_over and not self.stopped:
            for name in plan.finally_tasks:
                for key in self.keys.get(name, ()):
                    if not outcomes[key].final:
                        cancel[key] = f"timeouts.finally of {finally_limit:g}s passed"
        if dag_over and not self.stopped:
            for name, task in plan.finally_tasks.items():
                if name in self.keys or name in self.skipped:
                    continue
                if finally_over:
                    self._skip(name, "stopping", f"not started: timeouts.finally of {finally_limit:g}s passed", skip)
                    continue
                self._consider(task, start, skip)
        elif self.stopped:
            for name in plan.finally_tasks:
                if name not in self.keys and name not in self.skipped:
                    self._skip(name, "stopping", f"not started: {self.stopped}", skip)
        if start or skip or not all(self._final(n) for n in plan.all_tasks):
            return Decision(start=start, skip=skip, cancel=cancel)
        return self._conclude()

    def _consider(self, task: PipelineTask, start: list[Launch], skip: dict[str, str]) -> None:
        name = task.name
        for other in sorted(task.needs):
            reason = self.skipped.get(other)
            uses = other in self._result_users(task)
            if reason is not None and (reason[0] != "when" or uses) and not (task.final and not uses):
                self._skip(name, "parent", f"task {other} was skipped ({reason[1]})" if not uses else
                           f"results of task {other} are missing: it was skipped", skip)
                return
            if uses and self._status(other) == "Failed":
                self._skip(name, "parent", f"results of task {other} are missing: it failed", skip)
                return
        try:
            scope = self._pipeline_scope(task)
            params = {str(p.get("name")): self._resolve(p.get("value"), scope, task, f"param {p.get('name')}")
                      for p in task.params}
            if not all(self._when(expression, scope, task) for expression in task.when):
                shown = "; ".join(f"{w.get('input')} {w.get('operator')} {w.get('values')}" for w in task.when)
                self._skip(name, "when", f"when expressions evaluated to false ({shown})", skip)
                return
            combinations = self._combinations(task, scope)
        except _Invalid as exc:
            if task.final:
                self._skip(name, "parent", str(exc), skip)
            else:
                self.invalid = f"task {name}: {exc}"
                self._skip(name, "invalid", str(exc), skip)
            return
        if combinations is not None and not combinations:
            self._skip(name, "matrix", "its matrix has no combinations (an empty array)", skip)
            return
        instances = [(name, None, params)] if combinations is None else \
            [(f"{name}[{i}]", i, {**params, **combo}) for i, combo in enumerate(combinations)]
        self.keys[name] = [key for key, _, _ in instances]
        # the run's own timeouts cancel through decide (as Tekton cancels the TaskRuns); an
        # attempt's own limit is the task's
        timeout = task.timeout
        for key, index, values in instances:
            prepared = _Prepared(task, values, index)
            start.append(Launch(key, _maker(self, key, prepared), name, timeout=timeout, retries=task.retries))

    def _skip(self, name: str, kind: str, reason: str, skip: dict[str, str]) -> None:
        self.skipped[name] = (kind, reason)
        skip[name] = reason

    def _final(self, name: str) -> bool:
        if name in self.skipped:
            return True
        keys = self.keys.get(name)
        return keys is not None and all(k in self.outcomes and self.outcomes[k].final for k in keys)

    def _status(self, name: str) -> str:
        """``$(tasks.<name>.status)``: Succeeded, Failed, or None (skipped or not ended)."""
        keys = self.keys.get(name)
        if not keys or not all(k in self.outcomes and self.outcomes[k].final for k in keys):
            return "None"
        return "Succeeded" if all(self.outcomes[k].phase is Phase.SUCCEEDED for k in keys) else "Failed"

    def _reason(self, name: str) -> str:
        """``$(tasks.<name>.reason)``: Succeeded, Failed, FailureIgnored (``onError: continue``),
        TaskRunTimeout, TaskRunCancelled, or empty while it has not ended or was skipped."""
        status = self._status(name)
        if status != "Failed":
            return status if status == "Succeeded" else ""
        if self.plan.all_tasks[name].on_error == "continue":
            return "FailureIgnored"
        reasons = {self.outcomes[k].reason for k in self.keys[name]}
        if "Timeout" in reasons:
            return "TaskRunTimeout"
        return "TaskRunCancelled" if any(self.outcomes[k].phase is Phase.CANCELLED for k in self.keys[name]) else "Failed"

    def _aggregate(self) -> str:
        """``$(tasks.status)``: Failed if a task failed, Completed if one was skipped, else Succeeded."""
        statuses = [self._status(n) for n in self.plan.tasks]
        if "Failed" in statuses:
            return "Failed"
        return "Completed" if any(n in self.skipped for n in self.plan.tasks) else "Succeeded"

    def _result_users(self, task: PipelineTask) -> set[str]:
        text = json.dumps([task.params, task.when, task.matrix, task.workspaces]
                          + ([task.body.spec] if task.body.embedded else []))
        return {e.split(".")[1] for e in _vars.references(text)
                if e.startswith("tasks.") and len(e.split(".")) > 3 and e.split(".")[2] == "results"}

    def _results_of(self, name: str) -> dict[str, Any]:
        keys = self.keys.get(name) or []
        if len(keys) == 1 and keys[0] == name:
            return dict(self.outcomes[name].parameters) if name in self.outcomes else {}
        merged: dict[str, Any] = {}
        for key in keys:
            for result, value in (self.outcomes[key].parameters if key in self.outcomes else {}).items():
                merged.setdefault(result, []).append(value)
        return merged

    def _pipeline_scope(self, task: PipelineTask) -> dict[str, Any]:
        tasks: dict[str, Any] = {}
        for name in self.plan.all_tasks:
            entry: dict[str, Any] = {"results": self._results_of(name), "status": self._status(name),
                                     "reason": self._reason(name)}
            keys = self.keys.get(name) or []
            if self.plan.all_tasks[name].matrix is not None and name in self.keys:
                entry["matrix"] = {"length": str(len(keys)),
                                   **{r: {"length": str(len(v))} for r, v in entry["results"].items()}}
            tasks[name] = entry
        tasks["status"] = self._aggregate()
        return {
            "params": self.values,
            "context": {"pipelineRun": {"name": self.plan.name, "namespace": "default", "uid": self.uid},
                        "pipeline": {"name": self.plan.pipeline_name},
                        "pipelineTask": {"retries": str(task.retries)}},
            "tasks": tasks,
            "workspaces": {w: {"bound": "true" if b is not None else "false"} for w, b in self.plan.workspaces.items()},
        }

    def _resolve(self, value: Any, scope: Mapping[str, Any], task: PipelineTask, where: str) -> Any:
        for expression in _vars.references(json.dumps(value)):
            parts = expression.split(".")
            if parts[0] == "tasks" and len(parts) > 3 and parts[2] == "results":
                produced = self._results_of(parts[1])
                result = re.split(r"[\[.]", parts[3])[0]
                if result not in produced:
                    raise _Invalid(f"{where}: invalid result reference $({expression}): task {parts[1]} "
                                   f"produced no result {result!r}")
        try:
            return _vars.value(value, scope)
        except IndexError as exc:
            raise _Invalid(f"{where}: {exc}") from None

    def _when(self, expression: Mapping[str, Any], scope: Mapping[str, Any], task: PipelineTask) -> bool:
        left = self._resolve(expression.get("input"), scope, task, "when input")
        values = self._resolve(list(expression.get("values") or []), scope, task, "when values")
        operator = str(expression.get("operator"))
        if operator not in ("in", "notin"):
            raise _Invalid(f"when: operator {operator!r}: expected in or notin")
        found = str(left) in [str(v) for v in values]
        return found if operator == "in" else not found

    def _combinations(self, task: PipelineTask, scope: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        matrix = task.matrix
        if matrix is None:
            return None
        names, lists = [], []
        for param in matrix.get("params") or []:
            resolved = self._resolve(param.get("value"), scope, task, f"matrix param {param.get('name')}")
            if not isinstance(resolved, list):
                raise _Invalid(f"matrix param {param.get('name')}: expected an array, got {resolved!r}")
            names.append(str(param.get("name")))
            lists.append(resolved)
        combos: list[dict[str, Any]] = []
        if names:
            # Tekton's order: the first param varies fastest
            for values in itertools.product(*reversed(lists)):
                combos.append(dict(zip(names, reversed(values), strict=True)))
        originals = len(combos)
        for include in matrix.get("include") or []:
            extra = {str(p.get("name")): self._resolve(p.get("value"), scope, task, "matrix include")
                     for p in include.get("params") or []}
            matched = False
            for combo in combos[:originals]:
                if all(combo.get(k) == v for k, v in extra.items() if k in names):
                    combo.update({k: v for k, v in extra.items() if k not in names})
                    matched = True
            if not matched or not names:
                combos.append(extra)
        return combos

    def _conclude(self) -> Decision:
        plan = self.plan
        failed = [n for n in plan.all_tasks if self._status(n) == "Failed"
                  and not (plan.all_tasks[n].on_error == "continue" and not plan.all_tasks[n].final)]
        skipped = [n for n in plan.all_tasks if n in self.skipped]
        if self.stopped or self.invalid or failed:
            first = self.stopped or self.invalid or ""
            if failed:
                keys = [k for k in self.keys[failed[0]] if self.outcomes[k].phase is not Phase.SUCCEEDED]
                outcome = self.outcomes[keys[0]]
                first = f"task {failed[0]} failed: {outcome.message or outcome.reason}" if not self.stopped else first
            not_started = [n for n in skipped if self.skipped[n][0] in ("stopping", "parent")]
            return Decision(done=True, succeeded=False, message=first + (
                f"; not started: {', '.join(not_started)}" if not_started else ""))
        message = "all tasks succeeded" if not skipped else \
            f"all tasks succeeded or were skipped (skipped: {', '.join(skipped)})"
        results = self._pipeline_results()
        if results:
            message += "; results: " + ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                                                 for k, v in results.items())
        return Decision(done=True, succeeded=True, message=message)

    def _pipeline_results(self) -> dict[str, Any]:
        """The Pipeline's ``results``; one whose task result is missing is left out, as Tekton does."""
        out: dict[str, Any] = {}
        scope = self._pipeline_scope(next(iter(self.plan.all_tasks.values()))) if self.plan.all_tasks else {}
        for result in self.plan.results:
            try:
                value = self._resolve(result.get("value"), scope, next(iter(self.plan.all_tasks.values())), "result")
            except _Invalid:
                continue
            out[str(result.get("name"))] = value
        return out

    # -- one task instance --------------------------------------------------------------------
    def make(self, key: str, prepared: _Prepared) -> Step:
        """The step of instance ``key``: its run directory, and what runs there."""
        assert self._store is not None
        task = prepared.task
        body = task.body
        attempt = self.outcomes[key].attempts if key in self.outcomes else 0
        run_id = new_run_id()
        root = self._store.run_dir(run_id)
        if body.experiment is not None:
            document = experiment_document(body.experiment, body.experiment_name or task.name, "default",
                                           [{"name": k, "value": v} for k, v in prepared.params.items()],
                                           f"{self.plan.source}: task {task.name}")
            assert body.component is not None
            arguments = body.component.bind({"experiment": dump_yaml(document), "engine": "local"})
            return Step(body.component, arguments, {}, run_id, root / "outputs")
        if body.component is not None:
            values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in prepared.params.items()}
            for item in body.component.inputs:
                if item.optional and values.get(item.name) == "":
                    values.pop(item.name)  # Tekton params always have a value: "" stands for absent
            return Step(body.component, body.component.bind(values), {}, run_id, root / "outputs")
        folder = root / "tekton"
        prepared.folder = folder
        plan_file = self._write_entrypoint_plan(key, prepared, folder, attempt)
        first = (body.spec.get("steps") or [{}])[0]
        component = ComponentSpec(name=task.name, container=ContainerSpec(
            image=str(first.get("image") or ""),
            command=("python", "-m", "pipetune.tekton.entrypoint", str(plan_file))))
        return Step(component, {}, {}, run_id, prepared)

    def collect(self, key: str, task_name: str, step: Step, results: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        task = self.plan.all_tasks[task_name]
        body = task.body
        if body.experiment is not None:
            if results is None:
                raise ContractError(f"task {task_name} wrote no results")
            names = [p["name"] for p in body.experiment.get("parameters") or []]
            best = results.outputs.get("best_parameters") or {}
            front = None
            if is_multi_objective(body.experiment):
                # The tune component's pareto_front output, beside its results.yaml.
                front = tuple(json.loads((Path(step.context) / "pareto_front").read_text()))
            progress = Progress(total=0, best_objective=results.metrics.get("best_objective"),
                                best_parameters=best, parameter_names=tuple(names), pareto_front=front)
            return {r["name"]: r["value"] for r in results_of(progress)}, {}
        if body.component is not None:
            if results is None:
                raise ContractError(f"task {task_name} wrote no results")
            outputs_dir = Path(step.context)
            declared = tuple((o.name, o.is_parameter, outputs_dir / o.name) for o in body.component.outputs
                             if not kfp_only(o))
            values = tekton_results(results, declared)
            for name, is_parameter, _path in declared:
                # an artifact's result is its path; here the run's outputs folder outlives the task
                if not is_parameter and name in values and not Path(values[name]).is_absolute():
                    values[name] = str(outputs_dir / values[name])
            return dict(values), {}
        prepared: _Prepared = step.context
        assert prepared.folder is not None
        out: dict[str, Any] = {}
        for result in body.spec.get("results") or []:
            path = prepared.folder / "results" / str(result.get("name"))
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            kind = str(result.get("type") or ("object" if result.get("properties") else "string"))
            out[str(result["name"])] = json.loads(text) if kind in ("array", "object") else text
        return out, {}

    def _write_entrypoint_plan(self, key: str, prepared: _Prepared, folder: Path, attempt: int) -> Path:
        task, spec = prepared.task, prepared.task.body.spec
        plan = self.plan
        dirs = {name: folder / name for name in ("results", "steps", "scripts", "home", "workspace", "volumes")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        mounts: dict[str, Path] = {"/tekton/results": dirs["results"], "/tekton/steps": dirs["steps"],
                                   "/tekton/home": dirs["home"], "/tekton/scripts": dirs["scripts"],
                                   "/tekton": folder, "/workspace": dirs["workspace"]}
        where = f"{plan.source}: task {task.name}"
        params = self._task_params(prepared, where)
        read_only: list[list[str]] = []
        workspaces = self._task_workspaces(task, dirs["workspace"], mounts, where, read_only, folder / "read-only")
        pipeline_scope = self._pipeline_scope(task)
        task_run = plan.name if plan.kind == "TaskRun" else f"{plan.name}-{task.name}" + (
            f"-{prepared.index}" if prepared.index is not None else "")
        context = {**pipeline_scope["context"],
                   "taskRun": {"name": task_run, "namespace": "default", "uid": str(uuid.uuid4())},
                   "task": {"name": task.body.task_name, "retry-count": str(attempt)}}
        steps = [dict(s) for s in spec.get("steps") or []]
        names = [str(s.get("name") or f"unnamed-{i}") for i, s in enumerate(steps)]
        scope: dict[str, Any] = {
            "params": params, "inputs": {"params": params},
            "results": {str(r.get("name")): {"path": str(dirs["results"] / str(r.get("name")))}
                        for r in spec.get("results") or []},
            "workspaces": workspaces, "context": context,
            "steps": {f"step-{n}": {"exitCode": {"path": str(dirs["steps"] / f"step-{n}" / "exitCode")}} for n in names},
            "credentials": {"path": str(dirs["home"])},
        }
        if task.body.embedded:
            scope["tasks"] = pipeline_scope["tasks"]
        for volume in spec.get("volumes") or []:
            self._materialize(_vars.strings(volume, scope), dirs["volumes"] / str(volume.get("name")), where)
        template = dict(spec.get("stepTemplate") or {})
        entries = []
        for index, (name, step) in enumerate(zip(names, steps, strict=True)):
            merged = _merge_template(template, step)
            volume_mounts = merged.get("volumeMounts") or []
            step_mounts = dict(mounts)
            for mount in volume_mounts:
                step_mounts[str(_vars.text(str(mount.get("mountPath")), scope))] = dirs["volumes"] / str(mount.get("name"))
            step_scope = self._step_scope(merged, name, scope, dirs["steps"], where)
            resolved = _vars.strings({k: v for k, v in merged.items() if k not in ("script", "params", "action")},
                                     step_scope)
            script = _vars.text(str(merged["script"]), step_scope) if merged.get("script") else None
            rewrite = _rewriter(step_mounts)
            env = {str(e.get("name")): rewrite(self._env_value(e, where)) for e in resolved.get("env") or []}
            for source in resolved.get("envFrom") or []:
                env.update(self._env_from(source, where))
            if script is not None:
                text = rewrite(script)
                if not text.startswith("#!"):
                    text = _PRELUDE + text
                script_file = dirs["scripts"] / f"script-{index}-{name}"
                script_file.write_text(text, encoding="utf-8")
                script_file.chmod(0o755)
                interpreter = shlex.split(text.splitlines()[0][2:].strip()) or _SH
                if os_basename(interpreter[0]) == "env" and len(interpreter) > 1:
                    interpreter = interpreter[1:]
                argv = [*interpreter, str(script_file)] + [rewrite(a) for a in resolved.get("args") or []]
            else:
                args = [str(a) for a in resolved.get("args") or []]
                command = [*resolved["command"], *args] if resolved.get("command") else \
                    image_command(str(merged.get("image") or ""), args) or []
                argv = [rewrite(str(a)) for a in command]
            mapped = local_program([_mapped_path(argv[0]), *argv[1:]]) if argv else None
            if mapped is None:
                raise SpecError(f"{where} step {name}: image {merged.get('image')!r} runs {argv[0] if argv else ''!r}, "
                                "which is not on this machine")
            cwd = rewrite(str(resolved["workingDir"])) if resolved.get("workingDir") else str(dirs["workspace"])
            entries.append({"name": name, "argv": mapped, "env": env, "cwd": cwd, "read_only": read_only,
                            "script": str(script_file) if script is not None else None,
                            "onError": resolved.get("onError") or "stopAndFail",
                            "timeout": _step_timeout(resolved.get("timeout"), where)})
        document = {"steps": entries, "results_dir": str(dirs["results"]), "steps_dir": str(dirs["steps"]),
                    "results": [{"name": str(r.get("name")), "value": r.get("value"),
                                 "type": str(r.get("type") or ("object" if r.get("properties") else "string"))}
                                for r in spec.get("results") or []],
                    "limit": RESULTS_LIMIT}
        path = folder / "entrypoint.json"
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        return path

    def _step_scope(self, step: Mapping[str, Any], name: str, scope: Mapping[str, Any], steps_dir: Path,
                    where: str) -> dict[str, Any]:
        """The scope a step's own fields see: the task's, with ``$(step.results.r.path)``, and
        for a StepAction its own params (given by the step, else their defaults)."""
        action = step.get("action")
        results = (action or {}).get("results") or step.get("results") or []
        out = {**scope, "step": {"results": {str(r.get("name")): {"path": str(steps_dir / f"step-{name}" / "results" /
                                                                              str(r.get("name")))}
                                             for r in results}}}
        (steps_dir / f"step-{name}" / "results").mkdir(parents=True, exist_ok=True)
        if action is None:
            return out
        given = {str(p.get("name")): _vars.value(p.get("value"), scope) for p in step.get("params") or []}
        params: dict[str, Any] = {}
        for declared in action.get("params") or []:
            key = str(declared.get("name"))
            default = declared.get("default")
            value = given.get(key, default)
            if value is None:
                raise SpecError(f"{where} step {name}: StepAction {action['name']} param {key}: no value and no default")
            if isinstance(default, Mapping) and isinstance(value, Mapping):
                value = {**default, **value}
            params[key] = value
        out["params"] = params
        return out

    def _task_params(self, prepared: _Prepared, where: str) -> dict[str, Any]:
        task, spec = prepared.task, prepared.task.body.spec
        given = dict(prepared.params)
        params: dict[str, Any] = dict(self.values) if task.body.embedded else {}
        declared = {str(p.get("name")): p for p in spec.get("params") or []}
        for name, param in declared.items():
            kind = str(param.get("type") or ("object" if param.get("properties") else "string"))
            default = param.get("default")
            if isinstance(default, (str, list, dict)):
                default = _vars.value(default, {"params": {**params, **given}, "context": {}})
            value = given.get(name, default)
            if value is None:
                raise SpecError(f"{where}: param {name}: no value given and no default")
            if kind == "object" and isinstance(default, Mapping) and isinstance(value, Mapping):
                value = {**default, **value}
            if _kind_of(value) != kind:
                raise SpecError(f"{where}: param {name}: declared {kind}, given {_kind_of(value)} {value!r}")
            if param.get("enum") and value not in param["enum"]:
                raise SpecError(f"{where}: param {name}: {value!r} is not in its enum {param['enum']}")
            params[name] = value
        for name, value in given.items():
            if name not in declared and task.body.embedded:
                params[name] = value
        return params

    def _workspace_dir(self, name: str, binding: Mapping[str, Any]) -> Path:
        assert self._store is not None
        if binding.get("persistentVolumeClaim"):
            claim = str(binding["persistentVolumeClaim"].get("claimName"))
            path = self._store.state_dir / "tekton-claims" / claim
        else:
            if self._root is None:
                self._root = self._store.state_dir / "tekton-workspaces" / f"{self.plan.name}-{self.uid[:8]}"
            path = self._root / name
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
            self._materialize(binding, path, f"{self.plan.source}: workspace {name}")
        return path

    def _materialize(self, source: Mapping[str, Any], path: Path, where: str) -> None:
        """A configMap, secret or projected source as files under ``path`` (from the ConfigMaps
        and Secrets in the files given)."""
        path.mkdir(parents=True, exist_ok=True)
        items: list[tuple[str, Mapping[str, Any], Mapping[str, str]]] = []
        for kind, store, field_name in (("configMap", self.plan.configmaps, "name"),
                                        ("secret", self.plan.secrets, "secretName")):
            if source.get(kind):
                items.append((kind, source[kind], self._lookup(store, kind, source[kind], field_name, where)))
        for projected in (source.get("projected") or {}).get("sources") or []:
            for kind, store in (("configMap", self.plan.configmaps), ("secret", self.plan.secrets)):
                if projected.get(kind):
                    items.append((kind, projected[kind], self._lookup(store, kind, projected[kind], "name", where)))
        for _kind, reference, data in items:
            chosen = reference.get("items")
            pairs = [(str(i.get("key")), str(i.get("path"))) for i in chosen] if chosen else [(k, k) for k in data]
            for key, relative in pairs:
                if key not in data:
                    raise SpecError(f"{where}: key {key!r} is not in {reference.get('name') or reference.get('secretName')!r}")
                target = path / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[key], encoding="utf-8")

    @staticmethod
    def _lookup(store: Mapping[str, Mapping[str, str]], kind: str, reference: Mapping[str, Any], field_name: str,
                where: str) -> Mapping[str, str]:
        name = str(reference.get(field_name) or reference.get("name"))
        if name not in store:
            if reference.get("optional"):
                return {}
            raise SpecError(f"{where}: {kind} {name!r} is not in the files given; pipetune reads ConfigMaps and "
                            "Secrets from the files given with the run (-f)")
        return store[name]

    def _task_workspaces(self, task: PipelineTask, root: Path, mounts: dict[str, Path], where: str,
                         read_only: list[list[str]], views: Path) -> dict[str, Any]:
        spec = task.body.spec
        declared = {str(w.get("name")): w for w in spec.get("workspaces") or []}
        mapping = {str(w.get("name")): w for w in task.workspaces}
        if task.body.embedded:  # Tekton propagates the run's workspaces into an embedded spec
            for name in self.plan.workspaces:
                mapping.setdefault(name, {"name": name, "workspace": name})
                declared.setdefault(name, {"name": name})
        out: dict[str, Any] = {}
        for name, decl in declared.items():
            entry = mapping.get(name)
            binding = self.plan.workspaces.get(str((entry or {}).get("workspace") or name)) if entry else None
            if binding is None:
                if not decl.get("optional") and (name in {str(w.get("name")) for w in spec.get("workspaces") or []}):
                    raise SpecError(f"{where}: workspace {name!r} is not bound (and not optional)")
                out[name] = {"bound": "false", "path": "", "claim": "", "volume": ""}
                continue
            local = self._workspace_dir(str(entry.get("workspace") or name) if entry else name, binding)
            for sub in (binding.get("subPath"), (entry or {}).get("subPath")):
                if sub:
                    local = local / str(_vars.text(str(sub), self._pipeline_scope(task)))
            local.mkdir(parents=True, exist_ok=True)
            if decl.get("readOnly") or (entry or {}).get("readOnly") or binding.get("configMap") or binding.get("secret"):
                read_only.append([str(local), str(views / name)])
                local = views / name
            mount = str(decl.get("mountPath") or f"/workspace/{name}")
            link = root / name
            if not link.is_symlink():
                link.symlink_to(local, target_is_directory=True)
            mounts[mount] = local
            claim = (binding.get("persistentVolumeClaim") or {}).get("claimName", "")
            out[name] = {"bound": "true", "path": mount if False else str(local), "claim": claim,
                         "volume": name}
        return out

    def _env_value(self, entry: Mapping[str, Any], where: str) -> str:
        if "valueFrom" not in entry:
            return str(entry.get("value", ""))
        source = entry["valueFrom"] or {}
        for kind, store in (("secretKeyRef", self.plan.secrets), ("configMapKeyRef", self.plan.configmaps)):
            if source.get(kind):
                reference = source[kind]
                data = self._lookup(store, kind, reference, "name", where)
                key = str(reference.get("key"))
                if key not in data:
                    if reference.get("optional"):
                        return ""
                    raise SpecError(f"{where}: env {entry.get('name')}: key {key!r} is not in {reference.get('name')!r}")
                return data[key]
        if source.get("fieldRef"):
            path = str(source["fieldRef"].get("fieldPath"))
            return {"metadata.namespace": "default", "metadata.name": self.plan.name}.get(path, "")
        raise SpecError(f"{where}: env {entry.get('name')}: valueFrom {sorted(source)} has no local source")

    def _env_from(self, source: Mapping[str, Any], where: str) -> dict[str, str]:
        prefix = str(source.get("prefix") or "")
        for kind, store in (("secretRef", self.plan.secrets), ("configMapRef", self.plan.configmaps)):
            if source.get(kind):
                data = self._lookup(store, kind, source[kind], "name", where)
                return {prefix + k: v for k, v in data.items()}
        return {}


def _maker(steps: TektonSteps, key: str, prepared: _Prepared) -> Any:
    return lambda: steps.make(key, prepared)


def _step_timeout(value: Any, where: str) -> float | None:
    if not value:
        return None
    try:
        return parse_duration(str(value)) or None
    except ValueError as exc:
        raise SpecError(f"{where}: step timeout {value!r}: {exc}") from None


def _merge_template(template: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
    """A step over its ``stepTemplate``, as Tekton merges them: the step's fields win; ``env``
    and ``volumeMounts`` merge by name."""
    merged = {**template, **step}
    for key in ("env", "volumeMounts"):
        if template.get(key) and step.get(key):
            names = {str(e.get("name")) for e in step[key]}
            merged[key] = [e for e in template[key] if str(e.get("name")) not in names] + list(step[key])
    return merged


def _program_of(step: Mapping[str, Any]) -> str | None:
    script = step.get("script")
    if script:
        first = str(script).lstrip("\n").splitlines()[0] if str(script).strip() else ""
        if not str(script).startswith("#!"):
            return "sh"
        words = shlex.split(first[2:].strip()) if first[2:].strip() else ["sh"]
        if os_basename(words[0]) == "env" and len(words) > 1:
            return words[1]
        return words[0]
    command = step.get("command") or image_command(str(step.get("image") or ""), step.get("args") or []) or []
    return str(command[0]) if command else None


def _mapped_path(program: str) -> str:
    """A program given by an image path (``/bin/bash``) as this machine's, by name when the
    path is missing here (images keep tools where distributions differ). ``sh`` runs as
    ``bash`` where there is one: the images' ``sh`` (busybox, alpine) accepts bash's ``==`` and
    ``[[``, which a distribution's dash refuses."""
    if os_basename(program) in ("sh", "ash") and shutil.which("bash"):
        return "bash"
    if "/" in program and not Path(program).exists():
        return program.rsplit("/", 1)[-1]
    return program


def os_basename(path: str) -> str:
    """The last component of ``path``."""
    return path.rsplit("/", 1)[-1]


def _rewriter(mounts: Mapping[str, Path]) -> Any:
    """A function rewriting the container's paths (mount points) in a string to this machine's."""
    ordered = sorted(mounts.items(), key=lambda item: -len(item[0]))
    alternatives = "|".join(re.escape(m.rstrip("/")) for m, _ in ordered)
    pattern = re.compile(r"(?<![\w.~/-])(" + alternatives + r")(?=$|[/\s\"':;)|&<>,=}\]])")
    table = {m.rstrip("/"): str(p) for m, p in ordered}

    def rewrite(text: str) -> str:
        return pattern.sub(lambda match: table[match.group(1)], text)

    return rewrite


def tekton_plan(documents: Sequence[Any], source: str) -> TektonPlan:
    """The first plan among ``documents`` (see ``tekton_plans``)."""
    return tekton_plans(documents, source)[0]
