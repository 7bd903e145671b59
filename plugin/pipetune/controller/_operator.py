"""The kopf operator around ``Controller``: kopf watches the parents and feeds every event to
the controller's queue; the controller's workers reconcile.

Only event handlers are registered (``kopf.on.event``): they keep no state of their own on the
objects (no finalizers, no progress annotations), so kopf writes nothing to a CustomRun and
the controller's RBAC is exactly what its reconciles use (manifests/, checked by a test).

kopf is imported where it is used, not with the module: it is only needed by ``pipetune
controller``, and importing it (with its asyncio machinery) costs about 0.2 s that every
other user of ``pipetune.controller`` (``pipetune pipeline run``, the tests of the pure parts)
would pay.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from pipetune.controller._parent import is_ours
from pipetune.controller._reconcile import CUSTOMRUN, EXPERIMENT, Controller

if TYPE_CHECKING:
    import kopf

Login = Callable[..., Any]


def registry_for(controller: Controller, login: Login | None = None) -> kopf.OperatorRegistry:
    """A kopf registry whose handlers feed ``controller``. ``login`` (kopf's login handler)
    defaults to the ``kubernetes`` client's own configuration: in-cluster, else kubeconfig."""
    import kopf  # only `pipetune controller` needs kopf: see the module docstring

    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_settings(settings)

    kopf.on.login(registry=registry)(login or kopf.login_via_client)

    @kopf.on.event(CUSTOMRUN[0], CUSTOMRUN[1], CUSTOMRUN[2], registry=registry,
                   when=lambda body, **_: is_ours(body))
    def on_customrun(type: str | None, body: kopf.Body, **_: Any) -> None:  # noqa: A002 - kopf's name
        controller.observe("CustomRun", type or "ADDED", body)

    @kopf.on.event(EXPERIMENT[0], EXPERIMENT[1], EXPERIMENT[2], registry=registry)
    def on_experiment(type: str | None, body: kopf.Body, **_: Any) -> None:  # noqa: A002
        controller.observe("Experiment", type or "ADDED", body)

    return registry


def configure_settings(settings: kopf.OperatorSettings) -> None:
    """One replica, no peering objects; no Kubernetes Events (logs go to stdout); no scanning
    of namespaces or CRDs, which would need cluster-wide reads the controller does not use."""
    settings.peering.standalone = True
    settings.posting.enabled = False
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def run_operator(
    controller: Controller,
    namespaces: Collection[str] = (),
    login: Login | None = None,
    stop_flag: threading.Event | asyncio.Event | None = None,
    ready_flag: threading.Event | asyncio.Event | None = None,
) -> None:
    """Run the operator until ``stop_flag`` is set (or a signal): ``namespaces``, or every
    namespace when empty. The controller's workers start first and stop last."""
    import kopf  # only `pipetune controller` needs kopf: see the module docstring

    settings = kopf.OperatorSettings()
    configure_settings(settings)
    controller.start()
    try:
        kopf.run(
            registry=registry_for(controller, login),
            settings=settings,
            standalone=True,
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        controller.stop()
    logging.getLogger("pipetune.controller").info("stopped")
