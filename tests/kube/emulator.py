"""An HTTP Kubernetes API emulator for pipetune's cluster tests, built on kmock 0.8.

``RealisticEmulator`` is a ``kmock.KubernetesEmulator`` that behaves like an API server in
the points pipetune depends on: uid, resourceVersion (one global counter), creationTimestamp
and generation are stamped; the namespace comes from the URL; a write carrying a stale
resourceVersion is refused with 409; PUT replaces; ``status`` is written only through the
``/status`` subresource; label and field selectors filter LIST and WATCH; a watch honours
``resourceVersion`` and answers 410 Gone when it is older than the events kept; pod logs are
served per container, each line stamped when it was set or appended, with ``timestamps``,
``sinceTime``, ``sinceSeconds``, ``tailLines`` and ``limitBytes`` as the kubelet serves them.
Faults are injected before any state changes, so a refused write
really leaves nothing behind. ``EmulatedCluster`` runs it on its own event loop in a thread,
for plain synchronous tests and code that uses the blocking ``kubernetes`` client.

What the emulator does NOT prove
--------------------------------
- No scheduling and no kubelet: pods run nowhere. Their status is what the FakeOperator
  (tests/kube/operator.py) or a test writes; nothing is pulled, sized, placed or evicted,
  and no pod stays Pending for lack of capacity.
- No admission: no validating or mutating webhooks, no CRD OpenAPI schema validation, no
  defaulting (``Job.spec.backoffLimit`` is not filled in) and no pruning of unknown fields.
  A manifest the emulator stores may be refused by a real API server.
- No garbage collection: ``ownerReferences`` are stored and never acted on, and
  ``propagationPolicy`` is ignored. Deleting an owner deletes nothing else; the FakeOperator
  deletes the pods it created, imitating the collector for those only. So that the
  controller's journal ConfigMaps go with their CustomRun or Experiment is checked only as
  far as their ownerReferences name it (uid included), not seen done.
- Validation covers only a ConfigMap's keys, string values and 1 MiB size; no other built-in
  type is validated.
- No RBAC, authentication, TLS, API priority and fairness or rate limits; every request is
  allowed, unless a fault is injected.
- No kubelet termination-message rules: a real kubelet keeps at most 4096 bytes per container
  (12 KiB per pod) and applies ``FallbackToLogsOnError``; the emulator stores any message.
- Pod logs are what a test or the FakeOperator writes (``set_log``, ``append_log``), stamped
  with the emulator's clock then; no container runtime writes them, nothing rotates them, no
  partial (unterminated) line is ever continued, and ``previous`` and ``follow`` are ignored.
- Pods are deleted at once: no grace period and no Terminating state.
- A strategic merge patch is applied as a JSON merge patch (lists are replaced, never
  merged by key; no ``$patch`` directives); server-side apply is refused with 415.
- LIST has no pagination (``limit``/``continue`` are ignored: one page) and always serves the
  latest state (its ``resourceVersion`` parameter is ignored); watches send no BOOKMARK events
  and ignore ``sendInitialEvents``; field selectors cover ``metadata.name``,
  ``metadata.namespace`` and a few pod fields only (others get 400, like unsupported fields).
- Event retention is a count (the last ``retention`` events, 1000 by default, across all
  resources), not etcd's time-based compaction.
- Namespaces need not exist unless ``require_namespaces=True``; deleting a namespace deletes
  nothing in it.
- ``dryRun`` is refused (400) rather than emulated.
- The controllers are scripted (operator.py): the batch Job controller, training-operator v1,
  Kubeflow Trainer (JobSet) and Tekton are imitated in names, labels, conditions and pod
  statuses, not in their restart, elastic, gang-scheduling, suspend or retry policies.
- Durations mean nothing: it is a loopback server in the test process. Request counts are real.
- One client version is exercised: the ``kubernetes`` client 30.1.0 (kfp's cap).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import copy
import dataclasses
import datetime
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Self

import attrs
import jsonpatch
import kmock
from kmock._internal import parsing as _kmock_parsing
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

#: The request header naming who sent a request: absent for the code under test ("client").
ACTOR_HEADER = "X-Emulator-Actor"
#: Verbs as ``requests()`` and ``fail()`` name them (Kubernetes' audit verbs).
VERBS = frozenset({"get", "list", "watch", "create", "patch", "update", "delete", "deletecollection"})
WRITE_VERBS = frozenset({"create", "patch", "update", "delete", "deletecollection"})
#: Groups whose objects may be replaced (PUT) without a resourceVersion, as built-in types may.
UNCONDITIONAL_UPDATE_GROUPS = frozenset({"", "batch", "apps"})
#: Groups served by the built-in API server, which accepts strategic merge patches.
BUILTIN_GROUPS = frozenset({"", "batch", "apps", "apiextensions.k8s.io", "policy", "networking.k8s.io",
                            "rbac.authorization.k8s.io", "coordination.k8s.io", "events.k8s.io"})
ALL_VERBS = sorted(VERBS)

#: The resources the project uses: ``group/version/plural`` -> (kind, namespaced, subresources).
DEFAULT_RESOURCES: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "v1/namespaces": ("Namespace", False, ("status",)),
    "v1/pods": ("Pod", True, ("status", "log")),
    "v1/configmaps": ("ConfigMap", True, ()),
    "batch/v1/jobs": ("Job", True, ("status",)),
    "kubeflow.org/v1/pytorchjobs": ("PyTorchJob", True, ("status",)),
    "kubeflow.org/v1/tfjobs": ("TFJob", True, ("status",)),
    "trainer.kubeflow.org/v1alpha1/trainjobs": ("TrainJob", True, ("status",)),
    "tekton.dev/v1/taskruns": ("TaskRun", True, ("status",)),
    "tekton.dev/v1/pipelineruns": ("PipelineRun", True, ("status",)),
    "tekton.dev/v1beta1/customruns": ("CustomRun", True, ("status",)),
    "argoproj.io/v1alpha1/workflows": ("Workflow", True, ()),
    "pipetune.dev/v1alpha1/experiments": ("Experiment", True, ("status",)),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False, ("status",)),
}

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}
_POD_FIELDS = frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                         "status.phase", "status.podIP", "status.nominatedNodeName"})
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_UID_NAMESPACE = uuid.UUID("6ba7b812-9dad-11d1-80b4-00c04fd430c8")
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})  # Go's strconv.ParseBool


# -- kmock 0.8 parsing fixes -------------------------------------------------------------------

def _install_parsing_fixes() -> None:
    """Fix two URL-parsing bugs of kmock 0.8, for every kmock handler in this process.

    * ``?watch=True`` (what the sync client sends; the API server takes any Go ParseBool true)
      is not taken for a watch: kmock compares with ``'true'`` only.
    * ``/api/v1/namespaces`` (the Namespace resource itself) crashes the parser, and
      ``/api/v1/namespaces/<name>`` parses as a namespace with no resource.

    They must be fixed in the parser: kmock parses a request before any handler hook runs.
    Other paths parse exactly as before. Idempotent.
    """
    if getattr(_kmock_parsing, "_pipetune_fixed", False):
        return
    original_guess = _kmock_parsing.guess_k8s
    original_parse = _kmock_parsing.parse_path

    def guess_k8s(k8s, method, query):  # type: ignore[no-untyped-def]
        if query.get("watch") in _TRUE:
            query = {**query, "watch": "true"}
        return original_guess(k8s, method, query)

    def parse_path(path: str):  # type: ignore[no-untyped-def]
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "api" and parts[2] == "namespaces" and (
            len(parts) <= 4 or (len(parts) == 5 and parts[4] in ("status", "finalize"))
        ):
            return _kmock_parsing.ParsedPath(
                group="", version=parts[1], plural="namespaces", namespace=None,
                name=parts[3] if len(parts) >= 4 else None,
                subresource=parts[4] if len(parts) == 5 else None,
            )
        return original_parse(path)

    _kmock_parsing.guess_k8s = guess_k8s
    _kmock_parsing.parse_path = parse_path
    _kmock_parsing._pipetune_fixed = True


_install_parsing_fixes()


# -- selectors ---------------------------------------------------------------------------------

_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _split_terms(text: str) -> list[str]:
    """Split a selector at the commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return [term.strip() for term in terms]


