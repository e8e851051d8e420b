"""The HTTP API through the real local server: every route, good and bad input."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from scanfleet.local.server import LocalServer

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2]}, "b": {"value": "x"}},
}


def call(
    server: LocalServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "default",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    if token == "default":
        token = server.tokens.default_token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None


@pytest.fixture
def scan_id(local_api: LocalServer) -> str:
    status, body = call(local_api, "POST", "/scans", {"name": "g", "config": GRID})
    assert status == 201
    return str(body["scan"]["scan_id"])


def test_a_grid_scan_runs_to_completion_through_claim_and_complete(
    local_api: LocalServer, scan_id: str
) -> None:
    seen = []
    while True:
        status, trial = call(local_api, "POST", f"/scans/{scan_id}/trials/claim",
                             {"worker_id": "w1"})  # fmt: skip
        if status == 410:
            assert trial["error"]["code"] == "scan_finished"
            break
        assert status == 200
        seen.append(trial["params"]["a"])
        status, hb = call(local_api, "POST", f"/trials/{trial['trial_id']}/heartbeat",
                          {"worker_id": "w1", "attempt": 1})  # fmt: skip
        assert status == 200 and hb["state"] == "RUNNING"
        status, decision = call(local_api, "POST", f"/trials/{trial['trial_id']}/reports",
                                {"metric": "loss", "step": 1, "value": 0.5})  # fmt: skip
        assert status == 200 and decision["prune"] is False
        status, ck = call(local_api, "POST", f"/trials/{trial['trial_id']}/checkpoints",
                          {"step": 1, "uri": "file:///tmp/c"})  # fmt: skip
        assert status == 200 and ck["checkpoint"]["step"] == 1
        status, done = call(local_api, "POST", f"/trials/{trial['trial_id']}/complete",
                            {"value": trial["params"]["a"] / 10, "attempt": 1})  # fmt: skip
        assert status == 200 and done["state"] == "COMPLETED"
    assert sorted(seen) == [1, 2]
    status, summary = call(local_api, "GET", f"/scans/{scan_id}")
    assert status == 200 and summary["scan"]["status"] == "COMPLETED"
    assert summary["counts"]["COMPLETED"] == 2 and summary["best_trial"]["params"]["a"] == 1
    status, listing = call(local_api, "GET", f"/scans/{scan_id}/trials?state=COMPLETED")
    assert status == 200 and len(listing["trials"]) == 2


def test_claim_answers_204_while_the_last_trial_runs(local_api: LocalServer) -> None:
    config = {**GRID, "parameters": {"a": {"value": 1}}}
    _, created = call(local_api, "POST", "/scans", {"name": "one", "config": config})
    sid = created["scan"]["scan_id"]
    status, trial = call(local_api, "POST", f"/scans/{sid}/trials/claim", {"worker_id": "w"})
    assert status == 200
    status, body = call(local_api, "POST", f"/scans/{sid}/trials/claim", {"worker_id": "w2"})
    assert (status, body) == (204, None)


def test_post_scans_honours_the_idempotency_key(local_api: LocalServer) -> None:
    headers = {"Idempotency-Key": "k-123"}
    first = call(local_api, "POST", "/scans", {"name": "g", "config": GRID}, headers=headers)
    again = call(local_api, "POST", "/scans", {"name": "g", "config": GRID}, headers=headers)
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["scan"]["scan_id"] == again[1]["scan"]["scan_id"]
    _, listing = call(local_api, "GET", "/scans")
    assert len(listing["scans"]) == 1


def test_a_scan_is_invisible_to_another_token(local_api: LocalServer, scan_id: str) -> None:
    other = local_api.tokens.create_token()
    status, body = call(local_api, "GET", f"/scans/{scan_id}", token=other)
    assert status == 404 and body["error"]["code"] == "scan_not_found"
    status, listing = call(local_api, "GET", "/scans", token=other)
    assert status == 200 and listing["scans"] == []


@pytest.mark.parametrize("token", [None, "sf_wrong"])
def test_requests_without_a_valid_token_get_401(
    local_api: LocalServer, scan_id: str, token: str | None
) -> None:
    status, body = call(local_api, "GET", f"/scans/{scan_id}", token=token)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_openapi_document_lists_the_routes(local_api: LocalServer) -> None:
    status, doc = call(local_api, "GET", "/openapi.json")
    assert status == 200
    for path in ("/scans", "/scans/{scan_id}/trials/claim", "/trials/{trial_id}/complete"):
        assert path in doc["paths"]


ROUTES_WITH_BODY = [
    ("POST", "/scans/{scan}/extend"),
    ("POST", "/scans/{scan}/trials"),
    ("POST", "/scans/{scan}/trials/claim"),
    ("POST", "/trials/{trial}/claim"),
    ("POST", "/trials/{trial}/heartbeat"),
    ("POST", "/trials/{trial}/reports"),
    ("POST", "/trials/{trial}/checkpoints"),
    ("POST", "/trials/{trial}/complete"),
    ("POST", "/trials/{trial}/fail"),
    ("POST", "/scans"),
]
ALL_ROUTES = [
    *ROUTES_WITH_BODY,
    ("GET", "/scans/{scan}"),
    ("POST", "/scans/{scan}/cancel"),
    ("GET", "/scans/{scan}/trials"),
    ("GET", "/trials/{trial}"),
    ("POST", "/trials/{trial}/prune"),
]
VALID_BODIES: dict[str, Any] = {
    "/scans/{scan}/extend": {"max_run": 50},
    "/scans/{scan}/trials": {"params": {"a": 1}},
    "/scans/{scan}/trials/claim": {"worker_id": "w"},
    "/trials/{trial}/claim": {"worker_id": "w"},
    "/trials/{trial}/heartbeat": {"worker_id": "w", "attempt": 1},
    "/trials/{trial}/reports": {"metric": "loss", "step": 1, "value": 0.1},
    "/trials/{trial}/checkpoints": {"step": 1, "uri": "file:///c"},
    "/trials/{trial}/complete": {"value": 0.1},
    "/trials/{trial}/fail": {"reason": "boom"},
    "/trials/{trial}/prune": {},
    "/scans/{scan}/cancel": {},
}


def _path(template: str, scan: str, trial: str) -> str:
    return template.replace("{scan}", scan).replace("{trial}", trial)


@pytest.mark.parametrize("method, route", ROUTES_WITH_BODY)
@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b'{"unexpected": true}', b'{"step": "x", "value": []}']
)
def test_bad_bodies_get_400_with_a_code_and_message(
    local_api: LocalServer, scan_id: str, method: str, route: str, raw: bytes
) -> None:
    trial = f"{scan_id}-0000000000000000"
    status, body = call(local_api, method, _path(route, scan_id, trial), raw=raw)
    assert 400 <= status < 500, body
    assert body["error"]["code"] and body["error"]["message"]


@pytest.mark.parametrize("method, route", [r for r in ALL_ROUTES if r[1] != "/scans"])
@pytest.mark.parametrize("bad_id", ["nope", "sc0000000000", "sc0000000000-ffffffffffffffff"])
def test_unknown_ids_get_404_never_500(
    local_api: LocalServer, method: str, route: str, bad_id: str
) -> None:
    body = VALID_BODIES.get(route)
    status, answer = call(local_api, method, _path(route, bad_id, bad_id), body)
    assert status == 404, answer
    assert answer["error"]["code"] in ("scan_not_found", "trial_not_found")


def test_ids_of_another_owner_get_404(local_api: LocalServer, scan_id: str) -> None:
    status, trial = call(local_api, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"})
    assert status == 200
    other = local_api.tokens.create_token()
    for route in ("/trials/{trial}/complete", "/trials/{trial}/heartbeat"):
        status, body = call(local_api, "POST", _path(route, scan_id, trial["trial_id"]),
                            VALID_BODIES[route], token=other)  # fmt: skip
        assert status == 404 and body["error"]["code"] == "trial_not_found"


def test_domain_conflicts_map_to_409_and_410(local_api: LocalServer, scan_id: str) -> None:
    _, trial = call(local_api, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"})
    tid = trial["trial_id"]
    assert call(local_api, "POST", f"/trials/{tid}/complete", {"value": 1.0})[0] == 200
    status, body = call(local_api, "POST", f"/trials/{tid}/complete", {"value": 2.0})
    assert status == 409 and body["error"]["code"] == "trial_finished"
    status, body = call(local_api, "POST", f"/trials/{tid}/claim", {"worker_id": "w2"})
    assert status == 409
    call(local_api, "POST", f"/scans/{scan_id}/cancel")
    status, body = call(local_api, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"})
    assert status == 410 and body["error"]["code"] == "scan_finished"


def test_an_invalid_config_lists_its_field_paths(local_api: LocalServer) -> None:
    status, body = call(local_api, "POST", "/scans", {"name": "x", "config": {"strategy": "?"}})
    assert status == 400 and body["error"]["code"] == "invalid_config"
    assert {"strategy", "metric", "parameters"} <= {d["path"] for d in body["error"]["details"]}
    _, listing = call(local_api, "GET", "/scans")
    assert listing["scans"] == []


def test_unknown_routes_and_methods_get_json_errors(local_api: LocalServer) -> None:
    status, body = call(local_api, "GET", "/nowhere")
    assert status == 404 and body["error"]["code"] == "not_found"
