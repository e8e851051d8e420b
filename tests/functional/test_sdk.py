"""The SDK against the real local server (and, for retries, a scripted server)."""

from __future__ import annotations

import csv
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scanfleet.client import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    GoneError,
    InternalServerError,
    NotFoundError,
)
from scanfleet.config import ConfigError
from scanfleet.local.server import LocalServer
from scanfleet.records import ScanStatus, TrialState

GRID = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "batch_size": {"values": [2, 4, 8]},
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
    },
}


@pytest.fixture
def client(local_api: LocalServer) -> Client:
    return Client(url=local_api.url, token=local_api.tokens.default_token)


def test_a_manual_mode_loop_finishes_a_grid_scan(client: Client) -> None:
    scan = client.create_scan("manual", GRID)
    for trial in scan.work():
        p = trial.params
        trial.complete(p["batch_size"] * p["learning_rate"])
    with pytest.raises(GoneError):
        scan.next_trial()
    scan.refresh()
    assert scan.status is ScanStatus.COMPLETED
    assert scan.counts[TrialState.COMPLETED] == 9
    best = scan.best_trial()
    assert best is not None and best.params == {"batch_size": 2, "learning_rate": 1e-5}


def test_typed_errors(client: Client, local_api: LocalServer) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get_scan("sc0000000000")
    assert missing.value.status_code == 404 and missing.value.error_code == "scan_not_found"
    with pytest.raises(AuthenticationError):
        Client(url=local_api.url, token="sf_wrong").list_scans()
    scan = client.create_scan("g", GRID)
    trial = scan.next_trial()
    assert trial is not None
    with pytest.raises(BadRequestError) as bad:
        trial.complete({"accuracy": 1.0})
    assert "loss" in bad.value.message
    trial.complete(0.5)
    with pytest.raises(ConflictError) as finished:
        trial.complete(0.4)
    assert finished.value.error_code == "trial_finished"
    scan.cancel()
    with pytest.raises(GoneError):
        scan.next_trial()


def test_config_errors_are_raised_before_any_request(client: Client) -> None:
    with pytest.raises(ConfigError) as caught:
        client.create_scan("bad", {**GRID, "strategy": "nope"})
    assert caught.value.problems[0].path == "strategy"
    assert client.list_scans() == []


def test_a_missing_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCANFLEET_API_URL", raising=False)
    with pytest.raises(ValueError, match="SCANFLEET_API_URL"):
        Client()


def test_connection_errors_are_typed() -> None:
    client = Client(url="http://127.0.0.1:9", token="t", max_retries=1)
    client.http.sleep = lambda s: None
    with pytest.raises(APIConnectionError):
        client.list_scans()


class Scripted:
    """A throwaway HTTP server answering from a script of (status, headers, body)."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append(
                    {"headers": dict(self.headers.items()), "body": self.rfile.read(length)}
                )
                status, headers, body = outer.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def make(answers: list[tuple[int, dict[str, str], Any]]) -> Scripted:
        servers.append(Scripted(answers))
        return servers[-1]

    yield make
    for s in servers:
        s.httpd.shutdown()


def test_a_503_is_retried_with_the_same_idempotency_key(scripted: Any) -> None:
    summary = {"scan": {"scan_id": "sc1", "name": "n", "config": GRID, "max_run": 9},
               "counts": {}, "best_trial": None, "planned_trials": 9}  # fmt: skip
    server = scripted([(503, {}, {"error": {"code": "unavailable", "message": "busy"}}),
                       (201, {}, summary)])  # fmt: skip
    delays: list[float] = []
    client = Client(url=server.url, token="t")
    client.http.sleep = delays.append
    scan = client.create_scan("n", GRID)
    assert scan.id == "sc1" and len(delays) == 1
    keys = [r["headers"]["Idempotency-Key"] for r in server.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_retry_after_is_honoured_and_retries_are_capped(scripted: Any) -> None:
    busy = (429, {"Retry-After": "3"}, {"error": {"code": "slow_down", "message": "later"}})
    server = scripted([busy, busy, busy])
    delays: list[float] = []
    client = Client(url=server.url, token="t", max_retries=2)
    client.http.sleep = delays.append
    with pytest.raises(Exception) as caught:
        client.list_scans()
    assert getattr(caught.value, "status_code", None) == 429
    assert delays == [3.0, 3.0]


def test_a_500_after_retries_raises_internal_server_error(scripted: Any) -> None:
    server = scripted([(500, {}, {"error": {"code": "internal_error", "message": "x"}})] * 2)
    client = Client(url=server.url, token="t", max_retries=1)
    client.http.sleep = lambda s: None
    with pytest.raises(InternalServerError):
        client.list_scans()


def test_a_replayed_create_creates_one_scan(client: Client, local_api: LocalServer) -> None:
    """A retry after a lost response reuses the key: the server answers with the first scan."""
    original = client.http._send
    calls = {"n": 0}

    def lose_first_response(*args: Any) -> Any:
        result = original(*args)  # the server handled it...
        calls["n"] += 1
        if calls["n"] == 1:
            raise APIConnectionError("response lost")  # ...but the client never heard
        return result

    client.http._send = lose_first_response  # type: ignore[method-assign]
    client.http.sleep = lambda s: None
    scan = client.create_scan("once", GRID)
    assert calls["n"] == 2
    assert [s.id for s in client.list_scans()] == [scan.id]


def test_32_threads_claiming_through_the_api_never_share_a_trial(client: Client) -> None:
    config = {
        **GRID,
        "max_run": 500,
        "parameters": {"a": {"values": list(range(10))}, "b": {"values": list(range(20))}},
    }
    scan = client.create_scan("race", config)
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(32)

    def work(i: int) -> None:
        barrier.wait()
        while True:
            try:
                trial = scan.next_trial(f"w{i}")
            except GoneError:
                return
            if trial is None:
                continue
            with lock:
                claimed.append(trial.id)
            trial.complete(float(trial.params["a"]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(claimed) == 200 and max(Counter(claimed).values()) == 1
    assert scan.refresh().counts[TrialState.COMPLETED] == 200


def test_csv_and_dataframe_have_one_column_per_param_and_metric(
    client: Client, tmp_path: Path
) -> None:
    scan = client.create_scan("out", GRID)
    for trial in scan.work():
        trial.complete(trial.params["batch_size"] * 1.0)
    path = scan.to_csv(tmp_path / "trials.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 9
    assert {"param.batch_size", "param.learning_rate", "value.loss", "state", "attempt"} <= set(
        rows[0]
    )
    df = scan.to_dataframe()
    assert len(df) == 9 and df["value.loss"].min() == 2.0
