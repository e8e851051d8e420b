"""The connection side of the local server: request bodies read within limits, and a
threaded HTTP server that serves a bounded number of connections at once."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
BUSY_RETRY_AFTER_S = 1

Headers = list[tuple[str, str]]


def json_error(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> tuple[int, Headers, bytes]:
    """An answer in the API's one error shape."""
    body = {"error": {"code": code, "message": message, "details": None}}
    return status, [("Content-Type", "application/json"), *headers], json.dumps(body).encode()


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = json_error(status, code, message)


def read_body(headers: Any, rfile: BufferedIOBase) -> bytes:
    """The request body, by Content-Length or chunked, at most MAX_BODY_BYTES."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(rfile)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        raise BodyError(400, "invalid_request", "Content-Length is not a number") from None
    if length < 0:
        raise BodyError(400, "invalid_request", "Content-Length is negative")
    if length > MAX_BODY_BYTES:
        raise BodyError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    return rfile.read(length) if length else b""


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    out = bytearray()
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise BodyError(400, "invalid_request", "bad chunked encoding") from None
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(out)
        if len(out) + size > MAX_BODY_BYTES:
            raise BodyError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        out += rfile.read(size)
        rfile.readline(1024)


class BoundedHTTPServer(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` at once; beyond that the
    connection is answered 503 from the accepting thread and closed."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: connections wait there to be accepted

    def __init__(self, address: tuple[str, int], handler: Any, *, max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _answer_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _answer_busy(request: socket.socket) -> None:
    """503 and Retry-After on a connection no thread is left for; never blocks long."""
    status, headers, data = json_error(
        503,
        "server_busy",
        "the server serves all the connections it can; retry shortly",
        [("Retry-After", str(BUSY_RETRY_AFTER_S)), ("Connection", "close")],
    )
    lines = [f"HTTP/1.1 {status} Service Unavailable", f"Content-Length: {len(data)}"]
    lines += [f"{key}: {value}" for key, value in headers]
    try:
        request.settimeout(0.5)
        request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        request.setblocking(False)
        request.recv(65536)  # what the client sent already: closing over it would reset
    except OSError:
        pass


def write_answer(
    handler: BaseHTTPRequestHandler, status: int, headers: Headers, data: bytes
) -> None:
    """Write one answer on the handler's connection (no body for HEAD)."""
    handler.send_response(status)
    for key, value in headers:
        if key.lower() not in ("content-length", "connection", "transfer-encoding"):
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if data and handler.command != "HEAD":
        handler.wfile.write(data)
