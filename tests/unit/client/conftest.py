"""A throwaway HTTP server that answers from a script: a fake *server*, so the SDK's real
transport (sockets, headers, retries) runs unchanged against it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict → JSON; bytes/str → sent as they are; None → empty
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """Answers each request with the next ``Answer`` (a 599 once the script runs out)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers.items()), b"")
                seen.body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append(seen)
                    answer = outer.answers.pop(0) if outer.answers else Answer(599, "no script")
                time.sleep(answer.delay)
                if isinstance(answer.body, dict | list):
                    data = json.dumps(answer.body).encode()
                elif isinstance(answer.body, str):
                    data = answer.body.encode()
                else:
                    data = answer.body or b""
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(*answers: Answer) -> ScriptedServer:
        servers.append(ScriptedServer(list(answers)))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def error_body(code: str, message: str = "", details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message or code}
    if details is not None:
        error["details"] = details
    return {"error": error}


GRID: dict[str, Any] = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"batch_size": {"values": [2, 4]}, "lr": {"values": [0.1, 0.01]}},
}


def summary_body(scan_id: str = "sc1", name: str = "n") -> dict[str, Any]:
    return {
        "scan": {"scan_id": scan_id, "name": name, "config": GRID, "max_run": 4},
        "counts": {"QUEUED": 0},
        "best_trial": None,
        "planned_trials": 4,
    }
