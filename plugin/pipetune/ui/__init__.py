"""``pipetune ui``: a local, read-only web dashboard over a state directory's run store and
its experiments' journals. The server is the standard library's; the charts are plotly.js,
served from the plotly package; the pages are this package's own static files."""

from __future__ import annotations

from pipetune.ui._api import Api, Reply
from pipetune.ui._server import Dashboard, make_server, serve

__all__ = ["Api", "Dashboard", "Reply", "make_server", "serve"]
