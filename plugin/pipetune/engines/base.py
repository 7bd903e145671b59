"""The engine interface: where a run executes. One protocol for local and cluster engines.

An engine is asked to ``submit`` a run, then ``poll``-ed until the status is final, then asked
for the run's ``results``; ``intermediate`` gives what a running run has reported so far (for
early stopping), ``cancel`` ends it early, ``reclaim`` ends what a crashed predecessor left of
a run, and ``close`` releases the engine. The tuner, the runner and the CLI only see this
protocol, never a particular engine; each engine's handle type is its own, so the protocol is
generic in it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pipetune.components import ComponentSpec
from pipetune.contract import LogMetrics, Results


class Phase(str, enum.Enum):
    """A run's lifecycle, as an engine sees it. The last three are final. Not a trial's status
    (``tuner.history.TrialStatus``): the tuner judges a succeeded run by its results, so one
    ``Succeeded`` run may be a ``MetricsUnavailable`` trial (``tuner.policy.judge_run``)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def final(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


class Reason:
    """Why a run ended as it did; short CamelCase words, as Kubernetes conditions use."""

    COMPLETED = "Completed"
    EXIT_CODE = "NonZeroExitCode"
    COMMAND_NOT_FOUND = "CommandNotFound"
    TIMEOUT = "Timeout"
    RESULTS_INVALID = "ResultsInvalid"
    CANCELLED = "Cancelled"
    IMAGE_UNMAPPED = "ImageNotMapped"
    NOT_RUNNABLE_LOCALLY = "NotRunnableLocally"
    REPLICA_FAILED = "ReplicaFailed"
    DELETED = "Deleted"
    #: A pipeline task that did not run: it reused an earlier run's outputs (KFP's ``CACHED``).
    CACHED = "Cached"


@dataclass(frozen=True)
class ResourceRequest:
    """A run described as a Kubernetes resource (a Katib trial template, a bridge's job).

    The Kubernetes engine creates ``manifest`` as is and judges it by the conditions; the
    local engine runs a training job's replicas as processes (``engines.local``). Conditions
    are JSONPath or Katib GJSON (``engines.kubernetes``); None means the kind's default.
    """

    manifest: Mapping[str, Any]
    success_condition: str | None = None
    failure_condition: str | None = None
    #: Selects the pod whose results are the run's, with the run's own label; None: the kind's.
    primary_pod_labels: Mapping[str, str] | None = None
    primary_container: str | None = None
    #: Keep the resource after it ends (Katib's ``retain``); otherwise it is deleted.
    retain: bool = False
    #: ``spec.local`` for a local run, placeholders already resolved: command, args, env.
    local_override: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("namespace") or "default")


@dataclass(frozen=True)
class RunRequest:
    """Everything an engine needs to start one run of a component."""

    run_id: str
    component: ComponentSpec
    arguments: Mapping[str, Any]
    outputs_dir: Path
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    #: Stream the run's stdout and stderr to this process's terminal while capturing them.
    echo: bool = True
    #: How to read results from the log when the run writes no results.yaml (Katib's
    #: collectors: metric names kept, metricsFormat filters, a metrics file); None: defaults.
    log_metrics: LogMetrics | None = None
    #: The run as a Kubernetes resource; ``component`` then names it in the store and, for a
    #: local run of a plain Job, holds the primary container mapped to a local command.
    resource: ResourceRequest | None = None
    #: The name a cluster engine gives the run's resource (a trial's deterministic name);
    #: None: one made from ``run_id``. A resource request's own ``metadata.name`` wins.
    name: str | None = None


@dataclass(frozen=True)
class RunStatus:
    """What an engine knows about a run right now."""

    phase: Phase
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class RunHandle(Protocol):
    """An engine's reference to a submitted run; only the engine that made it reads it."""

    run_id: str
    #: The command as the engine runs it, for the run store.
    argv: list[str]


H = TypeVar("H", bound=RunHandle)

#: What a running run has reported so far: results ``history`` entries, oldest first, each
#: metric name to value with an optional ``step``.
History = Sequence[Mapping[str, float]]


class Engine(Protocol[H]):
    """Where runs execute, with ``H`` its handle type. Implementations:
    ``engines.local.LocalEngine``, ``engines.local.FunctionEngine``,
    ``engines.kubernetes.KubernetesEngine``."""

    #: The engine's name in the run store: local, in-process, kubernetes.
    name: str
    #: Whether runs execute on this machine and see its file system (a trial's default
    #: checkpoint directory, a Katib Job mapped to a local command); False for a cluster.
    local: bool

    def submit(self, request: RunRequest) -> H:
        """Start the run; raise ``RunError`` if it can't start at all. A cluster engine adopts a
        resource of the same name that a predecessor created for the same run."""
        ...

    def poll(self, handle: H) -> RunStatus:
        """The run's status now; never blocks for long."""
        ...

    def wait(self, handle: H, timeout: float | None = None) -> RunStatus:
        """Block until the run's status is final, or ``timeout`` seconds pass."""
        ...

    def results(self, handle: H) -> Results | None:
        """The finished run's validated results, or None if it produced none."""
        ...

    def intermediate(self, handle: H) -> History:
        """What the run has reported so far (``pipetune.report``), oldest first; empty when it
        has reported nothing or the engine can't see it yet. Cheap enough to call on every
        turn of a poller's loop: an engine that must fetch it rate-limits itself."""
        ...

    def wait_any(self, timeout: float) -> None:
        """Block until some run of this engine may have changed state, or ``timeout`` seconds
        pass; a hint for pollers (a spurious wake-up is fine, a missed one costs ``timeout``)."""
        ...

    def cancel(self, handle: H) -> None:
        """End the run and everything it started; a no-op for a finished run."""
        ...

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """End whatever a crashed predecessor left running of run ``run_id`` (its processes),
        before that run is started again; a no-op where resubmitting adopts instead."""
        ...

    def close(self) -> None:
        """Release what the engine holds (watches, threads); runs already started go on."""
        ...
