"""One trial: the template rendered for an assignment, and a Job mapped to a local command.

Rendering (:func:`render_trial`) substitutes on the parsed tree (``_substitute``) and, for a
resource, sets ``metadata.name`` and ``metadata.namespace`` as Katib does. Kubernetes declares
some fields as strings whatever they hold, so in a rendered resource a typed value that landed
in one of them is written as text: container ``command`` and ``args`` items, ``env[].value``,
``labels`` and ``annotations`` values, and ``params[].value`` / ``parameters[].value`` (Tekton,
Argo). Everywhere else a whole-string placeholder keeps its type (``replicas: 2`` stays an int).

Local mapping (:func:`local_command`) — the rules:

* ``batch/v1 Job`` maps to one command. PyTorchJob, TFJob and TrainJob are not mapped here:
  the local engine runs them as one process per replica (``engines.local``). Every other kind
  (XGBoostJob, MPIJob, Tekton and Argo runs, ...) is refused: it runs with the Kubernetes
  engine only.
* The primary container is ``trialTemplate.primaryContainerName``; without one, the only
  container; failing that, Katib's conventional ``training-container``. Other containers and
  ``initContainers`` can't run here: the Job is refused unless ``spec.local`` says how to run it.
* argv is the container's ``command`` followed by its ``args``, every item as text.
  ``spec.local.command`` / ``spec.local.args`` replace either (placeholders allowed);
  ``spec.local.env`` is added over the container's ``env``. A container with no ``command``
  relies on its image's entrypoint, which is unknown here: refused unless ``spec.local.command``.
* ``env`` entries with ``valueFrom`` (secrets, field refs) and ``envFrom`` are not set; their
  names are listed in ``LocalCommand.unresolved_env``. ``workingDir`` is not applied: the
  image's folders don't exist here, so the command runs where pipetune runs (use
  ``spec.local.command`` with paths that resolve here).
* Metrics collectors other than StdOut, File and TensorFlowEvent are refused, with the reason.
* File and TensorFlowEvent collectors: ``LocalCommand.metrics_file`` is the file the trial
  writes, ``LocalCommand.events_dir`` the folder it writes event files under. The runner calls
  :meth:`LocalCommand.with_outputs_dir`, which moves the path into the run's outputs
  (:func:`move_collector_path`): the path itself, or else its nearest folder that argv or an
  env value names (whole, or inside a longer string such as ``--log-path=/katib/mnist.log``,
  at path boundaries), becomes ``<outputs dir>/<its basename>``, and the collector's path
  moves with it (Katib's tfjob example collects ``/logs/test`` from a program given
  ``--log-path=/logs``). A path the program builds by itself, not given on its command line or
  in its environment, can't be moved. Training jobs (TFJob, PyTorchJob, TrainJob) get the same
  move in every container of the manifest (:func:`move_in_manifest`), to ``/outputs/...``,
  which the local engine maps to each replica's outputs.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.errors import SpaceError, SpecError, UsageError
from pipetune.experiment._model import Experiment
from pipetune.experiment._substitute import (
    find_placeholders,
    format_value,
    plain_value,
    substitute,
)
from pipetune.tuner.space import DoubleParameter, IntParameter

#: Katib's conventional primary container name (the Katib SDK's default).
KATIB_DEFAULT_CONTAINER = "training-container"
#: Kinds the local engine runs replica by replica rather than as one command.
LOCAL_REPLICA_KINDS = {"kubeflow.org": ("TFJob", "PyTorchJob"), "trainer.kubeflow.org": ("TrainJob",)}
_STRING_LISTS = ("command", "args")
_STRING_MAPS = ("labels", "annotations")
_NAME_VALUE_LISTS = ("env", "params", "parameters")


def trial_values(
    experiment: Experiment,
    assignment: Mapping[str, Any],
    trial_name: str,
    namespace: str = "default",
) -> dict[str, Any]:
    """The value of every trialParameter for one trial: the assignment's value for a parameter
    reference, the trial's metadata for a ``${trialSpec.…}`` reference.

    The assignment is checked against the search space (``SpaceError``, naming the file);
    numbers are normalised first: an int parameter's ``5.0`` becomes ``5``, a double
    parameter's ``1`` becomes ``1.0``, numpy scalars become Python ones.
    """
    assignment = normalise_assignment(experiment, assignment)
    template = experiment.trial_template
    values: dict[str, Any] = {}
    for parameter in template.trial_parameters:
        meta = parameter.meta
        if meta is None:
            values[parameter.name] = assignment[parameter.reference]
            continue
        try:
            values[parameter.name] = meta.resolve(template.trial_spec or {}, trial_name, namespace)
        except KeyError:
            raise SpecError(
                f"{experiment.source}: spec.trialTemplate.trialParameters ({parameter.name}): "
                f"{meta.text} names no {meta.key.lower()} of the trialSpec"
            ) from None
    return values


def normalise_assignment(experiment: Experiment, assignment: Mapping[str, Any]) -> dict[str, Any]:
    """``assignment`` with plain Python values of each parameter's type, validated."""
    space = experiment.space
    out: dict[str, Any] = {}
    for name, value in assignment.items():
        value = plain_value(value)
        if name in space.names:
            parameter = space[name]
            if isinstance(parameter, IntParameter) and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(parameter, DoubleParameter) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        out[name] = value
    try:
        space.validate(out)
    except SpaceError as exc:
        raise SpaceError(f"{experiment.source}: assignment: {exc}") from None
    return out


