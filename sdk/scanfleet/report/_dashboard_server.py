"""``scanfleet dashboard``: optuna-dashboard's own web app over ``ScanStorage`` (the live
scans, read-only), served on a port of this machine."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from scanfleet.client import Client

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
READ_ONLY_REASON = (
    "this dashboard shows scanfleet scans read-only: notes, tells, renames and deletions are"
    " not possible here (scans change through the scanfleet SDK or CLI)"
)


class DashboardDependencyError(ImportError):
    def __init__(self) -> None:
        super().__init__(
            "the live dashboard needs optuna-dashboard, which is not installed:"
            " pip install 'scanfleet[dashboard]'"
        )


class DashboardServer:
    """optuna-dashboard over ``storage`` on ``host:port`` (port 0: any free one).

    ``start()`` serves from a background thread and returns the URL; ``serve_forever()``
    serves from the calling thread until Ctrl-C or ``stop()``. Requests that would write
    (anything but GET and HEAD under ``/api/``) are answered 403 with the reason, which the
    dashboard shows, before they reach the storage.
    """

    def __init__(self, storage: BaseStorage, host: str = "127.0.0.1", port: int = 8080) -> None:
        try:
            from optuna_dashboard import wsgi
        except ImportError:
            raise DashboardDependencyError() from None
        self.storage = storage
        self.httpd = make_server(
            host,
            port,
            refuse_writes(wsgi(storage)),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Serve from a background thread; returns the URL."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scanfleet-dashboard",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()


def dashboard_server(
    client: Client,
    scan_id: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    ttl: float | None = None,
) -> DashboardServer:
    """The dashboard of one scan (``scan_id``) or of every scan of the caller (None).

    Raises:
        DashboardDependencyError: optuna-dashboard is not installed.
    """
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        raise DashboardDependencyError() from None
    from scanfleet.report._dashboard import DEFAULT_TTL_S, ScanStorage

    storage = ScanStorage(client, scan_id, ttl=DEFAULT_TTL_S if ttl is None else ttl)
    return DashboardServer(storage, host, port)


def refuse_writes(app: WSGIApp) -> WSGIApp:
    """``app`` where a write to its API is answered 403 ``{"reason": ...}``."""

    def read_only(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = str(environ.get("PATH_INFO", ""))
        if method in ("GET", "HEAD") or not path.startswith("/api/"):
            return app(environ, start_response)
        body = json.dumps({"reason": READ_ONLY_REASON}).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return read_only


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per connection: the browser loads the page's script and polls the API
    at once."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per poll would drown the terminal
