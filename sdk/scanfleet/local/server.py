"""The local HTTP server: loopback HTTP in, API Gateway proxy events to the one API app.

It checks the bearer token (as the Lambda authorizer does in AWS) and passes the caller's
identity as ``requestContext.authorizer.principalId``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from scanfleet.api import build_app
from scanfleet.local.auth import TokenStore
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

_OPEN_PATHS = frozenset({"/health"})


def open_local_service(state_dir: str | Path) -> ScanService:
    return ScanService(SQLiteTrialStore(Path(state_dir) / "scanfleet.db"))


class _LambdaContext:
    function_name = "scanfleet-local"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:scanfleet-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


class LocalServer:
    """Serves the API on ``host:port`` (port 0: any free one) in a background thread."""

    def __init__(
        self,
        service: ScanService,
        tokens: TokenStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.service = service
        self.tokens = tokens
        self.app = build_app(service)
        self._resolving = threading.Lock()
        handler = _handler_class(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """Powertools keeps the current request in shared state (two resolvers racing in
        one process mixed up their bodies), so requests go through it one at a time; each
        is a few milliseconds of SQLite."""
        with self._resolving:
            result: dict[str, Any] = self.app.resolve(event, cast(LambdaContext, _LambdaContext()))
        return result

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path or "/"
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        owner = self.tokens.owner_for(token)
        if owner is None and path not in _OPEN_PATHS:
            error = {"error": {"code": "unauthorized", "message": "missing or invalid token"}}
            return 401, {"Content-Type": "application/json"}, json.dumps(error).encode()
        event = _proxy_event(method, path, parts.query, headers, body, owner)
        result = self._resolve(event)
        out_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), out_headers, data


def _proxy_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, owner: str | None
) -> dict[str, Any]:
    multi_query = parse_qs(query, keep_blank_values=True)
    text = body.decode("utf-8", errors="replace") if body else None
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"principalId": owner} if owner else None,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _handler_class(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = server.handle(
                self.command, self.path, dict(self.headers.items()), body
            )
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    return Handler
