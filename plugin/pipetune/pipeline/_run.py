"""Run a compiled KFP pipeline on this machine (``KfpSteps``): KFP's driver decides what runs
(``_kfp_dag``: conditions, loops, nested DAGs, exit handlers), each container task runs as a
local run under one pipeline run, with the ExecutorInput the driver builds and the command
the launcher's substitutions give (``pipetune.kfp``), and its outputs are read back as the
launcher reads them; importers end without a run, and a cache hit ends with a record of its
own (reason ``Cached``) that names the run whose outputs it reused. ``check`` refuses, before
anything runs, what cannot run here, naming the task and the feature."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import fsspec

from pipetune.atomic import atomic_write_text
from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.engines.base import Engine, Phase, Reason
from pipetune.errors import ContractError, SpecError
from pipetune.kfp import (
    RUNTIME_PLACEHOLDERS,
    containerized_python,
    executor_input,
    lightweight_program,
    pip_packages,
    read_task_outputs,
    runtime_text,
    substitute,
)
from pipetune.pipeline._kfp import PipelinePlan, TaskPlan
from pipetune.pipeline._kfp_dag import Artifact, Ended, Produced, Want, decide_kfp, outcome_of, typed_value
from pipetune.pipeline._kfp_platform import DEFERRED, Applied, apply, check_mount, check_settings, materialize
from pipetune.pipeline._schedule import Decision, Launch, PipelineResult, Say, Step, Steps, TaskOutcome, run_steps
from pipetune.programs import local_program
from pipetune.store import RunStore, new_run_id
from pipetune.yamlsafe import read_text_file

#: Images of kfp-kubernetes' CreatePVC / DeletePVC: the driver does their work itself.
_CREATE_PVC, _DELETE_PVC = "argostub/createpvc", "argostub/deletepvc"


@dataclass
class Sources:
    """Where this machine's stand-ins for cluster objects come from: Secrets and ConfigMaps
    (folders of one file per key), and whether KFP's cache may be used."""

    secrets: Path | None = None
    config_maps: Path | None = None
    cache: bool = True


@dataclass
class _Prepared:
    argv: list[str]
    env: dict[str, str]
    value: dict[str, Any]
    root: Path
    want: Want
    fingerprint: str | None = None
    timeout: float | None = None
    notes: list[str] = field(default_factory=list)


