"""The kfp-kubernetes platform section of a compiled pipeline (its second YAML document), as
it means on this machine. Every setting is one of three kinds, and none is dropped without a
word:

- *applied*: ``secretAsEnv``/``secretAsVolume`` and ``configMapAsEnv``/``configMapAsVolume``
  from a local source (a folder per Secret or ConfigMap, one file per key, the layout
  Kubernetes mounts: ``--secrets DIR`` / ``PIPETUNE_SECRETS``, ``--config-maps DIR`` /
  ``PIPETUNE_CONFIG_MAPS``), as environment variables or files at the mount path;
  ``pvcMount`` and ``emptyDirMounts`` as local folders (one per PVC name, shared by the tasks
  that mount it) at the mount path; ``fieldPathAsEnv`` with this machine's values (the pod's
  labels and annotations from ``podMetadata``); ``activeDeadlineSeconds`` as the task's timeout;
- *ignored, said once*: scheduling and image settings with no meaning here (node selectors,
  tolerations, affinity, image pull secrets and policy, pod metadata itself, ...);
- *refused before anything runs*: anything else, naming the task and the setting.

A missing Secret or ConfigMap (or key) that is not optional is refused before anything runs
when its name is known then (a constant or a pipeline parameter), and fails the task
otherwise. Pure but for ``materialize`` (which writes files and links).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.errors import SpecError

#: Settings that change where or how a pod is scheduled or pulled: nothing to do here.
IGNORED = {
    "nodeSelector": "node selector", "tolerations": "tolerations", "nodeAffinity": "node affinity",
    "podAffinity": "pod affinity", "imagePullSecret": "image pull secrets", "imagePullPolicy": "image pull policy",
    "podMetadata": "pod labels and annotations", "securityContext": "security context",
    "enabledSharedMemory": "shared memory", "generic_ephemeral_volume": "generic ephemeral volumes",
}
APPLIED = ("secretAsEnv", "secretAsVolume", "configMapAsEnv", "configMapAsVolume", "pvcMount", "emptyDirMounts",
           "fieldPathAsEnv", "activeDeadlineSeconds")
_FIELD = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")

#: A name known only once the pipeline runs (a task output): checked when its task starts.
DEFERRED = "\0deferred"

#: Resolve a name source (``{runtimeValue: {constant}}``, ``{componentInputParameter}``,
#: ``{taskOutputParameter}``): its value, or ``None`` when it has none.
Resolve = Callable[[Mapping[str, Any]], Any]


@dataclass
class Applied:
    """What a task gets from its platform settings: environment, files to write (path ->
    text), folders to link at mount paths (mount path -> local folder), a timeout."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None


def check_settings(executor: str, settings: Mapping[str, Any], task: str, where: str) -> list[str]:
    """Refuse a setting pipetune cannot give its meaning here; the ignored ones, named."""
    ignored: list[str] = []
    for key in settings:
        if key in IGNORED and key not in ("podMetadata",):
            ignored.append(IGNORED[key])
        elif key == "podMetadata":
            ignored.append(IGNORED[key])
        elif key in IGNORED:
            ignored.append(IGNORED[key])
        elif key not in APPLIED:
            raise SpecError(f"{where}: task {task}: the kfp-kubernetes setting {key!r} (executor {executor}) is not "
                            f"run here; pipetune applies {', '.join(APPLIED)} and ignores "
                            f"{', '.join(sorted(IGNORED))}")
    for entry in settings.get("fieldPathAsEnv") or []:
        path = str(entry.get("fieldPath") or "")
        if not _FIELD.match(path) and path not in _FIELD_VALUES:
            raise SpecError(f"{where}: task {task}: fieldPathAsEnv {entry.get('name')}: the field {path!r} has no "
                            f"value on this machine; pipetune gives {', '.join(sorted(_FIELD_VALUES))} and the pod's "
                            "labels and annotations")
    return ignored


_FIELD_VALUES = {"metadata.name": "pod", "metadata.namespace": "namespace", "metadata.uid": "uid",
                 "spec.nodeName": "node", "spec.serviceAccountName": "default", "status.podIP": "127.0.0.1",
                 "status.hostIP": "127.0.0.1"}


def name_of(entry: Mapping[str, Any], kind: str, resolve: Resolve) -> Any:
    """The Secret's/ConfigMap's/PVC's name an entry gives (a constant, or a parameter)."""
    if entry.get(f"{kind}Name"):
        return entry[f"{kind}Name"]
    source = entry.get(f"{kind}NameParameter")
    if isinstance(source, Mapping):
        return resolve(source)
    for key in ("constant", "componentInputParameter", "taskOutputParameter"):
        if key in entry:
            return resolve({"runtimeValue": {"constant": entry[key]}} if key == "constant" else {key: entry[key]})
    return None


