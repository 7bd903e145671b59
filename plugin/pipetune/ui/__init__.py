"""``pipetune ui``: a read-only web dashboard over a state directory's run store and its
experiments' journals (``LocalSource``), or over a cluster namespace's experiments
(``ClusterSource``, ``pipetune ui --engine kubernetes``). The server is the standard library's;
the charts are plotly.js, served from the plotly package; the pages are this package's own
static files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipetune.ui._api import Api, Reply
from pipetune.ui._server import Dashboard, make_server, serve

if TYPE_CHECKING:  # what __getattr__ below returns, for type checkers; imported on first use
    from pipetune.ui._cluster import ClusterSource, connect


def __getattr__(name: str) -> object:
    # The cluster source needs the Kubernetes client (~0.3 s to import): only
    # ``--engine kubernetes`` pays for it, not every CLI command that imports this package.
    if name in ("ClusterSource", "connect"):
        from pipetune.ui import _cluster

        return getattr(_cluster, name)
    raise AttributeError(f"module 'pipetune.ui' has no attribute {name!r}")


__all__ = ["Api", "ClusterSource", "Dashboard", "Reply", "connect", "make_server", "serve"]