def parse_label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """A predicate on a labels dict for ``text`` (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
    ``a in (x,y)``, ``a notin (x,y)``, ``a>1``, ``a<1``); ``ValueError`` names a bad term."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    if not text.strip():
        return lambda labels: True
    for term in _split_terms(text):
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", term)
        if match:
            key, op, values_text = match.groups()
            values = frozenset(v.strip() for v in values_text.split(","))
            if not all(_LABEL_VALUE.fullmatch(v) for v in values):
                raise ValueError(f"label selector term {term!r}: invalid value in {sorted(values)}")
        elif term.startswith("!"):
            key, op, values = term[1:].strip(), "!", frozenset()
        else:
            match = re.fullmatch(r"([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)", term)
            if match:
                key, op, value = match.groups()
                if op in "<>" and not value.lstrip("-").isdigit():
                    raise ValueError(f"label selector term {term!r}: {op} needs an integer")
                if op not in "<>" and not _LABEL_VALUE.fullmatch(value):
                    raise ValueError(f"label selector term {term!r}: invalid value {value!r}")
                values = frozenset({value})
            else:
                key, op, values = term, "exists", frozenset()
        if not _LABEL_KEY.fullmatch(key):
            raise ValueError(f"label selector term {term!r}: invalid key {key!r}")
        checks.append(_label_check(key, op, values))
    return lambda labels: all(check(labels) for check in checks)


def _label_check(key: str, op: str, values: frozenset[str]) -> Callable[[Mapping[str, str]], bool]:
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if op in ("=", "==", "in"):
        return lambda labels: key in labels and labels[key] in values
    if op in ("!=", "notin"):
        return lambda labels: key not in labels or labels[key] not in values
    bound = int(next(iter(values)))
    if op == ">":
        return lambda labels: labels.get(key, "").lstrip("-").isdigit() and int(labels[key]) > bound
    return lambda labels: labels.get(key, "").lstrip("-").isdigit() and int(labels[key]) < bound


def parse_field_selector(text: str, plural: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate on an object for ``text`` (``path=v``, ``path==v``, ``path!=v``); the paths
    a real server supports for ``plural`` only, else ``ValueError``."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    if not text.strip():
        return lambda obj: True
    for term in _split_terms(text):
        match = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(\S*)", term)
        if not match:
            raise ValueError(f"field selector term {term!r}: expected path=value or path!=value")
        path, op, value = match.groups()
        if path not in ("metadata.name", "metadata.namespace") and not (plural == "pods" and path in _POD_FIELDS):
            raise ValueError(f'field label not supported: {path}')
        checks.append(_field_check(path.split("."), op != "!=", value))
    return lambda obj: all(check(obj) for check in checks)


def _field_check(path: list[str], equal: bool, value: str) -> Callable[[Mapping[str, Any]], bool]:
    def check(obj: Mapping[str, Any]) -> bool:
        found: Any = obj
        for part in path:
            found = found.get(part) if isinstance(found, Mapping) else None
        return (str(found if found is not None else "") == value) == equal
    return check


# -- helpers -------------------------------------------------------------------------------------

def now_iso() -> str:
    """The current time as the API server writes timestamps (seconds, UTC, ``Z``)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_suffix(*parts: object, length: int = 5) -> str:
    """A deterministic suffix from Kubernetes' name alphabet (as ``generateName`` uses)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in digest[:length])


def as_resource(spec: str | kmock.resource) -> kmock.resource:
    """``'kubeflow.org/v1/pytorchjobs'`` or ``'v1/pods'`` as a kmock resource; ``ValueError``
    unless group, version and plural are all given."""
    resource = spec if isinstance(spec, kmock.resource) else kmock.resource(spec)
    if resource.group is None or resource.version is None or not resource.plural:
        raise ValueError(f"resource {spec!r}: expected 'group/version/plural' or 'v1/plural'")
    return resource


def resource_path(resource: kmock.resource, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """The URL path of a collection, an object or its subresource."""
    parts = [f"/api/{resource.version}" if resource.group == "" else f"/apis/{resource.group}/{resource.version}"]
    if namespace is not None:
        parts += ["namespaces", namespace]
    parts.append(str(resource.plural))
    if name is not None:
        parts.append(name)
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


def _api_version(resource: kmock.resource) -> str:
    return str(resource.version) if resource.group == "" else f"{resource.group}/{resource.version}"


def _qualified(resource: kmock.resource) -> str:
    return str(resource.plural) if resource.group == "" else f"{resource.plural}.{resource.group}"


def _error(status: int, message: str, reason: str | None = None, **details: Any) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=reason or _REASONS.get(status, "Unknown"),
                                 message=message, details=details or {"causes": []})


def _json(status: int, payload: Any) -> kmock.Response:
    # Always set status and Content-Type: kmock merges them into the reaction for good.
    return kmock.Response(status=status, payload=payload, headers={"Content-Type": "application/json"})


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


#: A ConfigMap's data and binaryData together may hold this many bytes (keys and values).
CONFIGMAP_MAX_BYTES = 1024 * 1024
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _validate(resource: kmock.resource, obj: Mapping[str, Any]) -> None:
    """The API server's validation of the built-in types the project writes that the emulator
    checks: a ConfigMap's keys, string values and 1 MiB size (422, as a server answers)."""
    if resource.group != "" or resource.plural != "configmaps":
        return
    name = (obj.get("metadata") or {}).get("name")
    size = 0
    for field in ("data", "binaryData"):
        entries = obj.get(field) or {}
        if not isinstance(entries, dict):
            raise _error(422, f'ConfigMap "{name}" is invalid: {field}: must be a map', name=name, kind="configmaps")
        for entry, value in entries.items():
            if not _CONFIGMAP_KEY.match(entry) or not isinstance(value, str):
                raise _error(422, f'ConfigMap "{name}" is invalid: {field}[{entry}]: a key of [-._a-zA-Z0-9]+ '
                                  "and a string value are required", name=name, kind="configmaps")
            size += len(entry) + len(value.encode())
    if size > CONFIGMAP_MAX_BYTES:
        raise _error(422, f'ConfigMap "{name}" is invalid: []: Too long: must have at most {CONFIGMAP_MAX_BYTES} '
                          "bytes", name=name, kind="configmaps")


