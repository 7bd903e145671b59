"""The local engine: each run is a process group on this machine with its own outputs dir.

A training job (PyTorchJob, TFJob, TrainJob given as a ``ResourceRequest``) is one process
group per replica, with the environment its operator injects (``_replicas``). Its outputs
directory and logs are the primary replica's; the others write under
``<run>/replicas/<role>-<i>/``. In a replica's argv and env, ``/outputs`` (the container's
outputs directory) is that replica's outputs directory. The run fails as soon as one replica
fails (the others are stopped), and succeeds when the primary does; replicas still running
then get ``grace`` seconds to end by themselves (a TFJob's parameter servers never do).
"""

from __future__ import annotations

import collections
import os
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, coerce, local_component, resolve_command
from pipetune.contract import (
    OUTPUTS_ENV,
    Follower,
    Results,
    ResultsWatch,
    collect_results,
    follow_collector,
    read_log,
    results_path,
)
from pipetune.engines.base import History, Phase, Reason, ResourceRequest, RunRequest, RunStatus
from pipetune.engines.local._guardian import end_marked
from pipetune.engines.local._process import GroupProcess
from pipetune.engines.local._replicas import (
    LocalReplica,
    ReplicaTemplate,
    pytorch_replicas,
    tf_replicas,
    trainer_replicas,
)
from pipetune.errors import ContractError
from pipetune.kinds import check_training_job, is_training_job, nproc_per_node, replica_roles
from pipetune.limits import PARAMETER_LIMITS
from pipetune.programs import local_program
from pipetune.yamlsafe import read_text_file

#: The most seconds one ``poll`` spends reading a run's log for metrics: a run's log is read
#: as it grows, a budget per poll, and the tail left when the run ends over as many polls as it
#: takes (the run stays RUNNING meanwhile), so a huge log never holds up the poller's other runs.
LOG_READ_SECONDS = 0.05


@dataclass
class LocalRun:
    """The local engine's handle on one run."""

    run_id: str
    request: RunRequest
    argv: list[str]
    logs_dir: Path
    process: GroupProcess | None = None
    #: A training job's other replicas, each with its process.
    replicas: list[tuple[LocalReplica, GroupProcess]] = field(default_factory=list)
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))
    collected: Results | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Where the run's metrics are read from while it runs, as it grows: its collector's
    #: source (its log, a metrics file, a folder of event files), for ``intermediate``.
    progress: Follower | None = None
    #: The run's results.yaml history, read again only when the file changed.
    reports: ResultsWatch | None = None
    #: The source read for the run's final results once it has ended (its log is ``progress``
    #: read on; a metrics file or event folder, which a run may rewrite, is read anew).
    log: Follower | None = None
    #: The exit code of a process that has exited, while the rest of its log is read.
    exit_code: int | None = None


