"""Retries against the real local server, behind a proxy that loses answers.

The proxy is a fake *network*: it forwards each request to the real server, and, when the
test says so, lets the server handle a request but drops the answer (the client sees the
connection close), or answers 503 itself without forwarding. The SDK then retries with the
same Idempotency-Key; what must not happen is a second scan or a spurious error.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from scanfleet.client import Client, ConflictError
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState

from tests.functional.conftest import api_client

GRID = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": [1, 2, 3]}},
}

FORWARD, DROP, BUSY = "forward", "drop answer", "503"


@dataclass
class Passed:
    method: str
    path: str
    idempotency_key: str | None
    action: str


class LossyProxy:
    """``rules``: (method, path suffix, [actions for the 1st, 2nd... matching request]);
    requests no rule matches, or past the listed actions, are forwarded."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[tuple[str, str, list[str]]] = []
        self.seen: list[Passed] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = outer._action(self.command, self.path)
                with outer._lock:
                    key = self.headers.get("Idempotency-Key")
                    outer.seen.append(Passed(self.command, self.path, key, action))
                if action == BUSY:
                    self._answer(503, {"Retry-After": "0"}, b'{"error":{"code":"busy"}}')
                    return
                status, headers, data = outer._forward(self.command, self.path, self.headers, body)
                if action == DROP:
                    self.close_connection = True  # the server did it; the client never hears
                    return
                self._answer(status, headers, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def lose(self, method: str, path_suffix: str, *actions: str) -> None:
        self.rules.append((method, path_suffix, list(actions)))

    def _action(self, method: str, path: str) -> str:
        with self._lock:
            for rule_method, suffix, actions in self.rules:
                if method == rule_method and path.split("?")[0].endswith(suffix) and actions:
                    return actions.pop(0)
        return FORWARD

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            wanted = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body or None, headers=wanted)
            answer = conn.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            conn.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(local_api: LocalServer) -> Iterator[LossyProxy]:
    p = LossyProxy(local_api.url)
    yield p
    p.close()


@pytest.fixture
def client(proxy: LossyProxy, local_api: LocalServer) -> Client:
    delays: list[float] = []
    c = Client(url=proxy.url, token=local_api.tokens.default_token, sleep=delays.append)
    c.delays = delays  # type: ignore[attr-defined]
    return c


def keys_of(proxy: LossyProxy, method: str, suffix: str) -> list[str | None]:
    return [p.idempotency_key for p in proxy.seen if p.method == method and p.path.endswith(suffix)]


def test_a_create_whose_answer_was_lost_creates_one_scan(client: Client, proxy: LossyProxy) -> None:
    proxy.lose("POST", "/scans", DROP)
    scan = client.create_scan("once", GRID)
    keys = keys_of(proxy, "POST", "/scans")
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    assert [s.id for s in client.list_scans()] == [scan.id]
    assert client.delays == [pytest.approx(0.5, abs=0.13)]  # type: ignore[attr-defined]


def test_a_503_before_the_server_is_retried_once_and_honours_retry_after(
    client: Client, proxy: LossyProxy
) -> None:
    proxy.lose("POST", "/scans", BUSY)
    scan = client.create_scan("busy", GRID)
    assert [p.action for p in proxy.seen if p.method == "POST"] == [BUSY, FORWARD]
    keys = keys_of(proxy, "POST", "/scans")
    assert keys[0] == keys[1]
    assert client.delays == [0.0]  # type: ignore[attr-defined]
    assert client.get_scan(scan.id).name == "busy"


def test_the_same_key_twice_returns_the_first_scan(client: Client) -> None:
    first = client.create_scan("a", GRID, idempotency_key="k-1")
    again = client.create_scan("a", GRID, idempotency_key="k-1")
    other = client.create_scan("a", GRID, idempotency_key="k-2")
    assert again.id == first.id != other.id
    assert len(client.list_scans()) == 2


def test_a_complete_whose_answer_was_lost_is_not_an_error(
    client: Client, proxy: LossyProxy
) -> None:
    scan = client.create_scan("c", GRID)
    trial = scan.next_trial("w1")
    assert trial is not None
    proxy.lose("POST", "/complete", DROP)
    trial.complete(0.25)  # the retry meets 409 trial_finished: it was our own first attempt
    assert trial.state is TrialState.COMPLETED and trial.values == {"loss": 0.25}
    assert [p.action for p in proxy.seen if p.path.endswith("/complete")] == [DROP, FORWARD]


def test_a_complete_that_lost_to_a_different_result_still_raises(
    client: Client, local_api: LocalServer, proxy: LossyProxy
) -> None:
    scan = client.create_scan("d", GRID)
    trial = scan.next_trial("w1")
    assert trial is not None
    direct = api_client(local_api)
    proxy.lose("POST", "/complete", BUSY)  # our first attempt never reached the server...
    direct.get_trial(trial.id).complete(9.0)  # ...and someone else finished it meanwhile
    with pytest.raises(ConflictError) as caught:
        trial.complete(0.25)
    assert caught.value.error_code == "trial_finished"


def test_a_fail_whose_answer_was_lost_requeues_once(client: Client, proxy: LossyProxy) -> None:
    scan = client.create_scan("f", GRID)
    trial = scan.next_trial("w1")
    assert trial is not None
    proxy.lose("POST", "/fail", DROP)
    trial.fail("CUDA out of memory")
    assert trial.state is TrialState.QUEUED and trial.record.errors == 1


def test_a_claim_retried_after_a_503_hands_out_one_trial(client: Client, proxy: LossyProxy) -> None:
    scan = client.create_scan("claim", GRID)
    proxy.lose("POST", "/trials/claim", BUSY, BUSY)
    trial = scan.next_trial("w1")
    assert trial is not None and trial.attempt == 1
    counts = scan.refresh().counts
    assert counts[TrialState.RUNNING] == 1 and sum(counts.values()) == 1
    assert client.delays == [0.0, 0.0]  # type: ignore[attr-defined]


def test_a_named_claim_whose_answer_was_lost_returns_that_claim(
    client: Client, proxy: LossyProxy
) -> None:
    scan = client.create_scan("named", GRID)
    queued = scan.add_trial({"a": 2, "b": 3})
    proxy.lose("POST", f"/trials/{queued.id}/claim", DROP)
    trial = client.claim_trial(queued.id, "job-1")  # the retry meets 409 already_claimed
    assert (trial.id, trial.worker_id, trial.attempt) == (queued.id, "job-1", 1)
    assert [p.action for p in proxy.seen if p.path.endswith("/claim")] == [DROP, FORWARD]
    trial.complete(0.5)
    assert trial.state is TrialState.COMPLETED


def test_a_named_claim_lost_to_another_worker_still_raises(
    client: Client, local_api: LocalServer, proxy: LossyProxy
) -> None:
    scan = client.create_scan("taken", GRID)
    queued = scan.add_trial({"a": 1, "b": 1})
    direct = api_client(local_api)
    proxy.lose("POST", f"/trials/{queued.id}/claim", BUSY)  # ours never reached the server
    direct.claim_trial(queued.id, "job-2")
    with pytest.raises(ConflictError) as caught:
        client.claim_trial(queued.id, "job-1")
    assert caught.value.error_code == "already_claimed"
