"""The SDK's transport against a scripted server over real HTTP: retries, backoff,
idempotency keys, headers, and what each failure turns into."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import pytest
from scanfleet.client import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    Client,
    ConflictError,
    InternalServerError,
    RateLimitError,
)

from tests.unit.client.conftest import Answer, ScriptedServer, error_body, summary_body

Make = Callable[..., ScriptedServer]
GRID_SMALL = summary_body()["scan"]["config"]


def client_for(server: ScriptedServer, delays: list[float], **kwargs: object) -> Client:
    return Client(url=server.url, token="sf_test", sleep=delays.append, **kwargs)  # type: ignore[arg-type]


def test_a_503_is_retried_once_with_the_same_idempotency_key(scripted: Make) -> None:
    server = scripted(Answer(503, error_body("unavailable")), Answer(201, summary_body("sc7")))
    delays: list[float] = []
    scan = client_for(server, delays).create_scan("n", GRID_SMALL)
    assert scan.id == "sc7"
    assert len(server.requests) == 2 and len(delays) == 1
    assert 0.375 <= delays[0] <= 0.5
    keys = [r.header("Idempotency-Key") for r in server.requests]
    assert keys[0] == keys[1] and uuid.UUID(str(keys[0])).version == 4
    assert server.requests[0].body == server.requests[1].body


def test_retry_after_is_honoured_and_retries_stop_at_max_retries(scripted: Make) -> None:
    busy = Answer(429, error_body("slow_down", "later"), {"Retry-After": "3"})
    server = scripted(busy, busy, busy, Answer(200, {"scans": []}))
    delays: list[float] = []
    with pytest.raises(RateLimitError) as caught:
        client_for(server, delays, max_retries=2).list_scans()
    assert delays == [3.0, 3.0]
    assert len(server.requests) == 3 and caught.value.attempts == 3
    assert caught.value.retry_after == 3.0 and caught.value.error_code == "slow_down"


def test_server_errors_that_persist_raise_internal_server_error(scripted: Make) -> None:
    server = scripted(*[Answer(500, error_body("internal_error"))] * 3)
    delays: list[float] = []
    with pytest.raises(InternalServerError):
        client_for(server, delays, max_retries=2).list_scans()
    assert len(delays) == 2 and delays[1] > delays[0] * 1.3


def test_a_lost_lease_is_not_retried(scripted: Make) -> None:
    server = scripted(Answer(409, error_body("lease_lost", "another attempt holds it")))
    delays: list[float] = []
    with pytest.raises(ConflictError) as caught:
        client_for(server, delays).get_scan("sc1").cancel()
    assert caught.value.error_code == "lease_lost" and delays == []


def test_a_busy_store_is_retried(scripted: Make) -> None:
    server = scripted(Answer(503, error_body("store_busy")), Answer(200, summary_body()))
    delays: list[float] = []
    client_for(server, delays).get_scan("sc1")
    assert len(server.requests) == 2 and len(delays) == 1


def test_a_bad_request_is_raised_at_once_with_its_details(scripted: Make) -> None:
    details = [{"path": "name", "message": "too long"}]
    server = scripted(Answer(400, error_body("invalid_request", "name: too long", details)))
    delays: list[float] = []
    with pytest.raises(BadRequestError) as caught:
        client_for(server, delays).create_scan("n", GRID_SMALL)
    assert caught.value.details == details and delays == [] and len(server.requests) == 1


def test_each_call_has_its_own_key_and_gets_have_none(scripted: Make) -> None:
    server = scripted(
        Answer(201, summary_body()), Answer(201, summary_body()), Answer(200, {"scans": []})
    )
    client = client_for(server, [])
    client.create_scan("a", GRID_SMALL)
    client.create_scan("b", GRID_SMALL)
    client.list_scans()
    first, second, listing = (r.header("Idempotency-Key") for r in server.requests)
    assert first and second and first != second and listing is None


def test_a_given_idempotency_key_is_sent(scripted: Make) -> None:
    server = scripted(Answer(201, summary_body()))
    client_for(server, []).create_scan("a", GRID_SMALL, idempotency_key="my-key")
    assert server.requests[0].header("Idempotency-Key") == "my-key"


def test_the_token_is_sent_as_a_bearer_and_no_header_without_one(scripted: Make) -> None:
    server = scripted(Answer(200, {"scans": []}), Answer(200, {"scans": []}))
    client_for(server, []).list_scans()
    Client(url=server.url, token=None, max_retries=0).list_scans()
    with_token, without = server.requests
    assert with_token.header("Authorization") == "Bearer sf_test"
    assert without.header("Authorization") is None
    assert (with_token.header("User-Agent") or "").startswith("scanfleet-python/")


def test_query_values_are_encoded(scripted: Make) -> None:
    server = scripted(Answer(200, {"scans": []}))
    client_for(server, []).list_scans(status="RUNNING", tag="team:vision lab")
    assert server.requests[0].path == "/scans?status=RUNNING&tag=team%3Avision%20lab"


def test_no_free_trial_is_none(scripted: Make) -> None:
    server = scripted(Answer(200, summary_body()), Answer(204))
    scan = client_for(server, []).get_scan("sc1")
    assert scan.next_trial("w1") is None
    assert server.requests[1].json() == {"worker_id": "w1"}


def test_a_slow_server_raises_a_timeout(scripted: Make) -> None:
    server = scripted(Answer(200, {"scans": []}, delay=1.0))
    with pytest.raises(APITimeoutError):
        Client(url=server.url, timeout=0.2, max_retries=0).list_scans()


def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    delays: list[float] = []
    client = Client(url=f"http://127.0.0.1:{port}", sleep=delays.append, max_retries=3)
    with pytest.raises(APIConnectionError) as caught:
        client.list_scans()
    assert len(delays) == 3 and caught.value.attempts == 4


def test_redirects_are_not_followed(scripted: Make) -> None:
    server = scripted(Answer(302, "", {"Location": "/elsewhere"}))
    with pytest.raises(APIStatusError) as caught:
        client_for(server, []).list_scans()
    assert caught.value.status_code == 302 and len(server.requests) == 1


def test_a_success_that_is_not_json_is_a_response_error(scripted: Make) -> None:
    server = scripted(Answer(200, "<html>captive portal</html>"))
    with pytest.raises(APIResponseError):
        client_for(server, []).list_scans()
