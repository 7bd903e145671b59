"""Fixtures for tests against the emulated Kubernetes API (see emulator.py and operator.py).

Plain ``def test_...`` tests use them; the emulator serves from its own thread and loop.
Other test folders can share them with ``from kube.conftest import cluster, ...`` in their
own conftest.py (``tests/`` is on sys.path, as tests/conftest.py's folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from .emulator import EmulatedCluster
from .operator import FakeOperator

#: The namespace the ``namespace`` fixture creates.
NAMESPACE = "pipetune-test"


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    """A started EmulatedCluster with a started FakeOperator as ``cluster.operator``.

    At teardown the test fails if the operator hit an error or the emulator raised anything
    other than an API error (its own bug) while serving.
    """
    with EmulatedCluster() as started:
        started.operator = FakeOperator(started).start()
        yield started
        started.operator.stop()
        operator_errors = list(started.operator.errors)
        listener_errors = list(started.emulator.listener_errors)
    problems = [f"operator: {what}: {exc!r}" for what, exc in operator_errors]
    problems += [f"emulator listener: {exc!r}" for exc in listener_errors]
    problems += [f"emulator: {exc!r}" for exc in started.server_errors]
    if problems:
        pytest.fail("the emulated cluster went wrong:\n" + "\n".join(problems))


@pytest.fixture
def api_client(cluster: EmulatedCluster) -> client.ApiClient:
    """A ``kubernetes`` ApiClient for the emulated cluster."""
    return cluster.api_client()


@pytest.fixture
def custom_api(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core_api(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def write_kubeconfig(cluster: EmulatedCluster, path: Path) -> Path:
    """A kubeconfig a user would have, pointing at the emulated cluster: for tests that run
    pipetune as a process."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": cluster.url}}],
        "users": [{"name": "me", "user": {}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "me"}}],
    }))
    return path


@pytest.fixture
def namespace(cluster: EmulatedCluster) -> str:
    """A namespace that exists in the emulated cluster (created through the test helpers)."""
    cluster.create("v1/namespaces", {"metadata": {"name": NAMESPACE}})
    return NAMESPACE
