"""The publisher: ``pipetune exec -- CMD ...`` runs a component's command inside its container
and publishes the results it wrote on the channel of the engine it runs under.

Channels: the local file (results.yaml in ``$PIPETUNE_OUTPUTS``); the Kubernetes termination
message (``--termination-message-path``, default ``/dev/termination-log`` when that file exists,
as it does in every pod); Tekton Task results (``pipetune step --tekton-results``); and KFP v2's
executor output file (``--kfp-executor-input``, see ``pipetune.kfp``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipetune.atomic import atomic_write_text
from pipetune.contract import (
    LogMetrics,
    LogStream,
    Results,
    collect_results,
    outputs_dir,
    oversize_message,
    results_path,
    write_results,
)
from pipetune.errors import ContractError, RunError, UsageError
from pipetune.kfp import ExecutorInput, executor_output, parameter_files, parse_executor_input
from pipetune.programs import local_program

KUBERNETES_TERMINATION_LOG = "/dev/termination-log"
#: How much of the command's stdout is copied at a time: no line is ever held whole.
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class PublishOptions:
    """Where to publish, besides the results file itself."""

    termination_message_path: Path | None = None
    #: Tekton: write each declared output and ``results`` (the YAML) as Task results here.
    tekton_results: Path | None = None
    #: The component's declared outputs: name -> (is a parameter, its path in the outputs).
    outputs: tuple[tuple[str, bool, Path], ...] = ()
    #: KFP v2: the executor input (``{{$}}``); the executor output goes where it says.
    kfp_executor_input: ExecutorInput | None = None


def default_options() -> PublishOptions:
    path = Path(KUBERNETES_TERMINATION_LOG)
    return PublishOptions(termination_message_path=path if path.exists() else None)


def execute(argv: Sequence[str], options: PublishOptions | None = None) -> int:
    """Run ``argv``, validate its results, publish them; return the exit code to use.

    The command's own non-zero exit code is passed through; an invalid results file makes a
    successful command fail with 1.
    """
    if not argv:
        raise UsageError("pipetune exec: expected a command after --, e.g. pipetune exec -- python train.py")
    options = options or default_options()
    directory = outputs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # `python` is the interpreter running pipetune, in an image as on a laptop.
    code, log = _run(local_program(argv) or list(argv))
    try:
        results = collect_results(directory, from_log=log.finish)
    except ContractError as exc:
        print(f"pipetune: error: {exc}", file=sys.stderr)
        return code or 1
    if results is not None:
        if not results_path(directory).exists():
            # Recovered from the log: write it so every channel carries the same file.
            write_results(results, directory)
        try:
            publish(results, options, results_path(directory))
        except RunError as exc:
            print(f"pipetune: error: {exc}", file=sys.stderr)
            return code or 1
    elif code == 0:
        print(
            f"pipetune: warning: {argv[0]} wrote no {results_path(directory)} and printed no metrics",
            file=sys.stderr,
        )
    return code


#: Tekton keeps a step's results in its container's termination message: 4096 bytes in all.
TEKTON_LIMIT_BYTES = 4096


def tekton_results(results: Results, outputs: tuple[tuple[str, bool, Path], ...]) -> dict[str, str]:
    """The Task results of a step: each declared output as text (a parameter's value, or an
    artifact's path) and ``results``, the results.yaml text."""
    values: dict[str, str] = {}
    for name, is_parameter, path in outputs:
        if is_parameter:
            if name in results.outputs:
                value = results.outputs[name]
                values[name] = value if isinstance(value, str) else json.dumps(value)
            elif path.is_file():
                values[name] = path.read_text(encoding="utf-8")
        else:
            values[name] = results.artifacts.get(name) or str(path)
    values["results"] = results.to_yaml()
    return values


def tekton_message_size(values: dict[str, str]) -> int:
    """The bytes Tekton's entrypoint writes to the termination message for these results
    (a JSON list of ``{"key", "value", "type"}``), not counting its own few entries."""
    entries = [{"key": k, "value": v, "type": 1} for k, v in values.items()]
    return len(json.dumps(entries).encode("utf-8"))


def publish(results: Results, options: PublishOptions, source: Path) -> None:
    """Copy the results onto each configured channel (the file itself is already written)."""
    if options.tekton_results is not None:
        values = tekton_results(results, options.outputs)
        size = tekton_message_size(values)
        # Tekton adds its own entries (start time, step status): leave them some room.
        if size > TEKTON_LIMIT_BYTES - 256:
            largest = max(values, key=lambda k: len(values[k]))
            raise RunError(
                f"Tekton task results take {size} bytes of the step's {TEKTON_LIMIT_BYTES}-byte "
                f"termination message (the largest, {largest!r}, is {len(values[largest].encode())} "
                "bytes); keep results small and write large values as artifacts, or enable "
                "results-from: sidecar-logs on the cluster"
            )
        options.tekton_results.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            _write_channel(options.tekton_results / name, value)
    if options.kfp_executor_input is not None:
        executor = options.kfp_executor_input
        for path, value in parameter_files(results, executor).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_channel(path, value)
        executor.output_file.parent.mkdir(parents=True, exist_ok=True)
        _write_channel(executor.output_file, json.dumps(executor_output(results, executor), indent=2) + "\n")
    text = results.to_yaml()
    target = options.termination_message_path
    if target is not None and target.resolve() != source.resolve():
        message = oversize_message(text)
        if message:
            # The kubelet would cut the YAML mid-way; a short, valid pointer is better.
            print(f"pipetune: warning: {message}", file=sys.stderr)
            text = Results(outputs={"results": str(source)}).to_yaml()
        _write_channel(target, text)


def _write_channel(path: Path, text: str) -> None:
    try:
        if path.is_char_device() or str(path).startswith("/dev/"):
            path.write_text(text, encoding="utf-8")
        else:
            atomic_write_text(path, text)
    except OSError as exc:
        raise RunError(f"cannot publish results to {path}: {exc.strerror or exc}") from None


def _run(argv: list[str]) -> tuple[int, LogStream]:
    """Run the command with stdout teed; forward SIGTERM/SIGINT; return the exit code and the
    log's metrics, read as the output passes (bounded memory, however long a line or a log)."""
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=None)
    except FileNotFoundError:
        raise RunError(f"pipetune exec: command {argv[0]!r} is not found") from None
    except PermissionError:
        raise RunError(f"pipetune exec: command {argv[0]!r} is not executable") from None

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    log = LogMetrics().stream()
    try:
        assert child.stdout is not None
        out, source = sys.stdout.buffer, child.stdout.fileno()
        while data := os.read(source, _CHUNK_BYTES):
            out.write(data)
            out.flush()
            log.feed(data)
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code < 0:
        code = 128 - code
    return code, log


#: How a component's command runs through the publisher with KFP's executor input: every
#: catalog component's command starts so (``pipetune catalog check``).
KFP_PREFIX = ("pipetune", "exec", "--kfp-executor-input")


def unwrap(argv: Sequence[str]) -> list[str]:
    """The component's own command inside ``pipetune exec [...] -- CMD``, for a caller that
    publishes itself (``pipetune step``); any other argv as it is."""
    if len(argv) > 2 and argv[0] == "pipetune" and argv[1] == "exec" and "--" in argv:
        return list(argv[list(argv).index("--") + 1:])
    return list(argv)


def main_exec(argv: Sequence[str], termination_message_path: str | None,
              kfp_executor_input: str | None = None) -> int:
    """The CLI entry for ``pipetune exec``. The executor input is read before the command
    runs, so a bad one is a usage error with nothing run."""
    options = default_options()
    if termination_message_path is not None:
        options = replace(options, termination_message_path=Path(termination_message_path) if termination_message_path else None)
    if kfp_executor_input:
        options = replace(options, kfp_executor_input=parse_executor_input(kfp_executor_input))
    return execute(argv, options)


__all__ = ["KFP_PREFIX", "PublishOptions", "default_options", "execute", "main_exec", "publish", "unwrap"]