class KfpSteps(Steps):
    """A compiled KFP pipeline's tasks, as KFP's driver and launcher run them."""

    def __init__(self, plan: PipelinePlan, values: Mapping[str, Any],
                 artifacts: Mapping[str, list[Artifact]] | None = None, sources: Sources | None = None,
                 say: Say | None = None) -> None:
        self.plan, self.values = plan, dict(values)
        self.artifacts = {k: list(v) for k, v in (artifacts or {}).items()}
        self.sources = sources or Sources()
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.produced: dict[str, Produced] = {}
        self.job_uuid = str(uuid.uuid4())
        self.job_name = f"{plan.name}-{time.strftime('%Y%m%d%H%M%S')}-{self.job_uuid[:8]}"
        self.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.store: RunStore | None = None
        self.applied: dict[str, Applied] = {}
        self.outputs_recorded = False

    # -- before anything runs -------------------------------------------------------------------

    def check(self) -> None:
        check_programs(self.plan)
        ignored: dict[str, list[str]] = {}
        for _, task in self.plan.all_tasks():
            settings = self.plan.platform.get(task.executor)
            if task.kind == "importer":
                _check_importer(self.plan, task, self.values)
            if task.container.get("resources"):
                ignored.setdefault("resource requests and limits (CPU, memory, accelerators)", []).append(task.name)
            if not settings:
                continue
            for what in check_settings(task.executor, settings, task.name, self.plan.source):
                ignored.setdefault(what, []).append(task.name)
            for entry in [*(settings.get("secretAsVolume") or []), *(settings.get("configMapAsVolume") or []),
                          *(settings.get("pvcMount") or []), *(settings.get("emptyDirMounts") or [])]:
                check_mount(str(entry.get("mountPath")), f"{self.plan.source}: task {task.name}")
            if task.name in self.plan.root.tasks and self.plan.root.tasks[task.name] is task:
                # Names known before anything runs: a missing Secret or ConfigMap is refused now.
                apply(settings, functools.partial(_static, task=task, values=self.values), self.sources.secrets,
                      self.sources.config_maps, Path("/nonexistent"), self._pod(task.name),
                      f"{self.plan.source}: task {task.name}")
        for what, tasks in sorted(ignored.items()):
            self.say(f"pipeline {self.plan.name}: kfp-kubernetes {what} ignored here (tasks "
                     f"{', '.join(sorted(set(tasks)))}): they only choose where and how a pod is scheduled, "
                     "labelled or pulled")

    # -- deciding ---------------------------------------------------------------------------------

    def upstream(self, key: str, keys: Collection[str]) -> list[str]:
        """What instance ``key`` (``loop[0]/task``: a path through sub-DAGs and iterations)
        waits for: its ``dependentTasks`` in its own DAG instance, each with everything run
        inside it when it is a DAG; a task waiting for nothing there waits for what its
        enclosing DAG task waits for."""
        segments = key.split("/")
        found: set[str] = set()
        for level in range(len(segments) - 1, -1, -1):
            task = self._task_at(segments[: level + 1])
            if task is None:
                break
            prefix = "/".join(segments[:level])
            for name in task.after:
                sibling = f"{prefix}/{name}" if prefix else name
                found.update(k for k in keys if k == sibling or k.startswith((sibling + "/", sibling + "[")))
            if found:
                break
        return sorted(found)

    def _task_at(self, segments: Sequence[str]) -> TaskPlan | None:
        tasks: Mapping[str, TaskPlan] = self.plan.tasks
        task: TaskPlan | None = None
        for i, segment in enumerate(segments):
            task = tasks.get(segment.split("[", 1)[0])
            if task is None:
                return None
            if i < len(segments) - 1:
                dag = self.plan.dags.get(task.dag or "")
                if dag is None:
                    return None
                tasks = dag.tasks
        return task

    def decide(self, outcomes: Mapping[str, TaskOutcome], elapsed: float, store: RunStore) -> Decision:
        self.store = store
        verdict = decide_kfp(self.plan, self.values, self.artifacts, outcomes, self.produced,
                             lambda want: self._shortcut(want, store), self.job_name)
        ended: dict[str, TaskOutcome] = {}
        for key, end in verdict.end.items():
            if key in outcomes:
                continue
            if end.phase is Phase.SUCCEEDED:
                self.produced[key] = end.produced
            ended[key] = outcome_of(key, end)
        start = [self._launch(want, store) for want in verdict.start if want.key not in outcomes]
        if not verdict.done:
            return Decision(start=start, skip=verdict.skip, ended=ended)
        self._record_outputs(verdict.outputs, outcomes, store)
        return Decision(start=start, skip=verdict.skip, ended=ended, done=True, succeeded=verdict.succeeded,
                        message=verdict.message)

    def _record_outputs(self, produced: Produced, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> None:
        """The pipeline's own outputs (what its function returns) on the pipeline run's record."""
        values: dict[str, Any] = dict(produced.parameters)
        values.update({k: [a.get("uri") for a in v] if len(v) != 1 else v[0].get("uri")
                       for k, v in produced.artifacts.items()})
        run_id = next((o.run_id for o in outcomes.values() if o.run_id), None)
        if not values or run_id is None or self.outputs_recorded:
            return
        self.outputs_recorded = True
        parent = store.get(run_id).parent_id
        if parent:
            store.update(parent, outputs=values)
        self.say(f"pipeline {self.plan.name}: outputs {json.dumps(values, default=str)}")

    def _launch(self, want: Want, store: RunStore) -> Launch:
        task = want.task
        settings = self.plan.platform.get(task.executor) or {}
        timeout = float(settings["activeDeadlineSeconds"]) if settings.get("activeDeadlineSeconds") else None
        return Launch(want.key, lambda: self._make(want, store), want.key, timeout=timeout, retries=task.retries,
                      backoff=task.backoff, max_backoff=task.max_backoff, backoff_factor=task.backoff_factor)

    def _shortcut(self, want: Want, store: RunStore) -> Ended | None:
        ended = self._end_without_run(want, store)
        if ended is not None and ended.phase is Phase.SUCCEEDED:
            # Later tasks of this same decision may name its outputs (a PVC's name).
            self.produced[want.key] = ended.produced
        return ended

    def _end_without_run(self, want: Want, store: RunStore) -> Ended | None:
        task = want.task
        if task.kind == "importer":
            return _import(task, want)
        image = str(task.container.get("image") or "")
        if image.startswith(_CREATE_PVC):
            name = want.parameters.get("pvc_name") or f"{self.job_name}-{want.parameters.get('pvc_name_suffix', 'pvc')}"
            return Ended(Phase.SUCCEEDED, "Created", f"PVC {name}: the local folder {self._volumes() / str(name)}",
                         Produced({"name": str(name)}))
        if image.startswith(_DELETE_PVC):
            return Ended(Phase.SUCCEEDED, "Deleted", f"PVC {want.parameters.get('pvc_name')}: its local folder is "
                         f"kept in {self._volumes()}")
        settings = self.plan.platform.get(task.executor)
        if settings:
            try:
                self.applied[want.key] = self._apply(want, settings)
            except SpecError as exc:
                return Ended(Phase.FAILED, "PlatformSetting", str(exc))
        if not (task.cache and self.sources.cache):
            return None
        entry = _cache_path(store, self._fingerprint(want))
        if not entry.is_file():
            return None
        try:
            cached = json.loads(read_text_file(entry, ContractError))
            produced = Produced(dict(cached["parameters"]), {k: list(v) for k, v in cached["artifacts"].items()})
        except (ContractError, ValueError, KeyError, TypeError):
            return None
        if not all(_local(a["uri"]) is None or Path(_local(a["uri"]) or "").exists()
                   for listed in produced.artifacts.values() for a in listed):
            return None  # the earlier run's artifacts are gone
        return Ended(Phase.SUCCEEDED, Reason.CACHED, f"outputs of run {cached['run_id']} reused (KFP caching; "
                     "--no-cache runs it again)", produced, cached["run_id"])

    def _fingerprint(self, want: Want) -> str:
        """KFP's cache key: the component (its spec and its container), its input parameters and
        input artifacts (by URI). Not the executor's label: the compiler gives each use of a
        component its own (``exec-echo-2``), and KFP's key has none."""
        task = want.task
        spec = {k: v for k, v in (self.plan.components.get(task.component) or {}).items() if k != "executorLabel"}
        key = {"component": spec, "container": dict(task.container),
               "parameters": _with_defaults(task, want.parameters),
               "artifacts": {k: [a.get("uri") for a in v] for k, v in want.artifacts.items()}}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()

    # -- running ----------------------------------------------------------------------------------

    def _make(self, want: Want, store: RunStore) -> Step:
        task = want.task
        run_id = new_run_id()
        root = store.run_dir(run_id) / "outputs"
        (root / "parameters").mkdir(parents=True, exist_ok=True)
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        if task.kind == "importer":
            uri = _importer_uri(task, want)
            target = root / "artifacts" / _output(task)
            argv = [sys.executable, "-c", _DOWNLOAD, uri, str(target)]
            prepared = _Prepared(argv, {}, {}, root, want)
            return Step(ComponentSpec(name=want.key, container=ContainerSpec(image="importer", command=tuple(argv))),
                        {}, {}, run_id, prepared)
        runtime = self._runtime(want, run_id, store)
        given = {k: runtime_text(v, runtime) for k, v in _with_defaults(task, want.parameters).items()}
        value = executor_input(given, want.artifacts, list(task.output_parameters), task.output_artifacts, root)
        command = [str(c) for c in task.container.get("command") or []]
        args = [str(a) for a in task.container.get("args") or []]
        env = {str(e["name"]): runtime_text(str(e.get("value", "")), runtime) for e in task.container.get("env") or []}
        program = lightweight_program(command)
        if program is not None:
            module = root.parent / "ephemeral_component.py"
            module.write_text(program, encoding="utf-8")
            argv = [sys.executable, "-m", "kfp.dsl.executor_main", "--component_module_path", str(module),
                    *substitute(args, value, runtime=runtime)]
            env["_KFP_RUNTIME"] = "true"
        else:
            argv = substitute(_shell(command, str(task.container.get("image") or "")) + args, value, runtime=runtime)
        applied = self.applied.get(want.key)
        if applied is not None:
            env.update(applied.env)
            materialize(applied, store.run_dir(run_id) / "kfp-volumes")
        fingerprint = self._fingerprint(want) if task.cache and self.sources.cache else None
        prepared = _Prepared(argv, env, value, root, want, fingerprint)
        component = ComponentSpec(name=want.key, container=ContainerSpec(
            image=str(task.container.get("image") or ""), command=tuple(argv)))
        return Step(component, {}, env, run_id, prepared)

    def _apply(self, want: Want, settings: Mapping[str, Any]) -> Applied:
        def resolve(source: Mapping[str, Any]) -> Any:
            if "runtimeValue" in source:
                return (source["runtimeValue"] or {}).get("constant")
            if "componentInputParameter" in source:
                # An input of the DAG the task is in (a pipeline parameter in the root).
                return want.scope.get(source["componentInputParameter"])
            out = source.get("taskOutputParameter") or {}
            producer = want.key.rsplit("/", 1)[0] + "/" + str(out.get("producerTask")) if "/" in want.key \
                else str(out.get("producerTask"))
            return (self.produced.get(producer) or Produced()).parameters.get(str(out.get("outputParameterKey")))

        return apply(settings, resolve, self.sources.secrets, self.sources.config_maps, self._volumes(),
                     self._pod(want.key), self.plan.source)

    def _pod(self, key: str) -> dict[str, str]:
        return {"pod": f"{self.job_name}-{key.replace('/', '-')}", "namespace": "default", "uid": self.job_uuid,
                "node": os.uname().nodename, "default": "default", "127.0.0.1": "127.0.0.1"}

    def _volumes(self) -> Path:
        return (self.store.state_dir if self.store is not None else Path(".")) / "kfp-volumes"

    def _runtime(self, want: Want, run_id: str, store: RunStore) -> dict[str, str]:
        workspace = store.state_dir / "kfp-workspaces" / self.job_uuid
        workspace.mkdir(parents=True, exist_ok=True)
        values = [self.job_name, self.job_name, self.job_uuid, want.task.name, run_id,
                  str(store.state_dir / "kfp-root"), str(workspace), self.created, self.created]
        return dict(zip(RUNTIME_PLACEHOLDERS, values, strict=True))

    def collect(self, key: str, task_name: str, step: Step,
                results: Any) -> tuple[dict[str, Any], dict[str, tuple[Mapping[str, str], Path]]]:
        prepared: _Prepared = step.context
        task = prepared.want.task
        if task.kind == "importer":
            artifact = _imported(task, prepared.want, str(prepared.root / "artifacts" / _output(task)))
            self.produced[key] = Produced({}, {_output(task): [artifact]})
            return {}, {_output(task): (dict(artifact["type"]), Path(artifact["uri"]))}
        parameters, artifacts = read_task_outputs(prepared.value, task.output_parameters)
        self.produced[key] = Produced(parameters, artifacts)
        if self.store is not None and parameters:
            # The task's KFP output parameters beside its results' outputs (`pipetune runs show`).
            recorded = dict(getattr(results, "outputs", None) or {})
            self.store.update(step.run_id, outputs={**parameters, **recorded})
        if prepared.fingerprint and self.store is not None:
            entry = _cache_path(self.store, prepared.fingerprint)
            entry.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(entry, json.dumps({"run_id": step.run_id, "parameters": parameters,
                                                 "artifacts": artifacts}))
        return parameters, {k: (dict(task.output_artifacts.get(k) or {}), Path(v[0]["uri"]))
                            for k, v in artifacts.items() if v}


_SHELLS = ("sh", "bash", "ash", "dash", "zsh")
#: Programs that only work against a cloud account (and its network).
_CLOUD_TOOLS = ("gsutil", "gcloud", "bq", "aws", "az")
_CLOUD_WORDS = "(" + "|".join(_CLOUD_TOOLS) + ")"


def _heads(command: list[str]) -> list[list[str]]:
    """The ways a command can start: both branches of a leading ``IfPresent``."""
    if command and command[0].startswith('{"IfPresent"'):
        try:
            spec = json.loads(command[0])["IfPresent"]
        except (ValueError, KeyError, TypeError):
            return [command]
        return [[str(w) for w in (spec.get(branch) or [])] + command[1:] for branch in ("Then", "Else")
                if spec.get(branch)] or [command[1:]]
    return [command]


def _python_module(command: list[str]) -> str | None:
    """The module of a ``python -m MODULE`` command."""
    if command and re.match(r"^python(3(\.\d+)?)?$", os.path.basename(command[0])):
        words = command[1:]
        for index, word in enumerate(words[:-1]):
            if word == "-m":
                return words[index + 1]
            if not word.startswith("-"):
                return None
    return None


def _shell(command: list[str], image: str) -> list[str]:
    """The command with busybox's and Alpine's ``sh`` (ash, which has ``[[ ]]``) run as bash
    here, where ``sh`` is often dash, which has not."""
    if command and command[0] in ("sh", "/bin/sh") and re.search(r"(^|/)(busybox|alpine)([:@]|$)", image):
        bash = shutil.which("bash")
        if bash:
            return [bash, *command[1:]]
    return command


def _with_defaults(task: TaskPlan, given: Mapping[str, Any]) -> dict[str, Any]:
    # The launcher adds the component's defaults for inputs the task did not give.
    values = {k: typed_value(v, task.input_types.get(k), f"task {task.name}: input {k}")
              for k, v in task.defaults.items()}
    values.update(given)
    return values


def _cache_path(store: RunStore, fingerprint: str) -> Path:
    return store.state_dir / "kfp-cache" / f"{fingerprint}.json"


def _static(source: Mapping[str, Any], *, task: TaskPlan, values: Mapping[str, Any]) -> Any:
    """A platform setting's name, when it is known before anything runs (a constant, or a
    pipeline parameter the task passes on); ``None`` otherwise."""
    if "runtimeValue" in source:
        return (source["runtimeValue"] or {}).get("constant")
    if "componentInputParameter" in source:
        return values.get(source["componentInputParameter"])
    return DEFERRED


def _local(uri: str) -> str | None:
    """The local path of an artifact URI (a path or ``file://``), else None."""
    if "://" not in uri:
        return uri
    parsed = urlparse(uri)
    return parsed.path if parsed.scheme == "file" else None


def _import(task: TaskPlan, want: Want) -> Ended | None:
    """``dsl.importer``: the artifact at its URI, with its metadata (placeholders filled from
    the importer's inputs); a local path or ``file://`` is used where it is, and any other
    URI that fsspec reads is used as given (consumers read it through fsspec)."""
    spec = task.importer or {}
    source = spec.get("artifactUri") or {}
    uri = source.get("constant") if "constant" in source else want.parameters.get(str(source.get("runtimeParameter")))
    if not isinstance(uri, str) or not uri:
        return Ended(Phase.FAILED, "ImporterUri", f"the importer's artifact URI has no value ({source})")
    local = _local(uri)
    if local is None:
        return None  # a remote URI: a run downloads it (``_download``)
    uri = str(Path(local).absolute())
    if not Path(uri).exists():
        return Ended(Phase.FAILED, "ImporterUri", f"the imported artifact {uri} does not exist")
    return Ended(Phase.SUCCEEDED, "Imported", f"artifact {uri}", Produced({}, {_output(task): [_imported(task, want, uri)]}))


def _output(task: TaskPlan) -> str:
    return next(iter(task.output_artifacts), "artifact")


def _importer_uri(task: TaskPlan, want: Want) -> str:
    source = (task.importer or {}).get("artifactUri") or {}
    return str(source.get("constant") if "constant" in source
               else want.parameters.get(str(source.get("runtimeParameter"))))


def _imported(task: TaskPlan, want: Want, uri: str) -> Artifact:
    spec = task.importer or {}
    value = {"inputs": {"parameterValues": dict(want.parameters)}, "outputs": {"outputFile": ""}}
    metadata = _fill(spec.get("metadata") or {}, value)
    return {"name": _output(task), "type": dict(spec.get("typeSchema") or {}), "uri": uri, "metadata": metadata}


#: What a remote importer's run does: copy the artifact through fsspec to a local folder.
_DOWNLOAD = ("import sys, fsspec; uri, target = sys.argv[1:]; fs, path = fsspec.core.url_to_fs(uri); "
             "fs.get(path, target, recursive=fs.isdir(path))")


def _fill(data: Any, value: Mapping[str, Any]) -> Any:
    if isinstance(data, str):
        return substitute([data], value)[0]
    if isinstance(data, list):
        return [_fill(item, value) for item in data]
    if isinstance(data, Mapping):
        return {_fill(k, value): _fill(v, value) for k, v in data.items()}
    return data


def _check_importer(plan: PipelinePlan, task: TaskPlan, values: Mapping[str, Any]) -> None:
    source = (task.importer or {}).get("artifactUri") or {}
    uri = source.get("constant")
    if "runtimeParameter" in source:
        given = task.inputs.get(source["runtimeParameter"])
        if given is not None and given.kind == "constant":
            uri = given.value
        elif given is not None and given.kind == "parameter" and task.name in plan.root.tasks:
            uri = values.get(given.value)
    if isinstance(uri, str) and _local(uri) is None:
        check_fsspec(uri, f"{plan.source}: task {task.name}: dsl.importer")


def check_fsspec(uri: str, where: str) -> None:
    """A remote URI must have an fsspec filesystem installed here: a ``SpecError`` naming it."""
    protocol = uri.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise SpecError(f"{where}: the artifact URI {uri} needs fsspec's {protocol!r} filesystem, which is not "
                        f"installed here ({exc}); install it, or import a local copy (a path or file://)") from None


def check_programs(plan: PipelinePlan) -> None:
    """Every container task's program must exist here before anything runs: a ``SpecError``
    naming the task, its image and how to make it run (or why it cannot)."""
    for dag, task in plan.all_tasks():
        if task.kind != "container":
            continue
        image = str(task.container.get("image") or "")
        if image.startswith((_CREATE_PVC, _DELETE_PVC)):
            continue
        command = [str(c) for c in task.container.get("command") or []]
        where = f"{plan.source}: task {task.name}" + ("" if dag == "root" else f" (in {dag})")
        missing = list(dict.fromkeys(r for r in pip_packages(command) if _applies(r) and not _installed(r)))
        if missing:
            raise SpecError(f"{where}: the component installs {', '.join(missing)} in its image "
                            "(packages_to_install); here it runs with this machine's Python, where "
                            f"{'they are' if len(missing) > 1 else 'it is'} not installed: pip install "
                            + " ".join(shlex.quote(m.split(';')[0].strip()) for m in missing))
        if lightweight_program(command) is not None:
            try:
                import kfp.dsl.executor_main  # noqa: F401,PLC0415 - kfp is optional: only a lightweight component runs on it
            except ImportError:
                raise SpecError(f"{where}: a lightweight Python component needs kfp on this machine: "
                                "pip install 'pipetune[kfp]'") from None
            continue
        module = _python_module(command)
        if module and importlib.util.find_spec(module.split(".")[0]) is None:
            raise SpecError(f"{where}: image {image!r} runs the Python module {module}, which is only in the image "
                            f"(not installed here)")
        if containerized_python(command):
            raise SpecError(f"{where}: a containerized Python component (kfp component build): its code is only "
                            f"in the image {image!r}, so it cannot run here; make it a lightweight component "
                            "(@dsl.component without target_image) to run it locally")
        if not command:
            raise SpecError(f"{where}: the component gives no command, so it runs its image {image!r}'s entrypoint, "
                            "which is only in the image; give the component a command to run it here")
        vertex = sorted(set(re.findall(r"\{\{\$\.(pipeline_google_cloud_\w+|pipeline_persistent_resource_id)\}\}",
                                       json.dumps(dict(task.container)))))
        if vertex:
            raise SpecError(f"{where}: uses {{{{$.{vertex[0]}}}}}, a Vertex AI placeholder that has a value only "
                            "when the pipeline runs on Google Cloud")
        args = [str(a) for a in task.container.get("args") or []]
        for head in _heads(command):
            words = head + args
            shell = os.path.basename(head[0]) in _SHELLS and len(words) > 2 and words[1] in ("-c", "-ec", "-ex")
            used = re.search(rf"(^|[\s;&|(`$]){_CLOUD_WORDS}\s", words[2]) if shell else None
            if used:
                raise SpecError(f"{where}: image {image!r} runs {used.group(2)!r} in its script, a cloud "
                                "provider's tool: it needs that cloud's account and network, which a local run "
                                "does not have")
            if os.path.basename(head[0]) in _CLOUD_TOOLS:
                raise SpecError(f"{where}: image {image!r} runs {head[0]!r}, a cloud provider's tool: it needs that "
                                "cloud's account and network, which a local run does not have")
            if local_program(head[:1]) is None:
                raise SpecError(
                    f"{where}: image {image!r} runs {head[0]!r}, which is not on this machine; install it so "
                    f"{head[0]!r} is on PATH (the image's tools run here directly, see README: How an image "
                    "maps to this machine)")
            script = head[1] if len(head) > 1 and os.path.basename(head[0]) in _SHELLS else ""
            if script and not script.startswith("-") and not os.path.isabs(script) and not os.path.exists(script):
                raise SpecError(f"{where}: image {image!r} runs the script {script!r} from inside the image "
                                f"({head[0]} {script}), which is not on this machine")


def _name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1) if match else requirement


