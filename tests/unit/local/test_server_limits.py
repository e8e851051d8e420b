"""The local server under hostile clients, over real loopback sockets: no token, no body
read; stalled clients dropped; a bounded number of connections served at once."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from scanfleet.client import Client
from scanfleet.local.auth import TokenStore
from scanfleet.local.server import MAX_BODY_BYTES, LocalServer, open_local_service

CAP = 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    service = open_local_service(tmp_path)
    with LocalServer(
        service, TokenStore(tmp_path), socket_timeout_s=1.0, max_connections=CAP
    ) as running:
        yield running


def _connect(server: LocalServer, timeout: float = 5.0) -> socket.socket:
    host, port = server.httpd.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=timeout)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Status, headers and JSON body of one answer read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without answering: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers["Content-Length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split()[1]), headers, json.loads(rest[:length])


def _server_threads() -> int:
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)


def test_a_request_without_a_token_gets_401_from_its_headers_alone(server: LocalServer) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /scans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY_BYTES}\r\n\r\n".encode()
        )  # 10 MB announced, none sent: the answer cannot wait for it
        status, headers, body = _read_answer(sock)
        assert status == 401 and body["error"]["code"] == "unauthorized"  # type: ignore[index]
        assert headers["Connection"] == "close"
        assert sock.recv(1) == b""  # and the connection is closed, the body never read


def test_a_wrong_token_is_refused_before_the_body_is_read(server: LocalServer) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /scans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n"
            + f"Content-Length: {MAX_BODY_BYTES}\r\n\r\n".encode()
        )
        status, _, _ = _read_answer(sock)
        assert status == 401


def test_a_stalled_client_is_dropped_after_the_socket_timeout(server: LocalServer) -> None:
    with _connect(server, timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 5


def test_a_client_that_stops_sending_its_body_is_dropped(server: LocalServer) -> None:
    token = server.tokens.default_token
    with _connect(server, timeout=10) as sock:
        sock.sendall(
            b"POST /scans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n{{".encode()
        )
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 5


def test_connections_beyond_the_cap_get_503_and_retry_after_and_hold_no_thread(
    server: LocalServer,
) -> None:
    before = _server_threads()
    with ExitStack() as held:
        stalled = [held.enter_context(_connect(server)) for _ in range(CAP + 40)]
        time.sleep(0.3)  # the server accepts them all
        assert _server_threads() - before <= CAP
        with _connect(server) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = _read_answer(extra)
        assert status == 503 and body["error"]["code"] == "server_busy"  # type: ignore[index]
        assert headers["Retry-After"] == "1"
        assert len(stalled) == CAP + 40


def test_a_legitimate_client_is_answered_while_stalled_connections_are_held(
    server: LocalServer,
) -> None:
    client = Client(url=server.url, token=server.tokens.default_token)
    with ExitStack() as held:
        for _ in range(CAP * 4):
            held.enter_context(_connect(server))
        time.sleep(0.3)
        started = time.monotonic()
        assert client.list_scans() == []  # 503s with Retry-After, then a slot frees
        assert time.monotonic() - started < 10