def render_trial(
    experiment: Experiment,
    assignment: Mapping[str, Any],
    trial_name: str,
    namespace: str = "default",
) -> dict[str, Any]:
    """The trial for ``assignment``: its resource with every placeholder resolved and
    ``metadata.name``/``namespace`` set, or, for a component trial spec, the component's
    arguments resolved and bound (defaults filled, types checked; ``SpecError`` on a value the
    component refuses). The experiment is not modified."""
    values = trial_values(experiment, assignment, trial_name, namespace)
    src = experiment.source
    template = experiment.trial_template
    if template.component is not None:
        where = "spec.trialTemplate.trialSpec.arguments"
        arguments = substitute(dict(template.component.arguments), values, src, where)
        try:
            return template.component.component.bind(arguments)
        except UsageError as exc:
            raise SpecError(f"{src}: trial {trial_name}: {exc}") from None
    resource = substitute(template.trial_spec, values, src, "spec.trialTemplate.trialSpec")
    _stringify(resource)
    metadata = resource.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    metadata = {"name": trial_name, "namespace": namespace, **metadata}
    metadata["name"], metadata["namespace"] = trial_name, namespace
    ordered: dict[str, Any] = {}
    for key, value in resource.items():
        if key != "metadata":
            ordered[key] = value
        if key == "kind":
            ordered["metadata"] = metadata
    ordered.setdefault("metadata", metadata)
    return ordered