class LocalEngine:
    """Runs components as processes here. See ``pipetune.programs`` for how an image maps to a command.

    ``grace`` is how long a cancelled or timed-out run gets between SIGTERM and SIGKILL.
    """

    name = "local"
    local = True
    log_read_seconds = LOG_READ_SECONDS

    def __init__(self, grace: float = 5.0, cwd: str | None = None) -> None:
        self.grace = grace
        self.cwd = cwd
        self._changed = threading.Event()

    def command(self, request: RunRequest) -> list[str]:
        """The argv a request resolves to before its program is mapped to this machine."""
        # A relative program in the component's folder runs from there, as in its image.
        return resolve_command(
            local_component(request.component), request.arguments, output_paths(request)
        )

    def submit(self, request: RunRequest) -> LocalRun:
        if request.resource is not None and is_training_job(request.resource.manifest):
            return self._submit_replicas(request, request.resource)
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
                program, env, logs_dir, request.echo, self.cwd, on_eof=self._changed.set,
                merge=_merged(request),
            )
        except OSError as exc:
            return _not_started(run, f"command {argv[0]!r} cannot be started: {exc.strerror or exc}")
        run.status = RunStatus(Phase.RUNNING, started_at=run.process.started_at)
        return run

    def _submit_replicas(self, request: RunRequest, resource: ResourceRequest) -> LocalRun:
        manifest = resource.manifest
        name = f"{manifest.get('kind')} {resource.name}"
        problems = check_training_job(manifest)
        run = LocalRun(request.run_id, request, [], request.outputs_dir.parent / "logs")
        if problems:
            return _not_started(run, f"{name}: " + "; ".join(problems), Reason.NOT_RUNNABLE_LOCALLY)
        override: Mapping[str, Any] = resource.local_override or {}
        templates = []
        for role in replica_roles(manifest):
            command = list(role.command)
            given_command, given_args = override.get("command"), override.get("args")
            if given_command is not None or given_args is not None:
                container = role.container
                base = given_command if given_command is not None else container.get("command") or []
                args = given_args if given_args is not None else container.get("args") or []
                command = [str(x) for x in [*base, *args]]
            env = {**role.env, **(override.get("env") or {})}
            templates.append(ReplicaTemplate(role.role, role.replicas, tuple(command), env))
        kind = str(manifest.get("kind"))
        if kind == "PyTorchJob":
            replicas = pytorch_replicas(templates, nproc_per_node(manifest), free_port)
        elif kind == "TFJob":
            replicas = tf_replicas(templates, free_port)
        else:
            replicas = trainer_replicas(templates[0], nproc_per_node(manifest), free_port)
        programs = []
        for replica in replicas:
            program = local_program(list(replica.command))
            if program is None:
                program_name = replica.command[0] if replica.command else "(empty)"
                return _not_started(
                    run, f"{name}: {replica.name}: command {program_name!r} is not found on this machine"
                )
            programs.append(program)
        base_env = {**os.environ, **request.env}
        base_env.setdefault("PYTHONUNBUFFERED", "1")
        run.argv = list(programs[0])
        started: list[tuple[LocalReplica, GroupProcess]] = []
        try:
            for replica, program in zip(replicas, programs):
                if replica.primary:
                    outputs, logs = request.outputs_dir, run.logs_dir
                else:
                    outputs = request.outputs_dir.parent / "replicas" / replica.name
                    logs = run.logs_dir / replica.name
                outputs.mkdir(parents=True, exist_ok=True)
                env = {**base_env, **{k: _in_outputs(v, outputs) for k, v in replica.env.items()}}
                env[OUTPUTS_ENV] = str(outputs)
                process = GroupProcess(
                    [_in_outputs(x, outputs) for x in program],
                    env,
                    logs,
                    request.echo and replica.primary,
                    self.cwd,
                    on_eof=self._changed.set,
                    merge=replica.primary and _merged(request),
                )
                started.append((replica, process))
        except OSError as exc:
            for _, process in started:
                process.terminate(0)
            return _not_started(run, f"{name}: a replica cannot be started: {exc.strerror or exc}")
        for replica, process in started:
            if replica.primary:
                run.process = process
            else:
                run.replicas.append((replica, process))
        assert run.process is not None
        run.status = RunStatus(Phase.RUNNING, started_at=run.process.started_at)
        return run

    def poll(self, handle: LocalRun) -> RunStatus:
        with handle.lock:
            if handle.status.phase.final or handle.process is None:
                return handle.status
            if handle.exit_code is not None:
                self._conclude(handle, handle.exit_code)  # reads on where the last poll stopped
                return handle.status
            if handle.replicas and self._replica_failed(handle):
                return handle.status
            code = handle.process.poll()
            timeout = handle.request.timeout
            if code is None and timeout is not None:
                if time.time() - handle.status.started_at > timeout:  # type: ignore[operator]
                    handle.process.terminate(self.grace)
                    self._end_replicas(handle, wait=0.0)
                    self._finish(
                        handle,
                        Phase.FAILED,
                        Reason.TIMEOUT,
                        f"exceeded its timeout of {timeout:g}s and was stopped",
                    )
            elif code is not None:
                if handle.replicas and code == 0:
                    self._end_replicas(handle)
                self._conclude(handle, code)
            if not handle.status.phase.final and handle.exit_code is None:
                self._read_log(handle)
            return handle.status

    def _replica_failed(self, handle: LocalRun) -> bool:
        """End a training job whose non-primary replica failed; True if it did."""
        for replica, process in handle.replicas:
            code = process.poll()
            if code is None or code == 0:
                continue
            process.finish()
            message = _exit_message(code, read_log(process.stderr_path, STDERR_TAIL_BYTES))
            assert handle.process is not None
            handle.process.terminate(self.grace)
            self._end_replicas(handle, wait=0.0)
            self._finish(handle, Phase.FAILED, Reason.REPLICA_FAILED,
                         f"replica {replica.role}-{replica.index} {message}", code)
            return True
        return False

    def _end_replicas(self, handle: LocalRun, wait: float | None = None) -> None:
        """Give the other replicas ``wait`` (default ``grace``) seconds, then stop them."""
        deadline = time.monotonic() + (self.grace if wait is None else wait)
        for _, process in handle.replicas:
            if process.wait(max(0.0, deadline - time.monotonic())) is None:
                process.terminate(self.grace)
            process.finish()

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
            if handle.exit_code is not None:
                # It has ended by itself; only its log was left to read: read it all now.
                self._conclude(handle, handle.exit_code, read_all=True)
                return
            handle.process.terminate(self.grace)
            self._end_replicas(handle, wait=0.0)
            self._finish(handle, Phase.CANCELLED, Reason.CANCELLED, "cancelled")

    def intermediate(self, handle: LocalRun) -> History:
        """What the run has reported so far: the ``history`` of its results.yaml when it keeps
        one (``pipetune.report`` rewrites it atomically after every report; read again only
        when the file changed), else what its collector's source holds as read by the polls
        so far (its log, a Katib metrics file, TensorFlow event files); the final results'
        once the run has ended."""
        if handle.collected is not None:
            return handle.collected.history
        if handle.reports is None:
            handle.reports = ResultsWatch(handle.request.outputs_dir)
        history = handle.reports.read()
        if handle.reports.reports:
            return history
        found = handle.progress.results() if handle.progress is not None else None
        return found.history if found is not None else []

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """End what a crashed predecessor left running for a run: every process whose
        environment names this run's outputs directory.

        Used when a tuner resumes: a trial whose tuner was killed may still be running, and
        it is started again, so the old copy must not go on writing into the same run.
        """
        end_processes_of(outputs_dir)

    def close(self) -> None:
        """Nothing to release: each run's process is ended by ``cancel`` or by itself."""

    def _read_log(self, handle: LocalRun) -> None:
        """While the run runs: read what its collector's source holds so far, for at most
        ``log_read_seconds``."""
        if handle.process is None:
            return
        if handle.progress is None:
            handle.progress = follow_collector(handle.request.log_metrics, handle.process.stdout_path)
        handle.progress.advance(time.monotonic() + self.log_read_seconds)

    def _conclude(self, handle: LocalRun, code: int, read_all: bool = False) -> None:
        """Judge a run whose process exited: its exit code first, then its results. When its
        log decides the results and more of it is left than ``log_read_seconds`` reads (and
        not ``read_all``), the run stays RUNNING and the next poll reads on."""
        assert handle.process is not None
        if handle.exit_code is None:
            # A daemon the run started in a session of its own escapes its process group and
            # may hold its pipes open: it carries the run's environment, so end it by that.
            end_processes_of(handle.request.outputs_dir)
            handle.process.finish()
            handle.exit_code = code
        log_metrics = handle.request.log_metrics
        if handle.log is None:
            rewritable = log_metrics is not None and bool(log_metrics.file or log_metrics.tfevents)
            if handle.progress is not None and not rewritable:
                handle.log = handle.progress
            else:
                handle.log = follow_collector(log_metrics, handle.process.stdout_path)
        log = handle.log
        deadline = None if read_all else time.monotonic() + self.log_read_seconds
        if not results_path(handle.request.outputs_dir).exists() and not log.advance(deadline):
            self._changed.set()  # more to read: pollers come back at once
            return
        error: str | None = None
        try:
            handle.collected = _with_output_files(
                collect_results(handle.request.outputs_dir, log_metrics=log_metrics, from_log=log.finish),
                handle.request,
            )
        except ContractError as exc:
            error = str(exc)
        if code != 0:
            self._finish(handle, Phase.FAILED, Reason.EXIT_CODE,
                         _exit_message(code, read_log(handle.process.stderr_path, STDERR_TAIL_BYTES)), code)
        elif error is not None:
            self._finish(handle, Phase.FAILED, Reason.RESULTS_INVALID, error, code)
        else:
            note = None if handle.collected is not None else "wrote no results.yaml"
            self._finish(handle, Phase.SUCCEEDED, Reason.COMPLETED, note, code)

    def _finish(
        self, handle: LocalRun, phase: Phase, reason: str, message: str | None, code: int | None = None
    ) -> None:
        if handle.process is not None and phase is not Phase.SUCCEEDED:
            end_processes_of(handle.request.outputs_dir)  # daemons too: see _conclude
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
    """SIGKILL the process group of every process with ``PIPETUNE_OUTPUTS=<outputs_dir>``
    (a run's daemons too). Reads ``/proc``; where there is none (not Linux) nothing is found."""
    return end_marked(f"{OUTPUTS_ENV}={outputs_dir}".encode())


