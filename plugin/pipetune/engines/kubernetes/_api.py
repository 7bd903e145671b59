"""The Kubernetes API as the engine uses it: retried calls and one watch per resource kind.

Every call goes through :func:`call`, which retries what a real API server can answer
transiently (429, 5xx, connection errors and timeouts) with exponential backoff, and then
raises ``TransientError`` naming the call. A :class:`KindWatch` keeps a cache of every object
of one kind in one namespace that carries a label, from one LIST and then one WATCH stream;
an expired stream (410 Gone) or a dropped one is listed again, so the cache misses no change.
The engine reads its runs' status from these caches: the number of requests does not grow
with the number of running runs.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from pipetune.errors import TransientError, UsageError
from pipetune.kinds import Kind

T = TypeVar("T")
#: Seconds to wait for any single request (connect, read); watches use their own.
REQUEST_TIMEOUT = (10.0, 60.0)
#: Seconds a watch stream is asked to last before the server ends it and it is reopened.
WATCH_SECONDS = 300


class Retry:
    """How often and how patiently :func:`call` retries: ``tries`` in all, sleeping ``base``
    seconds, doubling up to ``cap``; each request may take ``timeout`` (connect, read) seconds."""

    def __init__(
        self,
        tries: int = 6,
        base: float = 0.2,
        cap: float = 5.0,
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        self.tries = tries
        self.base = base
        self.cap = cap
        self.timeout = timeout


def transient(exc: BaseException) -> bool:
    """Whether an error from the client is worth retrying."""
    if isinstance(exc, ApiException):
        return exc.status in (0, 429) or exc.status >= 500
    return isinstance(exc, (Urllib3Error, TimeoutError, ConnectionError))


def call(what: str, fn: Callable[..., T], *args: Any, retry: Retry | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retried on transient errors; ``what`` names it in the error."""
    retry = retry or Retry()
    kwargs.setdefault("_request_timeout", retry.timeout)
    delay = retry.base
    for attempt in range(1, retry.tries + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not transient(exc):
                raise
            if attempt == retry.tries:
                raise TransientError(
                    f"Kubernetes API: {what} failed {retry.tries} times; last: {describe(exc)}",
                    retry_after(exc),
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, retry.cap)
    raise AssertionError("unreachable")


def retry_after(exc: BaseException) -> float | None:
    """The seconds a server's ``Retry-After`` header asks a client to wait (a 429 or 503), if any."""
    headers = getattr(exc, "headers", None) if isinstance(exc, ApiException) else None
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:  # the HTTP-date form: rare from API servers, and the backoff is fine then
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def describe(exc: BaseException) -> str:
    """One line for an API error: status, reason and the server's message."""
    if isinstance(exc, ApiException):
        message = ""
        body = exc.body
        if body:
            try:
                message = json.loads(body).get("message", "")
            except (ValueError, AttributeError):
                message = str(body)[:200]
        return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")
    return f"{type(exc).__name__}: {exc}"


def api_client(context: str | None = None, purpose: str = "--engine kubernetes") -> client.ApiClient:
    """A client for the cluster this process runs in, or else the kubeconfig's (``context``
    selects one); ``UsageError`` naming ``purpose`` when there is neither."""
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        pass
    try:
        return config.new_client_from_config(context=context)
    except (config.ConfigException, OSError, TypeError) as exc:
        raise UsageError(
            f"{purpose}: no cluster to talk to: not in a pod and no usable kubeconfig "
            f"({exc}); set KUBECONFIG or run inside the cluster"
        ) from None


class KindWatch:
    """The objects of one kind in one namespace that match ``selector``, kept current.

    ``on_change`` is called (from the watch thread) after every change.
    """

    def __init__(
        self,
        custom: client.CustomObjectsApi,
        kind: Kind,
        namespace: str,
        selector: str,
        on_change: Callable[[], None],
        retry: Retry | None = None,
    ) -> None:
        self.custom = custom
        self.kind = kind
        self.namespace = namespace
        self.selector = selector
        self.on_change = on_change
        self.retry = retry or Retry()
        self.objects: dict[str, dict[str, Any]] = {}
        #: Names seen since the watch began and then deleted.
        self.deleted: set[str] = set()
        self.error: str | None = None
        self._lock = threading.Lock()
        self._listed = threading.Event()
        self._stop = False
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind.plural}", daemon=True)
        self._thread.start()

    def get(self, name: str) -> dict[str, Any] | None:
        """A copy of the cached object, or None."""
        with self._lock:
            found = self.objects.get(name)
            return copy.deepcopy(found) if found is not None else None

    def put(self, obj: Mapping[str, Any]) -> None:
        """Cache an object this process wrote (so a read right after a create sees it),
        unless the cache already holds a newer version."""
        name = obj["metadata"]["name"]
        with self._lock:
            current = self.objects.get(name)
            if current is None or _rv(current) <= _rv(obj):
                self.objects[name] = dict(obj)
            self.deleted.discard(name)

    def wait_listed(self, timeout: float = 30.0) -> None:
        self._listed.wait(timeout)

    def stop(self) -> None:
        self._stop = True
        if self._watch is not None:
            self._watch.stop()

    def _list(self) -> str:
        listing = call(
            f"list {self.kind.plural} in {self.namespace}",
            self.custom.list_namespaced_custom_object,
            self.kind.group,
            self.kind.version,
            self.namespace,
            self.kind.plural,
            label_selector=self.selector,
            retry=self.retry,
        )
        items = {item["metadata"]["name"]: item for item in listing.get("items", [])}
        with self._lock:
            for name in set(self.objects) - set(items):
                self.deleted.add(name)
            self.objects = items
        self._listed.set()
        self.on_change()
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _run(self) -> None:
        version = ""
        relist = True
        while not self._stop:
            try:
                if relist:
                    version = self._list()
                    relist = False
                self._watch = watch.Watch()
                kwargs: dict[str, Any] = {
                    "label_selector": self.selector,
                    "timeout_seconds": WATCH_SECONDS,
                    "_request_timeout": (REQUEST_TIMEOUT[0], WATCH_SECONDS + 30),
                }
                if version:
                    kwargs["resource_version"] = version
                for event in self._watch.stream(
                    self.custom.list_namespaced_custom_object,
                    self.kind.group,
                    self.kind.version,
                    self.namespace,
                    self.kind.plural,
                    **kwargs,
                ):
                    version = self._apply(event) or version
                    if self._stop:
                        return
                self.error = None
            except ApiException as exc:
                if exc.status == 410:
                    relist = True  # the version is too old: start from a fresh list
                    continue
                self.error = describe(exc)
                relist = True
                time.sleep(self.retry.base)
            except TransientError as exc:
                self.error = str(exc)
                self.on_change()
                time.sleep(self.retry.cap)
            except Exception as exc:  # noqa: BLE001 - a dropped stream: list again
                self.error = describe(exc)
                relist = True
                time.sleep(self.retry.base)

    def _apply(self, event: Mapping[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object")
        if not isinstance(obj, dict) or kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            return None
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if kind != "BOOKMARK" and name:
            with self._lock:
                if kind == "DELETED":
                    self.objects.pop(name, None)
                    self.deleted.add(name)
                else:
                    self.objects[name] = obj
                    self.deleted.discard(name)
            self.on_change()
        return str(metadata.get("resourceVersion") or "") or None


def _rv(obj: Mapping[str, Any]) -> int:
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(text) if text.isdigit() else 0
