"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer``, GET only:
a write (POST, PUT, PATCH, DELETE) is answered 405 with the reason, on a cluster as locally.

Pages are one HTML shell that ``app.js`` fills from the JSON API; a page for a run, an
experiment or a pipeline that does not exist is answered 404 (the shell then shows "not
found"). Static files come from the package (``pipetune.ui/static``) and plotly.js from the
plotly package: nothing is fetched from the network. On a loopback address the ``Host``
header must name a loopback host too, so a web page elsewhere can't read the dashboard
through DNS rebinding.
"""

from __future__ import annotations

import http.server
import ipaddress
import logging
import os
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable
from importlib import resources
from typing import Any

from pipetune.errors import PipetuneError
from pipetune.tracking import Source, is_pipeline
from pipetune.ui._api import Api, Reply, error_reply

#: Static files by URL name: (package, file, content type).
STATIC = {
    "app.js": ("pipetune.ui", "static/app.js", "text/javascript; charset=utf-8"),
    "app.css": ("pipetune.ui", "static/app.css", "text/css; charset=utf-8"),
    "plotly.min.js": ("plotly", "package_data/plotly.min.js", "text/javascript; charset=utf-8"),
}
#: Page routes: first path part -> whether the second names something that must exist.
PAGES = ("", "experiments", "runs", "compare", "pipelines")
_LOOPBACK_NAMES = ("localhost", "localhost.")
log = logging.getLogger("pipetune.ui")


class Dashboard:
    """What the handler needs: the API over a ``Source`` (a path: a state directory) and the
    static files (read once, kept)."""

    def __init__(self, source: Source | str | os.PathLike[str]) -> None:
        self.api = Api(source)
        self._static: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def static(self, name: str) -> bytes | None:
        if name not in STATIC:
            return None
        with self._lock:
            if name not in self._static:
                package, path, _ = STATIC[name]
                self._static[name] = (resources.files(package) / path).read_bytes()
            return self._static[name]

    def shell(self, status: int) -> Reply:
        page = (resources.files("pipetune.ui") / "static/index.html").read_text(encoding="utf-8")
        source = self.api.source
        page = (page.replace("{{status}}", str(status)).replace("{{engine}}", source.engine)
                .replace("{{where}}", _html(source.where)))
        return Reply(status, page.encode(), "text/html; charset=utf-8")

    def page(self, parts: list[str]) -> Reply:
        """The shell, 200 when the page's subject exists, 404 otherwise."""
        head = parts[0] if parts else ""
        if head not in PAGES or len(parts) > 2 or (head in ("", "compare") and len(parts) > 1):
            return self.shell(404)
        if len(parts) == 2:
            source = self.api.source
            try:
                source.refresh()
                if head == "experiments":
                    exists = source.experiment(parts[1]) is not None
                else:
                    record = source.store.find(parts[1])
                    exists = record is not None and (head == "runs" or is_pipeline(record))
            except PipetuneError:
                # The cluster can't be read now: the page loads and its API calls say why.
                return self.shell(200)
            if not exists:
                return self.shell(404)
        return self.shell(200)

    def answer(self, path: str) -> Reply:
        url = urllib.parse.urlsplit(path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        try:
            params = urllib.parse.parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query),
                                           max_num_fields=50)
        except ValueError as exc:
            return error_reply(400, f"malformed query string {url.query!r}: {exc}")
        if parts[:1] == ["api"]:
            return self.api.handle(parts, params)
        if parts[:1] == ["static"] and len(parts) == 2:
            data = self.static(parts[1])
            if data is None:
                return error_reply(404, f"no static file {parts[1]!r}")
            return Reply(200, data, STATIC[parts[1]][2], {"Cache-Control": "max-age=3600"})
        if parts == ["favicon.ico"]:
            return Reply(204, b"", "text/plain")
        return self.page(parts)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def handler_class(dashboard: Dashboard, loopback: bool) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "pipetune-ui"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self._serve(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(body=False)

        def do_POST(self) -> None:  # noqa: N802
            self._refuse("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._refuse("PUT")

        def do_PATCH(self) -> None:  # noqa: N802
            self._refuse("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._refuse("DELETE")

        def _refuse(self, method: str) -> None:
            # The body is not read: the connection is closed after the answer instead.
            self.close_connection = True
            reply = dashboard.api.refuse_write(method)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)

        def _serve(self, body: bool) -> None:
            if loopback and not _loopback_host(self.headers.get("Host", "")):
                reply = error_reply(403, "this dashboard answers only to localhost, 127.0.0.1 or [::1]")
            else:
                try:
                    reply = dashboard.answer(self.path)
                except Exception as exc:  # noqa: BLE001 - one bad request must not end the server
                    reply = error_reply(500, f"internal error: {type(exc).__name__}: {exc}")
            etag = reply.headers.get("ETag")
            if etag and reply.status == 200 and self.headers.get("If-None-Match") == etag:
                reply = Reply(304, b"", reply.content_type, {"ETag": etag})
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            if reply.content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy",
                                 "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
                                 "img-src 'self' data: blob:; worker-src 'self' blob:")
            if "Cache-Control" not in reply.headers:
                self.send_header("Cache-Control", "no-cache")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if body and reply.status != 304:
                self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
            # Requests are logged at info (`pipetune -v ui`), not printed on every poll.
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _V6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    source: Source | str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8765
) -> http.server.ThreadingHTTPServer:
    """A server over ``source`` (a path: that state directory) bound to ``host:port`` (port 0:
    any free one), not started."""
    try:
        loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    server_class: type[http.server.ThreadingHTTPServer] = _V6Server if ":" in host else http.server.ThreadingHTTPServer
    server = server_class((host, port), handler_class(Dashboard(source), loopback))
    server.daemon_threads = True
    return server


def serve(source: Source | str | os.PathLike[str], host: str, port: int,
          ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; ``ready`` is told the URL once it listens."""
    server = make_server(source, host, port)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    url = f"http://{shown}:{bound_port}/"
    (ready or (lambda text: print(text, file=sys.stderr, flush=True)))(url)
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