def _without(obj: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _rv_of(obj: Mapping[str, Any] | None) -> str | None:
    meta = (obj or {}).get("metadata")
    return str(meta["resourceVersion"]) if isinstance(meta, Mapping) and meta.get("resourceVersion") else None


# -- the emulator --------------------------------------------------------------------------------

@dataclasses.dataclass
class Fault:
    """One injected fault; see ``RealisticEmulator.fail``. ``hits`` counts the requests it hit."""

    verb: str
    resource: str
    status: int | None = 500
    times: int | None = 1
    name: str | None = None
    namespace: str | None = None
    delay: float = 0.0
    reason: str | None = None
    message: str | None = None
    actor: str = "client"
    hits: int = 0

    def matches(self, verb: str, keys: Iterable[str], namespace: str | None, name: str | None, actor: str) -> bool:
        return (
            (self.times is None or self.hits < self.times)
            and self.verb in ("*", verb)
            and (self.resource == "*" or self.resource in keys)
            and (self.name is None or self.name == name)
            and (self.namespace is None or self.namespace == namespace)
            and self.actor in ("*", actor)
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclasses.dataclass(frozen=True)
class Event:
    """A committed change: ``old`` is the previous state for MODIFIED (for selector moves)."""

    rv: int
    resource: kmock.resource
    type: str
    object: dict[str, Any]
    old: dict[str, Any] | None = None


_END = object()   # end a watch stream cleanly
_GONE = object()  # end a watch stream with an ERROR 410 event


@dataclasses.dataclass(eq=False)
class _Watch:
    resource: kmock.resource
    queue: asyncio.Queue


@attrs.define(kw_only=True)
class RealisticEmulator(kmock.KubernetesEmulator):
    """A kmock emulator with an API server's bookkeeping; see the module docstring.

    Thread-safe from other threads: ``fail``, ``slow``, ``clear_faults``, ``set_log``, ``append_log``,
    ``requests``, ``reset_requests``, ``end_watches``, ``compact``, ``declare``,
    ``add_listener``. Everything else runs on the emulator's loop.

    kmock reactions (``emulator[...] << payload``) still answer before the emulator, but once
    one is added every request goes through kmock's matching, whose cost grows with the number
    of requests served so far; without reactions resource requests skip it. State changes
    happen before reactions run, as in kmock: to refuse a write, use ``fail``.
    """

    #: How many events are kept for watches that resume from a resourceVersion.
    retention: int = 1000
    #: Refuse a create into a namespace that has no Namespace object (404), as a server does.
    require_namespaces: bool = False

    _rv: int = attrs.field(default=1000, init=False)
    _log: collections.deque = attrs.field(init=False, default=None)
    _floor: int = attrs.field(default=0, init=False)
    _watches: set = attrs.field(factory=set, init=False)
    _listeners: list = attrs.field(factory=list, init=False)
    _results: dict = attrs.field(factory=dict, init=False)
    _gone: dict = attrs.field(factory=dict, init=False)
    _faults: list = attrs.field(factory=list, init=False)
    _tallies: dict = attrs.field(factory=dict, init=False)
    _logs: dict = attrs.field(factory=dict, init=False)
    _sync: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    listener_errors: list = attrs.field(factory=list, init=False)
    _builtin_reactions: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.retention < 1:
            raise ValueError(f"RealisticEmulator: retention {self.retention} must be at least 1")
        self._log = collections.deque(maxlen=self.retention)
        # kmock routes by its own action, which PUT and DELETE-collection lack.
        self.fallback[kmock.method.PUT] << self._serve_written
        self.fallback[kmock.method.DELETE] << self._serve_written
        self._builtin_reactions = len(self._payloads)
        for spec, (kind, namespaced, subresources) in DEFAULT_RESOURCES.items():
            self.declare(spec, kind, namespaced=namespaced, subresources=subresources)

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        self._loop = asyncio.get_running_loop()
        self._closing = False
        return await super().__aenter__()

    # -- public, thread-safe -----------------------------------------------------------------

    def declare(self, resource: str | kmock.resource, kind: str, *, namespaced: bool = True,
                subresources: Iterable[str] = ("status",)) -> None:
        """Serve ``resource`` (as an installed CRD or built-in type is served)."""
        self.resources[as_resource(resource)] = kmock.ResourceInfo(
            kind=kind, namespaced=namespaced, verbs=ALL_VERBS, subresources=set(subresources),
            singular=kind.lower())

    def undeclare(self, resource: str | kmock.resource) -> None:
        """Stop serving ``resource``: every request for it gets 404, as with a missing CRD."""
        del self.resources[as_resource(resource)]

    def fail(self, verb: str, resource: str, status: int | None = 500, *, times: int | None = 1,
             name: str | None = None, namespace: str | None = None, delay: float = 0.0,
             reason: str | None = None, message: str | None = None, actor: str = "client") -> Fault:
        """Make the next ``times`` matching requests fail (None: every one until cleared).

        ``verb`` is one of ``VERBS`` or ``"*"``; ``resource`` a plural (``"pytorchjobs"``,
        ``"pods/log"``, ``"pytorchjobs/status"``), ``"group/version/plural"``, or ``"*"``.
        The request is refused before any state changes. ``delay`` seconds are slept first
        (``status=None``: only slow, then served normally; a write lands after the delay even
        if the client gave up). For ``watch``, 410 is sent as an ERROR event in a 200 stream,
        as servers do; other statuses as the HTTP status. ``actor`` ``"client"`` hits the code
        under test only (not the operator's or the test helpers' requests); ``"*"`` hits all.
        """
        if verb != "*" and verb not in VERBS:
            raise ValueError(f"fail(): verb {verb!r} is not one of {sorted(VERBS)} or '*'")
        if status is None and not delay:
            raise ValueError("fail(): give a status, a delay, or both")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"fail(): status {status} is not an HTTP error status")
        if times is not None and times < 1:
            raise ValueError(f"fail(): times {times} must be at least 1 (or None: always)")
        fault = Fault(verb, resource, status, times, name, namespace, delay, reason, message, actor)
        with self._sync:
            self._faults.append(fault)
        return fault

    def slow(self, verb: str, resource: str, delay: float, *, times: int | None = None, **kwargs: Any) -> Fault:
        """Delay matching requests by ``delay`` seconds (every one by default), then serve them."""
        return self.fail(verb, resource, None, times=times, delay=delay, **kwargs)

    def clear_faults(self) -> None:
        with self._sync:
            self._faults.clear()

    def set_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        """The text ``GET .../pods/<pod>/log?container=<container>`` returns (its lines stamped now)."""
        with self._sync:
            self._logs[namespace, pod, container] = []
            self._append_log(namespace, pod, container, text)

    def append_log(self, namespace: str, pod: str, container: str, text: str, *, at: float | None = None) -> None:
        """Add ``text`` to the end of a container's log, as a running container writes it; each
        line is stamped now, or at ``at`` (seconds since the epoch), and always a nanosecond
        or more after the line before it."""
        with self._sync:
            self._append_log(namespace, pod, container, text, at)

    def _append_log(self, namespace: str, pod: str, container: str, text: str, at: float | None = None) -> None:
        lines = self._logs.setdefault((namespace, pod, container), [])
        for line in text.splitlines(keepends=True):
            when = time.time_ns() if at is None else int(at) * 1_000_000_000 + round((at - int(at)) * 1e9)
            lines.append((max(when, lines[-1][0] + 1 if lines else 0), line))

    def requests(self, actor: str = "client") -> collections.Counter[tuple[str, str]]:
        """Requests served, by (verb, resource): the resource is the plural, with ``/sub`` for a
        subresource (``("get", "pods/log")``, ``("patch", "pytorchjobs/status")``); a watch counts
        once per stream opened. ``actor``: ``"client"`` (the code under test, the default),
        ``"operator"``, ``"test"`` (EmulatedCluster helpers), or ``"*"`` for all."""
        with self._sync:
            if actor == "*":
                total: collections.Counter[tuple[str, str]] = collections.Counter()
                for tally in self._tallies.values():
                    total.update(tally)
                return total
            return collections.Counter(self._tallies.get(actor, {}))

    def reset_requests(self) -> None:
        with self._sync:
            self._tallies.clear()

    def end_watches(self, resource: str | kmock.resource | None = None, *, gone: bool = False) -> None:
        """End the open watch streams (of ``resource``, or all) cleanly, so clients reconnect
        from their last resourceVersion; ``gone=True`` sends an ERROR 410 event first."""
        wanted = None if resource is None else as_resource(resource)
        self._on_loop(self._end_watches, wanted, _GONE if gone else _END)

    def compact(self) -> None:
        """Forget every event so far: a watch from any older resourceVersion gets 410."""
        self._on_loop(self._compact)

    def add_listener(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on the emulator's loop after every committed change (keep it
        quick, never block); returns a function that removes it."""
        with self._sync:
            self._listeners.append(listener)

        def remove() -> None:
            with self._sync:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return remove

    # -- loop-side state -------------------------------------------------------------------------

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn(*args)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()

            def run() -> None:
                try:
                    fn(*args)
                    done.set_result(None)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    done.set_exception(exc)
            loop.call_soon_threadsafe(run)
            done.result(timeout=10)

    def _end_watches(self, resource: kmock.resource | None, marker: object) -> None:
        for watch in list(self._watches):
            if resource is None or watch.resource == resource:
                watch.queue.put_nowait(marker)

    def _compact(self) -> None:
        self._log.clear()
        self._floor = self._rv

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo:
        if resource not in self.resources:
            raise _error(404, "the server could not find the requested resource", kind=resource.plural)
        return self.resources[resource]

    def _current(self, key: tuple[kmock.resource, str | None, str]) -> dict[str, Any] | None:
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.last.raw

    def _items(self, resource: kmock.resource, namespace: str | None) -> list[dict[str, Any]]:
        found = []
        for (res, ns, _), obj in self.objects.items():
            if res == resource and (namespace is None or ns == namespace) and not obj.deleted:
                found.append(obj.last.raw)
        found.sort(key=lambda o: ((o.get("metadata") or {}).get("namespace") or "",
                                  (o.get("metadata") or {}).get("name") or ""))
        return found

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _commit(self, resource: kmock.resource, key: tuple, kind: str, new: dict[str, Any],
                old: dict[str, Any] | None) -> None:
        if kind == "DELETED":
            self.objects[key].delete()
        elif key in self.objects:
            self.objects[key].history.append(new)
        else:
            self.objects[key] = new
        event = Event(int(new["metadata"]["resourceVersion"]), resource, kind, new, old)
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            self._floor = self._log[0].rv
        self._log.append(event)
        for watch in list(self._watches):
            if watch.resource == resource:
                watch.queue.put_nowait(event)
        with self._sync:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # noqa: BLE001 - a listener must not break a write
                self.listener_errors.append(exc)

    # -- request handling ------------------------------------------------------------------------

    async def _handle(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        resource = request.resource
        if resource is None or not resource.plural:  # discovery and other non-resource paths
            return await kmock.RawHandler._handle(self, request)
        verb = _verb(request)
        short = resource.plural + (f"/{request.subresource}" if request.subresource else "")
        keys = (short, f"{_api_version(resource)}/{short}")
        actor = next((v for k, v in request.headers.items() if k.lower() == ACTOR_HEADER.lower()), "client")
        with self._sync:
            self._tallies.setdefault(actor, collections.Counter())[verb, short] += 1
            fault = next((f for f in self._faults if f.matches(verb, keys, request.namespace, request.name, actor)),
                         None)
            if fault is not None:
                fault.hits += 1
                if fault.exhausted:
                    self._faults.remove(fault)
        try:
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    if verb == "watch" and fault.status == 410:
                        self._gone[request] = fault
                    else:
                        raise _error(fault.status, fault.message or f"injected fault: {verb} {short}",
                                     fault.reason, name=request.name, kind=resource.plural)
            if verb in WRITE_VERBS:
                if request.params.get("dryRun"):
                    raise _error(400, "dryRun is not emulated")
                self._results[request] = self._write(verb, request)
            if len(self._payloads) > self._builtin_reactions:
                # A test added kmock reactions: let kmock's DSL choose (its matching costs time
                # in proportion to all requests so far, so it is skipped when there are none).
                return await kmock.RawHandler._handle(self, request)
            return await (await self._serve(verb, request))(request)
        finally:
            self._results.pop(request, None)
            self._gone.pop(request, None)

    def _write(self, verb: str, request: kmock.Request) -> tuple[int, Any]:
        resource = request.resource
        info = self._info(resource)
        namespace = request.namespace if info.namespaced is not False else None
        body = request.data
        if verb == "create":
            if request.name is not None or request.subresource:
                raise _error(405, f"POST is not supported on {request.url.path}")
            return 201, self._create(resource, info, namespace, body)
        if verb == "deletecollection":
            return 200, self._delete_collection(resource, info, namespace, request.params)
        key = (resource, namespace, request.name)
        old = self._current(key)
        if old is None:
            raise _error(404, f'{_qualified(resource)} "{request.name}" not found', name=request.name,
                         kind=resource.plural)
        if request.subresource not in (None, "status") or (
                request.subresource == "status" and "status" not in info.subresources):
            raise _error(404, f"the server could not find the requested resource ({request.subresource})")
        if verb == "delete":
            return 200, self._delete(resource, key, old, body if isinstance(body, dict) else {})
        if verb == "patch":
            new = self._patched(resource, old, body, _content_type(request))
        else:  # update (PUT)
            new = self._replacement(resource, old, body, request.name)
        return 200, self._update(resource, info, key, old, new, request.subresource)

    def _create(self, resource: kmock.resource, info: kmock.ResourceInfo, url_namespace: str | None,
                body: Any, *, keep_status: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise _error(400, "the body must be a JSON object with a metadata object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            raise _error(400, "resourceVersion should not be set on objects to be created")
        api_version = _api_version(resource)
        if obj.get("apiVersion", api_version) != api_version or (
                info.kind and obj.get("kind", info.kind) != info.kind):
            raise _error(400, f"the object is a {obj.get('apiVersion')}/{obj.get('kind')}, "
                              f"not a {api_version}/{info.kind} as {resource.plural} needs")
        if info.namespaced is False:
            namespace = None
            meta.pop("namespace", None)
        else:
            if url_namespace and meta.get("namespace") and meta["namespace"] != url_namespace:
                raise _error(400, "the namespace of the provided object does not match the namespace "
                                  "sent on the request")
            namespace = url_namespace or meta.get("namespace")
            if not namespace:
                raise _error(400, f"{resource.plural} are namespaced: a namespace is required")
            if self.require_namespaces and self._current((as_resource("v1/namespaces"), None, namespace)) is None:
                raise _error(404, f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
            meta["namespace"] = namespace
        name = meta.get("name")
        if not name:
            if not meta.get("generateName"):
                raise _error(422, "name or generateName is required", kind=resource.plural)
            name = meta["generateName"] + name_suffix(meta["generateName"], self._rv + 1)
        key = (resource, namespace, name)
        if self._current(key) is not None:
            raise _error(409, f'{_qualified(resource)} "{name}" already exists', "AlreadyExists",
                         name=name, kind=resource.plural)
        rv = self._next_rv()
        meta.update(name=name, uid=str(uuid.uuid5(_UID_NAMESPACE, f"{id(self)}/{rv}")), resourceVersion=rv,
                    creationTimestamp=now_iso(), generation=1)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(field, None)
        obj["apiVersion"] = api_version
        if info.kind:
            obj["kind"] = info.kind
        if "status" in info.subresources and not keep_status:
            obj.pop("status", None)
            if resource.plural == "pods" and resource.group == "":
                obj["status"] = {"phase": "Pending"}
        _validate(resource, obj)
        self._commit(resource, key, "ADDED", obj, None)
        return obj

    def _patched(self, resource: kmock.resource, old: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
        current_rv = _rv_of(old)
        if content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise _error(400, "a JSON patch must be a JSON array of operations")
            try:
                new = jsonpatch.apply_patch(copy.deepcopy(old), body)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise _error(422, f"the JSON patch does not apply: {exc}") from None
            if current_rv and _rv_of(new) != current_rv:
                raise self._conflict(resource, old)
            return new
        if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if content_type.startswith("application/strategic") and resource.group not in BUILTIN_GROUPS:
                raise _error(415, "the body of the request was in an unknown format - accepted media types "
                                  "include: application/json-patch+json, application/merge-patch+json, "
                                  "application/apply-patch+yaml")
            if not isinstance(body, dict):
                raise _error(400, "a merge patch must be a JSON object")
            meta = body.get("metadata")
            wanted = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if wanted is not None and current_rv and str(wanted) != current_rv:
                raise self._conflict(resource, old)
            return _merge_patch(copy.deepcopy(old), body)
        raise _error(415, f"patch content type {content_type!r} is not emulated (server-side apply is not)")

    def _replacement(self, resource: kmock.resource, old: dict[str, Any], body: Any, name: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise _error(400, "the body must be a JSON object with a metadata object")
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise _error(400, f"the name of the object ({meta.get('name')}) does not match the name on the "
                              f"URL ({name})")
        wanted = meta.get("resourceVersion")
        if not wanted:
            if resource.group not in UNCONDITIONAL_UPDATE_GROUPS:
                raise _error(422, "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                             name=name, kind=resource.plural)
        elif _rv_of(old) and str(wanted) != _rv_of(old):
            raise self._conflict(resource, old)
        return copy.deepcopy(body)

    def _conflict(self, resource: kmock.resource, old: dict[str, Any]) -> kmock.KubernetesError:
        name = old["metadata"]["name"]
        return _error(409, f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": the object has '
                           "been modified; please apply your changes to the latest version and try again",
                      name=name, kind=resource.plural)

    def _update(self, resource: kmock.resource, info: kmock.ResourceInfo, key: tuple, old: dict[str, Any],
                new: dict[str, Any], subresource: str | None) -> dict[str, Any]:
        if not isinstance(new, dict):
            raise _error(422, "the result is not a JSON object")
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            if "status" in info.subresources:
                if "status" in old:
                    result["status"] = copy.deepcopy(old["status"])
                else:
                    result.pop("status", None)
        meta = result.get("metadata")
        if not isinstance(meta, dict):
            meta = result["metadata"] = {}
        old_meta = old.get("metadata") or {}
        for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        for field in ("apiVersion", "kind"):
            if field in old:
                result[field] = old[field]
        if result == old:
            return old  # a no-op: no new resourceVersion, no event
        _validate(resource, result)
        if _without(result, "metadata", "status") != _without(old, "metadata", "status"):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        meta["resourceVersion"] = self._next_rv()
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(resource, key, "DELETED", result, old)  # the last finalizer went: it is gone
        else:
            self._commit(resource, key, "MODIFIED", result, old)
        return result

    def _delete(self, resource: kmock.resource, key: tuple, old: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
        meta = old.get("metadata") or {}
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise _error(409, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                              f"{meta.get('uid')}", name=meta.get("name"), kind=resource.plural)
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != _rv_of(old):
            raise _error(409, f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                              f"ResourceVersion in object meta: {_rv_of(old)}",
                         name=meta.get("name"), kind=resource.plural)
        result = copy.deepcopy(old)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old
            result["metadata"].update(deletionTimestamp=now_iso(), deletionGracePeriodSeconds=0,
                                      resourceVersion=self._next_rv())
            self._commit(resource, key, "MODIFIED", result, old)
            return result
        result["metadata"]["resourceVersion"] = self._next_rv()
        self._commit(resource, key, "DELETED", result, old)
        return result

    def _delete_collection(self, resource: kmock.resource, info: kmock.ResourceInfo, namespace: str | None,
                           params: Mapping[str, str]) -> dict[str, Any]:
        matches = self._selector(resource, params)
        deleted = []
        for obj in self._items(resource, namespace):
            if matches(obj):
                meta = obj["metadata"]
                key = (resource, meta.get("namespace") if info.namespaced is not False else None, meta["name"])
                deleted.append(self._delete(resource, key, obj, {}))
        return self._list_body(resource, info, deleted)

    def _selector(self, resource: kmock.resource, params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
        try:
            labels = parse_label_selector(params.get("labelSelector", ""))
            fields = parse_field_selector(params.get("fieldSelector", ""), str(resource.plural))
        except ValueError as exc:
            raise _error(400, str(exc)) from None
        return lambda obj: labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj)

    def _list_body(self, resource: kmock.resource, info: kmock.ResourceInfo, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": _api_version(resource),
            "kind": f"{info.kind or resource.plural}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    # -- serving (kmock fallbacks; run unless a user reaction answers first) ---------------------

    async def _serve(self, verb: str, request: kmock.Request) -> kmock.Response:
        if verb in WRITE_VERBS:
            return await self._serve_written(request)
        if verb == "watch":
            return await self._serve_watch(request)
        if verb == "list":
            return await self._serve_list(request)
        if verb == "get":
            return await self._serve_fetch(request)
        raise kmock.KubernetesEndpointNotFoundError()

    async def _serve_written(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        if request not in self._results:  # not a resource write (never NotImplemented: kmock disables it)
            raise kmock.KubernetesEndpointNotFoundError()
        status, payload = self._results[request]
        return _json(status, payload)

    async def _serve_create(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        return await self._serve_written(request)

    async def _serve_update(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        return await self._serve_written(request)

    async def _serve_delete(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        return await self._serve_written(request)

    async def _serve_fetch(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        resource = request.resource
        info = self._info(resource)
        namespace = request.namespace if info.namespaced is not False else None
        obj = self._current((resource, namespace, request.name))
        if obj is None:
            raise _error(404, f'{_qualified(resource)} "{request.name}" not found', name=request.name,
                         kind=resource.plural)
        if request.subresource == "log" and resource.plural == "pods" and resource.group == "":
            return self._serve_log(obj, request)
        if request.subresource is not None and request.subresource not in info.subresources:
            raise _error(404, f"the server could not find the requested resource ({request.subresource})")
        return _json(200, obj)

    def _serve_log(self, pod: dict[str, Any], request: kmock.Request) -> kmock.Response:
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init_names = [c.get("name") for c in spec.get("initContainers") or []]
        container = request.params.get("container")
        if not container:
            if len(names) > 1:
                raise _error(400, f"a container name must be specified for pod {request.name}, choose one of: "
                                  f"[{' '.join(names)}]")
            container = names[0] if names else ""
        elif names and container not in names + init_names:
            raise _error(400, f"container {container} is not valid for pod {request.name}")
        with self._sync:
            lines = list(self._logs.get((request.namespace, request.name, container), []))
        since_time, since_seconds = request.params.get("sinceTime"), request.params.get("sinceSeconds")
        if since_time and since_seconds:
            raise _error(422, "at most one of sinceTime or sinceSeconds may be specified")
        if since_time:
            since = _parse_rfc3339_ns(since_time)
            if since is None:
                raise _error(400, f"sinceTime {since_time!r}: not an RFC 3339 time")
            lines = [(stamp, line) for stamp, line in lines if stamp >= since]
        elif since_seconds:
            if not since_seconds.isdigit() or int(since_seconds) < 1:
                raise _error(422, f"sinceSeconds {since_seconds!r}: must be greater than 0")
            since = time.time_ns() - int(since_seconds) * 1_000_000_000
            lines = [(stamp, line) for stamp, line in lines if stamp >= since]
        tail = request.params.get("tailLines")
        if tail is not None and tail.isdigit():
            lines = lines[len(lines) - int(tail):] if int(tail) else []
        stamped = request.params.get("timestamps") in _TRUE
        text = "".join(f"{_rfc3339_nano(stamp)} {line}" if stamped else line for stamp, line in lines)
        data = text.encode()
        limit = request.params.get("limitBytes")
        if limit is not None and limit.isdigit():
            data = data[:int(limit)]
        return kmock.Response(status=200, payload=data, headers={"Content-Type": "text/plain"})

    async def _serve_list(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        resource = request.resource
        info = self._info(resource)
        namespace = request.namespace if info.namespaced is not False else None
        matches = self._selector(resource, request.params)
        items = [obj for obj in self._items(resource, namespace) if matches(obj)]
        return _json(200, self._list_body(resource, info, items))

    async def _serve_watch(self, request: kmock.Request):  # type: ignore[no-untyped-def]
        resource = request.resource
        info = self._info(resource)
        namespace = request.namespace if info.namespaced is not False else None
        selected = self._selector(resource, request.params)
        name = request.name  # a watch on one object's URL

        def matches(obj: Mapping[str, Any]) -> bool:
            return (name is None or (obj.get("metadata") or {}).get("name") == name) and selected(obj)
        since = request.params.get("resourceVersion") or ""
        if since and not since.isdigit():
            raise _error(400, f"resourceVersion {since!r} is not a valid resource version")
        timeout = request.params.get("timeoutSeconds")
        deadline = time.monotonic() + float(timeout) if timeout and timeout.isdigit() else None
        gone = request in self._gone
        stream = self._watch_stream(resource, namespace, matches, int(since or 0), deadline, gone)
        return kmock.Response(status=200, payload=stream, headers={"Content-Type": "application/json"})

    async def _watch_stream(self, resource: kmock.resource, namespace: str | None,
                            matches: Callable[[Mapping[str, Any]], bool], since: int,
                            deadline: float | None, gone: bool) -> AsyncIterator[Any]:
        yield b""  # send the headers now: the client's call returns before any event
        if gone or (since and since < self._floor):
            yield _gone_event(since, self._floor)
            return
        if self._closing:
            return
        # Snapshot and subscribe with no await in between, so no event falls in a gap.
        if not since:
            backlog = [Event(self._rv, resource, "ADDED", obj) for obj in self._items(resource, namespace)]
        else:
            backlog = [event for event in self._log if event.resource == resource and event.rv > since]
        watch = _Watch(resource, asyncio.Queue())
        self._watches.add(watch)
        try:
            for event in backlog:
                seen = _as_seen(event, namespace, matches)
                if seen is not None:
                    yield seen
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                try:
                    item = await asyncio.wait_for(watch.queue.get(), left)
                except TimeoutError:
                    return
                if item is _END:
                    return
                if item is _GONE:
                    yield _gone_event(since, self._rv)
                    return
                if item.rv <= since:
                    continue  # a server asked for a future version answers from it on
                seen = _as_seen(item, namespace, matches)
                if seen is not None:
                    yield seen
        finally:
            self._watches.discard(watch)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def _parse_rfc3339_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time (fraction optional, as Go parses it)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    seconds = int(datetime.datetime.fromisoformat(match.group(1) + zone).timestamp())
    return seconds * 1_000_000_000 + int((match.group(2) or "").ljust(9, "0"))


def _rfc3339_nano(stamp: int) -> str:
    """A time as Go's RFC3339Nano writes it (the kubelet's log timestamps): UTC, trailing zeros cut."""
    seconds, nanos = divmod(stamp, 1_000_000_000)
    text = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def _verb(request: kmock.Request) -> str:
    method = str(request.method.value).upper()
    if method == "GET":
        if request.params.get("watch") in _TRUE:
            return "watch"
        return "get" if request.name is not None else "list"
    if method == "POST":
        return "create"
    if method == "PATCH":
        return "patch"
    if method == "PUT":
        return "update"
    if method == "DELETE":
        return "delete" if request.name is not None else "deletecollection"
    return method.lower()


def _content_type(request: kmock.Request) -> str:
    value = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "application/json")
    return value.split(";")[0].strip().lower()


def _gone_event(since: int, floor: int) -> dict[str, Any]:
    return {"type": "ERROR", "object": {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": 410,
        "reason": "Expired", "message": f"too old resource version: {since} ({floor})"}}


def _as_seen(event: Event, namespace: str | None, matches: Callable[[Mapping[str, Any]], bool]) -> dict[str, Any] | None:
    """The event as a watch with these filters sees it: an object that starts matching is
    ADDED, one that stops matching is DELETED, as the API server's watch cache does."""
    def visible(obj: Mapping[str, Any] | None) -> bool:
        return obj is not None and (namespace is None or (obj.get("metadata") or {}).get("namespace") == namespace) \
            and matches(obj)
    now = visible(event.object)
    if event.type == "MODIFIED":
        before = visible(event.old) if event.old is not None else now
        kind = "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
    elif event.type == "DELETED":
        kind = "DELETED" if visible(event.old) or now else None
    else:
        kind = event.type if now else None
    return None if kind is None else {"type": kind, "object": event.object}


