"""Local addresses for a job's replicas: ports no outgoing connection can take meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pipetune.engines.local import _engine
from pipetune.engines.local._engine import free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="the kernel's ephemeral range is Linux's")
def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    low = int(RANGE.read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    # The kernel gives ports in its ephemeral range to outgoing connections: a replica's port
    # there can be taken between the check and the replica's bind (a gloo job aborted so).
    assert all(1024 <= port < low for port in ports)
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_without_a_known_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_engine, "_EPHEMERAL_RANGE", tmp_path / "absent")
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