def _stringify(node: Any) -> None:
    """Write typed values as text where Kubernetes declares strings (see the module doc)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _STRING_LISTS and isinstance(value, list):
                node[key] = [_text(item) for item in value]
            elif key in _STRING_MAPS and isinstance(value, dict):
                node[key] = {k: _text(v) for k, v in value.items()}
            elif key in _NAME_VALUE_LISTS and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "name" in item and "value" in item:
                        item["value"] = _text(item["value"])
            _stringify(node[key])
    elif isinstance(node, list):
        for item in node:
            _stringify(item)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, (str, dict, list)):
        return value
    return format_value(value)


# -- local mapping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalCommand:
    """How a trial's primary container runs on this machine.

    ``command`` is the whole argv (the container's command, then its args), all text; mapping
    the program itself to this machine (``python`` -> this interpreter) is the local engine's
    job. ``metrics_file`` is the File collector's path, None for StdOut.
    """

    image: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    container: str = KATIB_DEFAULT_CONTAINER
    metrics_file: str | None = None
    unresolved_env: tuple[str, ...] = ()
    events_dir: str | None = None

    def with_outputs_dir(self, outputs_dir: str | os.PathLike[str]) -> LocalCommand:
        """The command with the collector's file or folder moved into ``outputs_dir``
        (:func:`move_collector_path`) wherever argv or env values name it."""
        path = self.metrics_file or self.events_dir
        if path is None:
            return self
        move, moved = move_collector_path(path, [*self.command, *self.env.values()], str(outputs_dir))
        return replace(
            self,
            command=tuple(move(item) for item in self.command),
            env={name: move(value) for name, value in self.env.items()},
            metrics_file=moved if self.metrics_file else None,
            events_dir=moved if self.events_dir else None,
        )

    def to_component(self, name: str, description: str = "") -> ComponentSpec:
        """A component that runs this command, for engines that run components."""
        return ComponentSpec(
            name=name,
            description=description,
            container=ContainerSpec(image=self.image, command=self.command, env=dict(self.env)),
        )


def local_command(
    resource: Mapping[str, Any],
    experiment: Experiment,
    assignment: Mapping[str, Any] | None = None,
) -> LocalCommand:
    """Map a rendered trial resource (:func:`render_trial`) to a local command, by the rules
    in this module's docstring. ``SpecError`` (naming the file) when it can't run here.

    ``assignment`` is needed only when ``spec.local`` holds placeholders; the trial's name and
    namespace are read from the resource's metadata.
    """
    src = experiment.source
    if experiment.trial_template.component is not None:
        raise SpecError(
            f"{src}: spec.trialTemplate.trialSpec: a component trial runs the component's own "
            "command; expected a resource (batch/v1 Job) to map"
        )
    problem = experiment.metrics_collector.local_error
    if problem:
        raise SpecError(f"{src}: {problem}")
    api_version = str(resource.get("apiVersion", ""))
    kind = str(resource.get("kind", ""))
    group = api_version.split("/")[0] if "/" in api_version else ""
    if (api_version, kind) != ("batch/v1", "Job"):
        if kind in LOCAL_REPLICA_KINDS.get(group, ()):
            problem = (f"kind {kind} ({api_version}) is not one command: the local engine runs it "
                       "as one process per replica")
        else:
            problem = (f"kind {kind} ({api_version}) can't run locally, it runs with --engine "
                       "kubernetes; locally, expected batch/v1 Job, PyTorchJob, TFJob or TrainJob")
        raise SpecError(f"{src}: spec.trialTemplate.trialSpec: {problem}")
    pod = _get(resource, "spec", "template", "spec")
    containers = pod.get("containers") if isinstance(pod, dict) else None
    where = "spec.trialTemplate.trialSpec.spec.template.spec.containers"
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise SpecError(f"{src}: {where}: expected a list of containers")
    container = _primary(containers, experiment, src, where)
    override = local_override(resource, experiment, assignment)
    others = [str(c.get("name")) for c in containers if c is not container]
    init = [str(c.get("name")) for c in pod.get("initContainers") or [] if isinstance(c, dict)]
    if (others or init) and override is None:
        listing = ", ".join([*others, *(f"{n} (init)" for n in init)])
        raise SpecError(
            f"{src}: {where}: only the primary container {container.get('name')!r} runs locally, "
            f"and the Job also has {listing}; expected a single container (or, with apiVersion "
            "pipetune.dev/v1alpha1, spec.local to say how to run the trial here)"
        )
    command = container.get("command") or []
    args = container.get("args") or []
    if override is not None:
        command = override["command"] if override["command"] is not None else command
        args = override["args"] if override["args"] is not None else args
    if not command:
        raise SpecError(
            f"{src}: {where} ({container.get('name')}): no command, so the image's entrypoint would "
            "run it, and an image's entrypoint is unknown here; expected a command (or, with "
            "apiVersion pipetune.dev/v1alpha1, spec.local.command)"
        )
    env, unresolved = _env(container)
    if override is not None:
        env.update(override["env"])
    collector = experiment.metrics_collector
    return LocalCommand(
        image=str(container.get("image") or ""),
        command=tuple(format_value(item) for item in [*command, *args]),
        env=env,
        container=str(container.get("name") or ""),
        metrics_file=collector.path if collector.kind == "File" else None,
        unresolved_env=tuple(unresolved),
        events_dir=collector.path if collector.kind == "TensorFlowEvent" else None,
    )


def _boundary(path: str) -> re.Pattern[str]:
    """``path`` as a whole path inside a longer string: not part of a longer name (a path
    under it, ``path/more``, is matched: it moves with it)."""
    return re.compile(r"(?<![\w./-])" + re.escape(path) + r"(?![\w.-])")


def move_collector_path(path: str, texts: Sequence[str], root: str) -> tuple[Callable[[str], str], str]:
    """How to move a collector's ``path`` under ``root`` in argv and env values, and where the
    path then is. The longest of ``path`` and its folders (not ``/``) that ``texts`` name is
    moved to ``<root>/<its basename>``; when none is named, ``path`` itself is (its basename
    under ``root``)."""
    clean = path.rstrip("/") or path
    candidates = [clean]
    parent = os.path.dirname(clean)
    while parent not in ("/", ""):
        candidates.append(parent)
        parent = os.path.dirname(parent)
    chosen = next((c for c in candidates if any(_boundary(c).search(text) for text in texts)), clean)
    target = f"{root.rstrip('/')}/{os.path.basename(chosen)}"
    pattern = _boundary(chosen)

    def move(text: str) -> str:
        return pattern.sub(lambda _: target, text)

    return move, target + clean[len(chosen):]


def move_in_manifest(manifest: Mapping[str, Any], move: Callable[[str], str]) -> dict[str, Any]:
    """A copy of ``manifest`` with ``move`` applied to the ``command``, ``args`` and ``env``
    values of every container (and init container) of every pod template in it."""
    copied: dict[str, Any] = copy.deepcopy(dict(manifest))
    stack: list[Any] = [copied]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in ("containers", "initContainers"):
                for container in node.get(key) or []:
                    if isinstance(container, dict):
                        _move_container(container, move)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return copied


def _move_container(container: dict[str, Any], move: Callable[[str], str]) -> None:
    for key in ("command", "args"):
        if isinstance(container.get(key), list):
            container[key] = [move(item) if isinstance(item, str) else item for item in container[key]]
    for item in container.get("env") or []:
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            item["value"] = move(item["value"])


def _primary(containers: list[dict[str, Any]], experiment: Experiment, src: str, where: str) -> dict[str, Any]:
    names = [str(c.get("name")) for c in containers]
    wanted = experiment.trial_template.primary_container_name
    if wanted is not None:
        for container in containers:
            if container.get("name") == wanted:
                return container
        raise SpecError(
            f"{src}: spec.trialTemplate.primaryContainerName: {wanted!r} is not a container of the "
            f"Job; expected one of {', '.join(names)}"
        )
    if len(containers) == 1:
        return containers[0]
    for container in containers:
        if container.get("name") == KATIB_DEFAULT_CONTAINER:
            return container
    raise SpecError(
        f"{src}: spec.trialTemplate.primaryContainerName: required when the Job has several "
        f"containers; expected one of {', '.join(names)}"
    )


def local_override(
    resource: Mapping[str, Any], experiment: Experiment, assignment: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """``spec.local`` for one rendered trial with its placeholders resolved (command, args,
    env as text), or None when the experiment has none."""
    local = experiment.local
    if local is None:
        return None
    tree: dict[str, Any] = {"command": local.command, "args": local.args, "env": dict(local.env)}
    if any(True for _ in find_placeholders(tree)):
        if assignment is None:
            raise ValueError("local_command: spec.local holds placeholders; pass the trial's assignment")
        metadata = resource.get("metadata") or {}
        values = trial_values(
            experiment,
            assignment,
            str(metadata.get("name") or ""),
            str(metadata.get("namespace") or "default"),
        )
        tree = substitute(tree, values, experiment.source, "spec.local")
    return {
        "command": None if tree["command"] is None else [format_value(x) for x in tree["command"]],
        "args": None if tree["args"] is None else [format_value(x) for x in tree["args"]],
        "env": {k: format_value(v) for k, v in tree["env"].items()},
    }


def _env(container: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    unresolved: list[str] = []
    for item in container.get("env") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if "valueFrom" in item:
            unresolved.append(item["name"])
        else:
            env[item["name"]] = format_value(item.get("value", ""))
    for item in container.get("envFrom") or []:
        if isinstance(item, dict):
            ref = item.get("configMapRef") or item.get("secretRef") or {}
            unresolved.append(f"envFrom:{ref.get('name', '?')}")
    return env, unresolved


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree
