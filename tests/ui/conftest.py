"""A dashboard served on a free loopback port over a state directory of made-up experiments."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipetune.ui import make_server
from ui.stores import FakeExperiment, finished_and_running


@dataclass
class Served:
    url: str
    state_dir: Path
    done: FakeExperiment
    live: FakeExperiment

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, path: str) -> tuple[int, Any]:
        status, _, body = self.get(path)
        return status, json.loads(body)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    state_dir = tmp_path / "state"
    done, live = finished_and_running(state_dir)
    server = make_server(state_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", state_dir, done, live)
    finally:
        server.shutdown()
        server.server_close()