def _merged(request: RunRequest) -> bool:
    """Whether the run's stderr goes into its stdout log (a Katib StdOut collector's trial)."""
    return request.log_metrics is not None and request.log_metrics.merged


def _not_started(run: LocalRun, problem: str, reason: str = Reason.COMMAND_NOT_FOUND) -> LocalRun:
    now = time.time()
    message = f"{run.request.component.source}: {problem}"
    run.status = RunStatus(Phase.FAILED, reason, message, started_at=now, finished_at=now)
    return run


_OUTPUTS = re.compile(r"(?<![\w./-])/outputs(?=/|$|[^\w.-])")


def _in_outputs(text: str, outputs: Path) -> str:
    """``text`` with the container path ``/outputs`` (whole, or a path under it, or inside a
    longer value such as ``--out=/outputs/model``) moved to ``outputs``."""
    return _OUTPUTS.sub(lambda _: str(outputs), text)


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports handed out by this process lately: nothing holds a port between the check and the
# replica's bind, so a job asking for several must not get one twice.
_GIVEN_PORTS: collections.deque[int] = collections.deque(maxlen=512)
_PORTS_LOCK = threading.Lock()


def _ephemeral_low() -> int | None:
    """The first port of the kernel's ephemeral range, where the OS says (Linux)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port free on this machine now, for a job's local addresses.

    Picked below the kernel's ephemeral range where it is known: a port the kernel chose for
    ``bind(0)`` is one it may hand to any outgoing connection (another program's HTTP client)
    between this check and the replica's own bind, and a rendezvous that loses its port aborts
    the job (gloo did, on a busy machine). Outgoing connections never take ports below the range.
    """
    low = _ephemeral_low()
    with _PORTS_LOCK:
        if low is not None and low > 4096:
            start = max(1024, low - 16384)
            for _ in range(200):
                port = random.randrange(start, low)  # noqa: S311 - a port, not a secret
                if port not in _GIVEN_PORTS and _bindable(port):
                    _GIVEN_PORTS.append(port)
                    return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        _GIVEN_PORTS.append(port)
        return port


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
        if not output.is_parameter or not os.path.lexists(path) or path.is_dir():
            continue
        if results is not None and output.name in results.outputs:
            continue
        # The run wrote it: read it as results are read (a regular file in the outputs, bounded).
        text = read_text_file(path, ContractError, PARAMETER_LIMITS, within=request.outputs_dir).strip()
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


#: A failed run's message quotes the last line of its stderr: only this much of the end is read.
STDERR_TAIL_BYTES = 64 * 1024
#: ... and at most this much of that line goes into the message (and the run store).
MESSAGE_QUOTE_CHARS = 2000


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
    if not last:
        return text
    quoted = last[0].strip()
    return f"{text}: {quoted[:MESSAGE_QUOTE_CHARS]}" + (" [...]" if len(quoted) > MESSAGE_QUOTE_CHARS else "")