def apply(settings: Mapping[str, Any], resolve: Resolve, secrets: Path | None, config_maps: Path | None,
          volumes: Path, pod: Mapping[str, str], where: str) -> Applied:
    """The environment, files, links and timeout a task gets; a ``SpecError`` for a missing
    Secret or ConfigMap that is not optional (naming it and where it was looked for)."""
    applied = Applied()
    for kind, flag, root in (("secret", "--secrets", secrets), ("configMap", "--config-maps", config_maps)):
        label = "Secret" if kind == "secret" else "ConfigMap"
        for entry in settings.get(f"{kind}AsEnv") or []:
            name = name_of(entry, kind, resolve)
            keys = _source(name, label, flag, root, bool(entry.get("optional")), where)
            if keys is None or name == DEFERRED:
                continue
            for pair in entry.get("keyToEnv") or []:
                key = str(pair.get(f"{kind}Key"))
                if key not in keys:
                    if entry.get("optional"):
                        continue
                    raise SpecError(f"{where}: {label} {name!r} has no key {key!r} (in {root})")
                applied.env[str(pair.get("envVar"))] = keys[key]
        for entry in settings.get(f"{kind}AsVolume") or []:
            name = name_of(entry, kind, resolve)
            keys = _source(name, label, flag, root, bool(entry.get("optional")), where)
            if keys is not None and name != DEFERRED:
                applied.files[str(entry.get("mountPath"))] = keys
    for entry in settings.get("pvcMount") or []:
        name = name_of(entry, "pvc", resolve)
        if name == DEFERRED:
            continue
        if not name:
            raise SpecError(f"{where}: pvcMount at {entry.get('mountPath')}: the PVC's name has no value")
        applied.links[str(entry.get("mountPath"))] = str(volumes / _safe(str(name)))
    for index, entry in enumerate(settings.get("emptyDirMounts") or []):
        applied.links[str(entry.get("mountPath"))] = str(volumes / f"empty-dir-{pod['uid']}-{index}")
    meta = settings.get("podMetadata") or {}
    for entry in settings.get("fieldPathAsEnv") or []:
        path = str(entry.get("fieldPath"))
        match = _FIELD.match(path)
        if match:
            value = str(((meta.get(match.group(1)) or {}).get(match.group(2))) or "")
        else:
            value = pod.get(_FIELD_VALUES[path], _FIELD_VALUES[path])
        applied.env[str(entry.get("name"))] = value
    if settings.get("activeDeadlineSeconds"):
        applied.timeout = float(settings["activeDeadlineSeconds"])
    return applied


def _source(name: Any, label: str, flag: str, root: Path | None, optional: bool,
            where: str) -> dict[str, str] | None:
    if name == DEFERRED:
        return {}
    if not name:
        if optional:
            return None
        raise SpecError(f"{where}: a {label} whose name has no value")
    folder = root / _safe(str(name)) if root is not None else None
    if folder is None or not folder.is_dir():
        if optional:
            return None
        env = "PIPETUNE_SECRETS" if label == "Secret" else "PIPETUNE_CONFIG_MAPS"
        raise SpecError(f"{where}: {label} {name!r} is not on this machine: give {flag} DIR (or set {env}) with "
                        f"a folder {name}/ holding one file per key" + (f" (looked in {root})" if root else ""))
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.is_file()}


def _safe(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise SpecError(f"{name!r} is not a Kubernetes object name")
    return name


def check_mount(path: str, where: str) -> None:
    """A mount path must be free on this machine (or a link pipetune made): a ``SpecError``
    otherwise, before anything runs."""
    target = Path(path)
    if not target.is_absolute():
        raise SpecError(f"{where}: mount path {path!r} is not absolute")
    if target.is_symlink() and "kfp-volumes" in Path(os.readlink(target)).parts:
        return  # a link an earlier run made
    if target.exists() or target.is_symlink():
        raise SpecError(f"{where}: mount path {path} already exists on this machine; pipetune mounts a volume by "
                        "linking that path to a local folder and will not replace what is there")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise SpecError(f"{where}: mount path {path}: {parent} is not writable here, so the volume cannot be "
                        "linked there")


def materialize(applied: Applied, private: Path) -> None:
    """Make the task's mounts real: each volume's folder linked at its mount path, each
    Secret/ConfigMap volume's files in a private folder linked at its mount path."""
    links = dict(applied.links)
    for index, (mount, files) in enumerate(applied.files.items()):
        volume = private / f"volume-{index}"
        volume.mkdir(parents=True, exist_ok=True)
        for key, text in files.items():
            (volume / key).write_text(text, encoding="utf-8")
        links[mount] = str(volume)
    for mount, folder in links.items():
        Path(folder).mkdir(parents=True, exist_ok=True)
        target = Path(mount)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            if os.readlink(target) == folder:
                continue
            target.unlink()
        os.symlink(folder, target)
