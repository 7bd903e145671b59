"""A stand-in kubelet for pipetune's metrics collector container: its command run here.

The emulator runs no pods; these helpers play the collector container's part with the real
``pipetune collect`` code, its paths moved under a test folder: the container's ``args``
(as the manifest holds them) are parsed by pipetune's own CLI parser, and what the collector
prints and writes becomes the pod's log and termination message for that container.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipetune.cli._parser import build_parser
from pipetune.contract import collector_metrics, run_collector
from pipetune.kinds import COLLECTOR_CONTAINER, collector_templates

_PATH_FLAGS = ("--file", "--tfevents")


def collector_container(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The collector container of the manifest's (first) primary pod template."""
    (_, template), *_ = collector_templates(manifest)
    return next(c for c in template["spec"]["containers"] if c["name"] == COLLECTOR_CONTAINER)


def here(path: str, root: Path) -> Path:
    """Where a container's absolute ``path`` lies in the test's folder ``root``."""
    return root / path.lstrip("/")


def local_args(container: Mapping[str, Any], root: Path) -> list[str]:
    """The container's args with its file or event folder moved under ``root``."""
    assert container["command"] == ["pipetune"], container
    args = list(container["args"])
    for i, arg in enumerate(args[:-1]):
        if arg in _PATH_FLAGS:
            args[i + 1] = str(here(args[i + 1], root))
    return args


def collect_once(container: Mapping[str, Any], root: Path) -> tuple[str, str]:
    """The collector run over what is already under ``root`` (the primary has ended): what
    it prints (the container's log) and its termination message."""
    parsed = build_parser().parse_args(local_args(container, root))
    assert parsed.command == "collect"
    out = io.StringIO()
    target = root / "termination-log"
    run_collector(collector_metrics(parsed.file, parsed.tfevents, parsed.file_format, parsed.filter, parsed.metric),
                  out, termination_path=target, grace=0.0, running=lambda: False)
    return out.getvalue(), target.read_text() if target.exists() else ""


class CollectorProcess:
    """``pipetune collect`` as a process, the container's args under ``root``, waiting for
    ``pid``; each line it prints goes to ``on_line`` as it comes (the pod's log)."""

    def __init__(self, container: Mapping[str, Any], root: Path, pid: int, on_line: Callable[[str], None]) -> None:
        self.termination = root / "collector-termination-log"
        argv = [sys.executable, "-m", "pipetune", *local_args(container, root), "--pid", str(pid),
                "--interval", "0.05", "--termination-message-path", str(self.termination)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._pump = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self._pump.start()

    def _read(self, on_line: Callable[[str], None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            on_line(line)

    def wait(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """Its exit code, stderr and termination message, once it has ended."""
        code = self.process.wait(timeout)
        self._pump.join(timeout)
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        return code, stderr, self.termination.read_text() if self.termination.exists() else ""
