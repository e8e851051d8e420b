"""The local HTTP server: loopback HTTP in, API Gateway REST proxy events to the one API app.

It plays the parts API Gateway plays in AWS: it checks the bearer token (as the Lambda
authorizer does) and passes the caller's identity as ``requestContext.authorizer.principalId``;
it turns each request into a proxy event, calls the resolver, and writes its answer back.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from scanfleet.api import build_app
from scanfleet.local.auth import TokenStore
from scanfleet.names import HEADER_AUTHORIZATION
from scanfleet.service import LocalInputStore, ScanService
from scanfleet.store import SQLiteTrialStore

logger = logging.getLogger("scanfleet.local.server")

DB_FILE = "scanfleet.db"
INPUTS_DIR = "inputs"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
OPEN_PATHS = frozenset({"/health"})  # served without a token

Headers = list[tuple[str, str]]


def open_local_service(state_dir: str | Path) -> ScanService:
    """The service of local mode: a SQLite store at ``<state_dir>/scanfleet.db``, uploaded
    scripts under ``<state_dir>/inputs``."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    return ScanService(
        SQLiteTrialStore(Path(state_dir) / DB_FILE),
        inputs=LocalInputStore(Path(state_dir) / INPUTS_DIR),
    )


class _LocalContext:
    """What the resolver (and Powertools Logger) read from a Lambda context."""

    function_name = "scanfleet-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:scanfleet-local"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class LocalServer:
    """Serves the API on ``host:port`` (port 0: any free one).

    ``start()`` serves from a background thread and returns the URL; ``serve_forever()``
    serves from the calling thread; ``stop()`` (or leaving the ``with`` block) ends either.
    """

    def __init__(
        self,
        service: ScanService,
        token_store: TokenStore,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.service = service
        self.tokens = token_store
        self.app = build_app(service)
        self._resolving = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Serve from a background thread; returns the URL."""
        if self._serving:
            raise RuntimeError("the server is running already")
        self._serving = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scanfleet-local-server",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        """Serve from this thread until ``stop()`` (from another thread) or Ctrl-C."""
        if self._serving:
            raise RuntimeError("the server is running already")
        self._serving = True
        try:
            self.httpd.serve_forever(poll_interval=0.05)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving and free the port; harmless twice or before ``start()``."""
        if self._serving and not self._closed:
            self.httpd.shutdown()  # returns once serve_forever has returned
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- one request --------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        *,
        client_ip: str = "127.0.0.1",
    ) -> tuple[int, Headers, bytes]:
        """One HTTP request through the authorizer's check and the resolver."""
        parts = urlsplit(target)
        path = parts.path or "/"
        owner = self.tokens.owner_for(_bearer_token(headers))
        if owner is None and path not in OPEN_PATHS:
            return _error(
                401,
                "unauthorized",
                "missing or invalid token (send Authorization: Bearer <token>)",
                [("WWW-Authenticate", 'Bearer realm="scanfleet"')],
            )
        event = proxy_event(method, path, parts.query, headers, body, owner, client_ip=client_ip)
        result = self._resolve(event)
        out: Headers = list((result.get("headers") or {}).items())
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out.extend((key, str(value)) for value in values)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), out, data

    def _resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """Powertools keeps the request being resolved in class-level state
        (``BaseRouter.current_event``), so requests go through it one at a time (each is a
        few milliseconds of SQLite); in Lambda a container serves one request at a time."""
        context = cast(LambdaContext, _LocalContext(event["requestContext"]["requestId"]))
        with self._resolving:
            result: dict[str, Any] = self.app.resolve(event, context)
        return result


def proxy_event(
    method: str,
    path: str,
    query: str,
    headers: Headers,
    body: bytes,
    owner: str | None,
    *,
    client_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The API Gateway REST proxy event (``{proxy+}`` resource) of one HTTP request."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in headers:
        single[key] = value  # API Gateway keeps the last value here
        multi.setdefault(key, []).append(value)
    multi_query = parse_qs(query, keep_blank_values=True)
    try:
        text, encoded = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:  # binary: API Gateway passes it base64-encoded
        text, encoded = base64.b64encode(body).decode("ascii"), True
    request_id = str(uuid.uuid4())
    agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "stage": "local",
            "requestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": client_ip, "userAgent": agent, "userArn": None},
            "authorizer": {"principalId": owner} if owner else None,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _bearer_token(headers: Headers) -> str | None:
    auth = next((v for k, v in headers if k.lower() == HEADER_AUTHORIZATION.lower()), "")
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _error(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> tuple[int, Headers, bytes]:
    body = {"error": {"code": code, "message": message, "details": None}}
    return status, [("Content-Type", "application/json"), *headers], json.dumps(body).encode()


class _BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = _error(status, code, message)


def _read_body(headers: Any, rfile: BufferedIOBase) -> bytes:
    """The request body, by Content-Length or chunked, at most MAX_BODY_BYTES."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(rfile)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        raise _BodyError(400, "invalid_request", "Content-Length is not a number") from None
    if length < 0:
        raise _BodyError(400, "invalid_request", "Content-Length is negative")
    if length > MAX_BODY_BYTES:
        raise _BodyError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    return rfile.read(length) if length else b""


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    out = bytearray()
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BodyError(400, "invalid_request", "bad chunked encoding") from None
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(out)
        if len(out) + size > MAX_BODY_BYTES:
            raise _BodyError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        out += rfile.read(size)
        rfile.readline(1024)


def _handler_class(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "scanfleet-local"

        def _serve(self) -> None:
            try:
                body = _read_body(self.headers, self.rfile)
            except _BodyError as err:
                self.close_connection = True  # the unread body would follow on the socket
                self._answer(*err.answer)
                return
            try:
                answer = server.handle(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    client_ip=str(self.client_address[0]),
                )
            except Exception:
                logger.exception("the local server failed on %s %s", self.command, self.path)
                answer = _error(500, "internal_error", "internal error")
            self._answer(*answer)

        def _answer(self, status: int, headers: Headers, data: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s - " + format, self.address_string(), *args)

    return Handler