def _installed(requirement: str) -> bool:
    try:
        importlib.metadata.version(_name(requirement))
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _applies(requirement: str) -> bool:
    """Whether a requirement's environment marker holds here (the ``python_version`` ones the
    compiler writes; any other marker is taken to hold)."""
    _, _, marker = requirement.partition(";")
    match = re.fullmatch(r'\s*python_version\s*(<=|>=|==|!=|<|>)\s*["\']([\d.]+)["\']\s*', marker)
    if not match:
        return True
    here = sys.version_info[:2]
    there = tuple(int(p) for p in match.group(2).split("."))[:2]
    return {"<": here < there, "<=": here <= there, ">": here > there, ">=": here >= there,
            "==": here == there, "!=": here != there}[match.group(1)]


def run_plan(plan: PipelinePlan, values: Mapping[str, Any], store: RunStore, engine: Engine[Any],
             parallel: int = 4, say: Say | None = None, artifacts: Mapping[str, list[Artifact]] | None = None,
             sources: Sources | None = None) -> PipelineResult:
    """Run a compiled KFP pipeline's ``plan`` with its bound parameter ``values`` and input
    ``artifacts``."""
    return run_steps(plan.name, KfpSteps(plan, values, artifacts, sources, say), values, store, engine, parallel, say)


def bind_artifacts(plan: PipelinePlan, given: Mapping[str, str]) -> dict[str, list[Artifact]]:
    """The pipeline's input artifacts from ``NAME=PATH_OR_URI`` given on the command line:
    every declared one is required; a local one must exist."""
    unknown = set(given) - set(plan.artifacts)
    if unknown:
        raise SpecError(f"{plan.source}: input artifact {sorted(unknown)[0]!r} is not declared; the pipeline takes "
                        f"{', '.join(sorted(plan.artifacts)) or 'none'}")
    bound: dict[str, list[Artifact]] = {}
    for name, kind in plan.artifacts.items():
        if name not in given:
            raise SpecError(f"{plan.source}: input artifact {name} ({kind.get('schemaTitle')}): required, give "
                            f"--artifact {name}=PATH")
        uri = given[name]
        local = _local(uri)
        if local is None:
            check_fsspec(uri, f"{plan.source}: input artifact {name}")
        elif not Path(local).exists():
            raise SpecError(f"{plan.source}: input artifact {name}: {local} does not exist")
        bound[name] = [{"name": name, "type": dict(kind), "uri": str(Path(local).absolute()) if local else uri,
                        "metadata": {}}]
    return bound
