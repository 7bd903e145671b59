"""The engine the controller hands a parent's tuner: the Kubernetes engine, with every new run
held back until the parent's status records it.

The tuner starts trials inside its turn (``Tuner.step``); the controller writes the parent's
status, with the journal that explains those trials, only after the turn (``_plan``). So
``submit`` records the run and answers a handle that reads Pending, and ``release`` submits
what was held, in order, once the status is written: a restarted controller never meets a
child its parent's status does not explain. The tuner does not know: it sees the engine
protocol of ``pipetune.engines.base``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from pipetune.contract import Results
from pipetune.engines.base import History, Phase, Reason, RunRequest, RunStatus
from pipetune.engines.kubernetes import KubernetesEngine, KubernetesRun
from pipetune.errors import RunError


@dataclass
class HeldRun:
    """A run of a ``HeldEngine``: held until released, then the Kubernetes engine's run."""

    run_id: str
    request: RunRequest
    #: The command as the store shows it: the trial's name until it is created.
    argv: list[str]
    run: KubernetesRun | None = None
    #: The status while there is no ``run``: Pending while held; Failed when the create was
    #: refused, Cancelled when it was cancelled before it was created.
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))


class HeldEngine:
    """``engine`` with its submits held until ``release`` (see the module docstring)."""

    name = "kubernetes"
    local = False

    def __init__(self, engine: KubernetesEngine) -> None:
        self.engine = engine
        self.held: list[HeldRun] = []

    def submit(self, request: RunRequest) -> HeldRun:
        handle = HeldRun(request.run_id, request, [request.name or request.run_id])
        self.held.append(handle)
        return handle

    def release(self) -> None:
        """Create (or adopt) every held run, oldest first. A create the cluster refuses fails
        that run (reason ``SubmitFailed``), as a refused submit fails a trial; a transient
        error stops here, leaving the rest held for the next ``release``."""
        while self.held:
            handle = self.held[0]
            try:
                handle.run = self.engine.submit(handle.request)
                handle.argv = list(handle.run.argv)
            except RunError as exc:
                handle.status = RunStatus(Phase.FAILED, "SubmitFailed", str(exc), finished_at=time.time())
            self.held.pop(0)

    def poll(self, handle: HeldRun) -> RunStatus:
        return handle.status if handle.run is None else self.engine.poll(handle.run)

    def wait(self, handle: HeldRun, timeout: float | None = None) -> RunStatus:
        return handle.status if handle.run is None else self.engine.wait(handle.run, timeout)

    def results(self, handle: HeldRun) -> Results | None:
        return None if handle.run is None else self.engine.results(handle.run)

    def intermediate(self, handle: HeldRun) -> History:
        # A held run has not started, so it has reported nothing yet.
        return () if handle.run is None else self.engine.intermediate(handle.run)

    def wait_any(self, timeout: float) -> None:
        self.engine.wait_any(timeout)

    def cancel(self, handle: HeldRun) -> None:
        if handle.run is not None:
            self.engine.cancel(handle.run)
        elif handle in self.held:
            self.held.remove(handle)
            # Held is not "never created": a restarted controller's tuner submits its running
            # trials again (adopted by name on release), and one cancelled before the release
            # must stop the child its predecessor made, or it runs on after the parent ended.
            done = self.engine.stop_existing(handle.request)
            message = (f"cancelled; {handle.argv[0]} was {done}" if done else "cancelled before it was created")
            handle.status = RunStatus(Phase.CANCELLED, Reason.CANCELLED, message, finished_at=time.time())

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """Nothing to end: a run submitted again adopts its resource by name."""

    def close(self) -> None:
        """Drop what is still held (never created) and stop the engine's watches."""
        self.held.clear()
        self.engine.close()
