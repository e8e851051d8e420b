"""The local HTTP server: loopback HTTP in, API Gateway REST proxy events to the one API app.

It plays the parts API Gateway plays in AWS: it checks the bearer token (as the Lambda
authorizer does) and passes the caller's identity as ``requestContext.authorizer.principalId``;
it turns each request into a proxy event, calls the resolver, and writes its answer back.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from scanfleet.api import build_app
from scanfleet.artifacts import CheckpointCopier
from scanfleet.local._connections import (
    MAX_BODY_BYTES,
    BodyError,
    BoundedHTTPServer,
    Headers,
    json_error,
    read_body,
    write_answer,
)
from scanfleet.local.auth import TokenStore
from scanfleet.names import ENV_STATE_DIR, HEADER_AUTHORIZATION
from scanfleet.runtime.checkpoints import checkpoint_url_from
from scanfleet.service import LocalInputStore, ScanService
from scanfleet.store import ACCEPT_LOSS_ENV, SQLiteTrialStore
from scanfleet.tenancy import is_trial_token, verify_trial_token

logger = logging.getLogger("scanfleet.local.server")

DB_FILE = "scanfleet.db"
INPUTS_DIR = "inputs"
OPEN_PATHS = frozenset({"/health"})  # served without a token
SOCKET_TIMEOUT_S = 10.0  # a client silent this long (headers, body, reading) is dropped
MAX_CONNECTIONS = 64  # connections served at once; more get 503 and Retry-After

__all__ = ["MAX_BODY_BYTES", "LocalServer", "open_local_service", "proxy_event"]


def open_local_service(state_dir: str | Path) -> ScanService:
    """The service of local mode: a SQLite store at ``<state_dir>/scanfleet.db``, uploaded
    scripts under ``<state_dir>/inputs``. A store that lost writes in a crash is refused
    (``StoreDamagedError``) unless ``SCANFLEET_ACCEPT_STORE_LOSS=1``."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    accept_loss = os.environ.get(ACCEPT_LOSS_ENV, "") not in ("", "0")
    # checkpoints are accepted where its workers keep them: <state_dir>/checkpoints, or the
    # SCANFLEET_CHECKPOINT_URL (or bucket) this process and the workers it starts share
    checkpoint_root = checkpoint_url_from({**os.environ, ENV_STATE_DIR: str(state_dir)})
    return ScanService(
        SQLiteTrialStore(Path(state_dir) / DB_FILE, accept_loss=accept_loss),
        inputs=LocalInputStore(Path(state_dir) / INPUTS_DIR),
        artifacts=CheckpointCopier(root=checkpoint_root),
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

    Whoever reaches the port cannot hold it without a token: the token is checked from the
    headers before any body is read, a client silent for ``socket_timeout_s`` is dropped,
    and at most ``max_connections`` are served at once (one thread each); a connection
    beyond that is answered 503 with ``Retry-After`` and closed.
    """

    def __init__(
        self,
        service: ScanService,
        token_store: TokenStore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        socket_timeout_s: float = SOCKET_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.service = service
        self.tokens = token_store
        self.app = build_app(service, lambda: token_store.trial_key)
        self._resolving = threading.Lock()
        handler = _handler_class(self, socket_timeout_s)
        self.httpd = BoundedHTTPServer((host, port), handler, max_connections=max_connections)
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
            if isinstance(self.service.store, SQLiteTrialStore):
                self.service.store.close_cleanly()  # the WAL checkpointed into the file

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
        refused = self.refusal(target, headers)
        if refused is not None:
            return refused
        caller = self.authorizer_context(headers)
        event = proxy_event(method, path, parts.query, headers, body, caller, client_ip=client_ip)
        result = self._resolve(event)
        out: Headers = list((result.get("headers") or {}).items())
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out.extend((key, str(value)) for value in values)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), out, data

    def refusal(self, target: str, headers: Headers) -> tuple[int, Headers, bytes] | None:
        """The 401 of a request without a valid token (None: let it in); decided from the
        headers alone, so the body of a refused request is never read."""
        path = urlsplit(target).path or "/"
        if path in OPEN_PATHS or self.authorizer_context(headers) is not None:
            return None
        return json_error(
            401,
            "unauthorized",
            "missing or invalid token (send Authorization: Bearer <token>)",
            [("WWW-Authenticate", 'Bearer realm="scanfleet"')],
        )

    def authorizer_context(self, headers: Headers) -> dict[str, Any] | None:
        """What the token authorizer would answer in ``requestContext.authorizer`` (None:
        refused): a token's owner id with its tenant, or a worker token's trial (checked
        by its MAC and expiry; the API checks that its attempt still runs)."""
        token = _bearer_token(headers)
        if is_trial_token(token):
            grant = verify_trial_token(self.tokens.trial_key, token, now=time.time())
            if grant is None:
                return None
            return {"principalId": str(grant), "trial": grant.trial_id, "attempt": grant.attempt}
        tenant = self.tokens.tenant_for(token)
        if tenant is None:
            return None
        return {"principalId": tenant.former or str(tenant), "tenant": str(tenant),
                "former": tenant.former}  # fmt: skip

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
    owner: str | Mapping[str, Any] | None,
    *,
    client_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The API Gateway REST proxy event (``{proxy+}`` resource) of one HTTP request;
    ``owner``: the principal, or the authorizer's whole answer (principal and context)."""
    authorizer = {"principalId": owner} if isinstance(owner, str) else owner
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
            "authorizer": dict(authorizer) if authorizer else None,
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


def _handler_class(server: LocalServer, socket_timeout_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "scanfleet-local"
        # headers and body go out in two writes: with Nagle's algorithm the body waits for
        # the client's delayed ACK of the headers, 40 ms on every answer of a kept-alive
        # connection
        disable_nagle_algorithm = True
        timeout = socket_timeout_s  # every read and write of the connection

        def _serve(self) -> None:
            headers = list(self.headers.items())
            refused = server.refusal(self.path, headers)
            if refused is not None:  # the body (if any) is never read
                self.close_connection = True
                self._answer(*refused)
                return
            try:
                body = read_body(self.headers, self.rfile)
            except BodyError as err:
                self.close_connection = True  # the unread body would follow on the socket
                self._answer(*err.answer)
                return
            try:
                answer = server.handle(
                    self.command,
                    self.path,
                    headers,
                    body,
                    client_ip=str(self.client_address[0]),
                )
            except Exception:
                logger.exception("the local server failed on %s %s", self.command, self.path)
                answer = json_error(500, "internal_error", "internal error")
            self._answer(*answer)

        def _answer(self, status: int, headers: Headers, data: bytes) -> None:
            write_answer(self, status, headers, data)

        def __getattr__(self, name: str) -> Any:
            # every method (TRACE, PROPFIND...) goes to the resolver, which answers 405 or
            # 404 as JSON; http.server would answer 501 in HTML
            if name.startswith("do_") and name[3:].isalpha():
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s - " + format, self.address_string(), *args)

    return Handler
