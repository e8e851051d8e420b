"""A fake EC2 instance metadata service (IMDSv2) on loopback: a token, then the Spot
``instance-action`` — 404 until the test announces an interruption."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scanfleet.runtime.spot import INSTANCE_ACTION_PATH, TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER


class FakeMetadata:
    def __init__(self) -> None:
        self.notice: dict[str, str] | None = None
        self.tokens_issued = 0
        self.polls = 0
        self.rejected = 0
        self.valid_token = "token-1"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                if self.path != TOKEN_PATH or not self.headers.get(TOKEN_TTL_HEADER):
                    self._answer(400, b"")
                    return
                fake.tokens_issued += 1
                self._answer(200, fake.valid_token.encode())

            def do_GET(self) -> None:
                if self.headers.get(TOKEN_HEADER) != fake.valid_token:
                    fake.rejected += 1
                    self._answer(401, b"")
                    return
                if self.path != INSTANCE_ACTION_PATH:
                    self._answer(404, b"")
                    return
                fake.polls += 1
                if fake.notice is None:
                    self._answer(404, b"")
                else:
                    self._answer(200, json.dumps(fake.notice).encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def announce(self, in_seconds: float = 120.0, action: str = "terminate") -> None:
        when = datetime.fromtimestamp(time.time() + in_seconds, UTC)
        self.notice = {"action": action, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