# -- a cluster for synchronous tests ---------------------------------------------------------------

class EmulatedCluster:
    """A started RealisticEmulator served on ``127.0.0.1`` from a background thread.

    Use it as a context manager or call ``close()``. Helpers that write (``create``, ``patch``,
    ``replace``, ``delete``) go through HTTP like any client, marked as the ``"test"`` actor (or
    the given one), so watches see them and ``emulator.requests()`` does not count them;
    ``seed`` writes directly (keeping ``status``) and still emits ADDED. ``operator`` is set by
    the ``cluster`` fixture (a FakeOperator) and stopped on close.
    """

    def __init__(self, *, retention: int = 1000, require_namespaces: bool = False, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.operator: Any = None
        self._retention = retention
        self._require_namespaces = require_namespaces
        self._emulator: RealisticEmulator | None = None
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._clients: list[k8s_client.ApiClient] = []
        self._thread: threading.Thread | None = None
        #: Exceptions the emulator raised while serving that were not API errors (its own bugs).
        self.server_errors: list[BaseException] = []

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> EmulatedCluster:
        if self._thread is not None:
            raise RuntimeError("EmulatedCluster.start(): already started")
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise RuntimeError(f"the emulator did not start in {self.timeout} s")
        if self._failure is not None:
            raise RuntimeError("the emulator failed to start") from self._failure
        return self

    def close(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        for api in self._clients:
            api.close()
        self._clients.clear()
        if self._thread is None or self._loop is None or self._stop is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(self.timeout + 5)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._failure = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        emulator = RealisticEmulator(retention=self._retention, require_namespaces=self._require_namespaces)
        async with emulator, kmock.Server(emulator) as server:
            self._emulator = emulator
            self._url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()
            emulator._closing = True
            emulator._end_watches(None, _END)
            await asyncio.sleep(0.01)  # let the streams write their ends
            self.server_errors = [e for e in emulator.errors if not isinstance(e, kmock.KubernetesError)]

    # -- access ------------------------------------------------------------------------------------

    @property
    def emulator(self) -> RealisticEmulator:
        if self._emulator is None:
            raise RuntimeError("the cluster is not started")
        return self._emulator

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the cluster is not started")
        return self._url

    def api_client(self) -> k8s_client.ApiClient:
        """A new ``kubernetes`` ApiClient for this cluster (closed with the cluster)."""
        configuration = k8s_client.Configuration(host=self.url)
        api = k8s_client.ApiClient(configuration)
        self._clients.append(api)
        return api

    def declare(self, resource: str, kind: str, *, namespaced: bool = True,
                subresources: Iterable[str] = ("status",)) -> None:
        self.emulator.declare(resource, kind, namespaced=namespaced, subresources=subresources)

    def set_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.emulator.set_log(namespace, pod, container, text)

    def append_log(self, namespace: str, pod: str, container: str, text: str, *, at: float | None = None) -> None:
        self.emulator.append_log(namespace, pod, container, text, at=at)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A copy of the object as stored now, or None."""
        res = as_resource(resource)

        def read() -> dict[str, Any] | None:
            ns = None if self._cluster_scoped(res) else namespace
            found = self.emulator._current((res, ns, name))
            return copy.deepcopy(found)
        return self._call(read)

    def objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects of ``resource`` (in ``namespace``, or all), by namespace, name."""
        res = as_resource(resource)
        return self._call(lambda: copy.deepcopy(self.emulator._items(res, namespace)))

    def seed(self, resource: str, body: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """Store ``body`` as created (stamped, ``status`` kept), emitting ADDED; no request is counted."""
        res = as_resource(resource)
        return self._call(lambda: copy.deepcopy(self.emulator._create(
            res, self.emulator._info(res), namespace, dict(body), keep_status=True)))

    def wait_for(self, resource: str, namespace: str | None, name: str,
                 predicate: Callable[[dict[str, Any] | None], bool] = lambda obj: obj is not None,
                 timeout: float = 5.0) -> dict[str, Any] | None:
        """Poll until ``predicate(object or None)`` holds; the object then. ``TimeoutError`` quotes the last state."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(resource, namespace, name)
            if predicate(obj):
                return obj
            if time.monotonic() > deadline:
                raise TimeoutError(f"{resource} {namespace}/{name}: condition not met in {timeout} s; "
                                   f"last: {json.dumps((obj or {}).get('status'))[:500]}")
            time.sleep(0.005)

    # -- writes through HTTP ---------------------------------------------------------------------------

    def create(self, resource: str, body: Mapping[str, Any], *, namespace: str | None = None,
               actor: str = "test") -> dict[str, Any]:
        res = as_resource(resource)
        ns = namespace or (body.get("metadata") or {}).get("namespace")
        ns = None if self._cluster_scoped(res) else ns
        return self._request("POST", resource_path(res, ns), body, actor=actor)

    def patch(self, resource: str, namespace: str | None, name: str, body: Any, *,
              subresource: str | None = None, actor: str = "test") -> dict[str, Any]:
        """A JSON merge patch (a list body: a JSON patch)."""
        res = as_resource(resource)
        ns = None if self._cluster_scoped(res) else namespace
        kind = "application/json-patch+json" if isinstance(body, list) else "application/merge-patch+json"
        return self._request("PATCH", resource_path(res, ns, name, subresource), body, kind, actor=actor)

    def patch_status(self, resource: str, namespace: str | None, name: str, status: Mapping[str, Any], *,
                     actor: str = "test") -> dict[str, Any]:
        return self.patch(resource, namespace, name, {"status": status}, subresource="status", actor=actor)

    def replace(self, resource: str, namespace: str | None, name: str, body: Mapping[str, Any], *,
                subresource: str | None = None, actor: str = "test") -> dict[str, Any]:
        res = as_resource(resource)
        ns = None if self._cluster_scoped(res) else namespace
        return self._request("PUT", resource_path(res, ns, name, subresource), body, actor=actor)

    def delete(self, resource: str, namespace: str | None, name: str, *, actor: str = "test") -> dict[str, Any]:
        res = as_resource(resource)
        ns = None if self._cluster_scoped(res) else namespace
        return self._request("DELETE", resource_path(res, ns, name), None, actor=actor)

    def _cluster_scoped(self, res: kmock.resource) -> bool:
        return res in self.emulator.resources and self.emulator.resources[res].namespaced is False

    def _request(self, method: str, path: str, body: Any, content_type: str = "application/json", *,
                 actor: str) -> dict[str, Any]:
        status, text = self._await(self._http(method, path, body, content_type, actor))
        payload = json.loads(text) if text else {}
        if status >= 400:
            exc = ApiException(status=status, reason=payload.get("reason") if isinstance(payload, dict) else None)
            exc.body = text
            raise exc
        return payload

    async def _http(self, method: str, path: str, body: Any, content_type: str, actor: str) -> tuple[int, str]:
        headers = {ACTOR_HEADER: actor, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        async with self.emulator.request(method, path, data=data, headers=headers) as response:
            return response.status, await response.text()

    # -- crossing into the loop --------------------------------------------------------------------------

    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.get_ident() == self._thread.ident

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self._on_loop_thread():
            return fn()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(run)
        return done.result(self.timeout)

    def _await(self, coro: Any) -> Any:
        if self._on_loop_thread():
            coro.close()
            raise RuntimeError("a blocking EmulatedCluster call from the emulator's own loop would deadlock")
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout + 30)
