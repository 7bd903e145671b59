"""The local engine: each run is a process group on this machine with its own outputs dir."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipetune.components import ComponentSpec, coerce, resolve_command
from pipetune.contract import OUTPUTS_ENV, Results, collect_results, read_log
from pipetune.engines.base import Phase, Reason, RunRequest, RunStatus
from pipetune.engines.local._images import local_program
from pipetune.engines.local._process import GroupProcess
from pipetune.errors import ContractError


@dataclass
class LocalRun:
    """The local engine's handle on one run."""

    run_id: str
    request: RunRequest
    argv: list[str]
    logs_dir: Path
    process: GroupProcess | None = None
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))
    collected: Results | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalEngine:
    """Runs components as processes here. See ``_images`` for how an image maps to a command.

    ``grace`` is how long a cancelled or timed-out run gets between SIGTERM and SIGKILL.
    """

    name = "local"

    def __init__(self, grace: float = 5.0, cwd: str | None = None) -> None:
        self.grace = grace
        self.cwd = cwd
        self._changed = threading.Event()

    def command(self, request: RunRequest) -> list[str]:
        """The argv a request resolves to before its program is mapped to this machine."""
        return resolve_command(
            request.component, request.arguments, output_paths(request)
        )

    def submit(self, request: RunRequest) -> LocalRun:
        argv = self.command(request)
        logs_dir = request.outputs_dir.parent / "logs"
        run = LocalRun(request.run_id, request, argv, logs_dir)
        program = local_program(argv)
        if program is None:
            return _not_started(
                run,
                f"command {argv[0] if argv else '(empty)'!r} of image "
                f"{request.component.container.image!r} is not found on this machine",
            )
        request.outputs_dir.mkdir(parents=True, exist_ok=True)
        for path in output_paths(request).values():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **request.component.container.env, **request.env}
        env[OUTPUTS_ENV] = str(request.outputs_dir)
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            run.process = GroupProcess(
                program, env, logs_dir, request.echo, self.cwd, on_eof=self._changed.set
            )
        except OSError as exc:
            return _not_started(run, f"command {argv[0]!r} cannot be started: {exc.strerror or exc}")
        run.status = RunStatus(Phase.RUNNING, started_at=run.process.started_at)
        return run

    def poll(self, handle: LocalRun) -> RunStatus:
        with handle.lock:
            if handle.status.phase.final or handle.process is None:
                return handle.status
            code = handle.process.poll()
            timeout = handle.request.timeout
            if code is None and timeout is not None:
                if time.time() - handle.status.started_at > timeout:  # type: ignore[operator]
                    handle.process.terminate(self.grace)
                    self._finish(
                        handle,
                        Phase.FAILED,
                        Reason.TIMEOUT,
                        f"exceeded its timeout of {timeout:g}s and was stopped",
                    )
            elif code is not None:
                self._conclude(handle, code)
            return handle.status

    def wait(self, handle: LocalRun, timeout: float | None = None) -> RunStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.poll(handle)
            if status.phase.final:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                return status
            if handle.process is not None:
                handle.process.wait(0.1)

    def results(self, handle: LocalRun) -> Results | None:
        return handle.collected

    def wait_any(self, timeout: float) -> None:
        """Block until some run of this engine may have ended, or ``timeout`` seconds pass."""
        if self._changed.wait(timeout):
            self._changed.clear()

    def cancel(self, handle: LocalRun) -> None:
        with handle.lock:
            if handle.status.phase.final or handle.process is None:
                return
            handle.process.terminate(self.grace)
            self._finish(handle, Phase.CANCELLED, Reason.CANCELLED, "cancelled")

    def reclaim(self, run_id: str, outputs_dir: Path) -> int:
        """End what a crashed predecessor left running for a run: every process whose
        environment names this run's outputs directory. Returns how many groups were ended.

        Used when a tuner resumes: a trial whose tuner was killed may still be running, and
        it is started again, so the old copy must not go on writing into the same run.
        """
        return end_processes_of(outputs_dir)

    def _conclude(self, handle: LocalRun, code: int) -> None:
        """Judge a run whose process exited: its exit code first, then its results."""
        assert handle.process is not None
        handle.process.finish()
        log_metrics = handle.request.log_metrics
        log = read_log(log_metrics.file if log_metrics and log_metrics.file else handle.process.stdout_path)
        error: str | None = None
        try:
            handle.collected = _with_output_files(
                collect_results(handle.request.outputs_dir, log, log_metrics),
                handle.request,
            )
        except ContractError as exc:
            error = str(exc)
        if code != 0:
            message = _exit_message(code, read_log(handle.process.stderr_path))
            self._finish(handle, Phase.FAILED, Reason.EXIT_CODE, message, code)
        elif error is not None:
            self._finish(handle, Phase.FAILED, Reason.RESULTS_INVALID, error, code)
        else:
            message = None if handle.collected is not None else "wrote no results.yaml"
            self._finish(handle, Phase.SUCCEEDED, Reason.COMPLETED, message, code)

    def _finish(
        self, handle: LocalRun, phase: Phase, reason: str, message: str | None, code: int | None = None
    ) -> None:
        if handle.process is not None and phase is not Phase.SUCCEEDED:
            handle.process.finish()
        if code is None and handle.process is not None:
            code = handle.process.poll()
        handle.status = RunStatus(
            phase,
            reason,
            message,
            exit_code=code,
            started_at=handle.status.started_at,
            finished_at=time.time(),
        )


def end_processes_of(outputs_dir: Path) -> int:
    """SIGKILL the process group of every process with ``PIPETUNE_OUTPUTS=<outputs_dir>``.

    Reads ``/proc``; where there is none (not Linux) nothing is found.
    """
    marker = f"{OUTPUTS_ENV}={outputs_dir}".encode()
    groups: set[int] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            try:
                groups.add(os.getpgid(int(entry.name)))
            except ProcessLookupError:
                continue
    own = os.getpgid(0)
    for group in groups - {own}:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(groups - {own})


def _not_started(run: LocalRun, problem: str) -> LocalRun:
    now = time.time()
    message = f"{run.request.component.source}: {problem}"
    run.status = RunStatus(Phase.FAILED, Reason.COMMAND_NOT_FOUND, message, started_at=now, finished_at=now)
    return run


def output_paths(request: RunRequest) -> dict[str, str]:
    """Each declared output's path: a file or directory named after it in the outputs dir."""
    return {
        output.name: str(request.outputs_dir / output.name)
        for output in request.component.outputs
    }


def _with_output_files(results: Results | None, request: RunRequest) -> Results | None:
    """Add parameter outputs written KFP-style to their outputPath files to the results."""
    found = {}
    component: ComponentSpec = request.component
    for output in component.outputs:
        path = request.outputs_dir / output.name
        if not output.is_parameter or not path.is_file():
            continue
        if results is not None and output.name in results.outputs:
            continue
        text = path.read_text(encoding="utf-8").strip()
        try:
            found[output.name] = coerce(text, output.type or "String")
        except ValueError as exc:
            raise ContractError(f"{path}: output {output.name!r}: {exc}") from None
    if not found:
        return results
    base = results or Results()
    return Results(
        metrics=base.metrics,
        outputs={**base.outputs, **found},
        artifacts=base.artifacts,
        history=base.history,
        checkpoint=base.checkpoint,
    )


def _exit_message(code: int, stderr: list[str]) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        text = f"killed by signal {name}"
    else:
        text = f"exited with code {code}"
    last = [line for line in stderr if line.strip()][-1:]
    return f"{text}: {last[0].strip()}" if last else text
