"""The HTTP API through the real local server on loopback, with urllib: every route, good
and bad input, tokens and owners."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scanfleet.local.auth import TokenStore
from scanfleet.local.server import MAX_BODY_BYTES, LocalServer, open_local_service

from tests.unit.api.routes import (
    BAD_QUERIES,
    GRID,
    ROUTES,
    UNKNOWN_SCAN_IDS,
    UNKNOWN_TRIAL_IDS,
    WITH_BODY,
    WITH_IDS,
    BadBody,
    Route,
    bad_bodies,
)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str:
        return str(self.body["error"]["code"])


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            text = resp.read()
            status, answer_headers = resp.status, dict(resp.headers.items())
    except urllib.error.HTTPError as err:
        text, status, answer_headers = err.read(), err.code, dict(err.headers.items())
    return Answer(status, json.loads(text) if text else None, answer_headers)


class Caller:
    """One token's view of the server."""

    def __init__(self, server: LocalServer, token: str | None) -> None:
        self.server = server
        self.token = token

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> Answer:
        return call(self.server.url, method, path, body, token=self.token, **kw)

    def create_scan(self, config: dict[str, Any] | None = None, name: str = "g") -> str:
        answer = self("POST", "/scans", {"name": name, "config": config or GRID})
        assert answer.status == 201, answer.body
        return str(answer.body["scan"]["scan_id"])

    def claim(self, scan_id: str, worker: str = "w1") -> Any:
        answer = self("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": worker})
        assert answer.status == 200, answer.body
        return answer.body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One real server for the module; each test calls it with its own token (owner)."""
    state = tmp_path_factory.mktemp("state")
    with LocalServer(open_local_service(state), TokenStore(state)) as running:
        yield running


@pytest.fixture
def api(server: LocalServer) -> Caller:
    return Caller(server, server.tokens.create_token())


@pytest.fixture
def ids(api: Caller) -> dict[str, str]:
    scan_id = api.create_scan()
    return {"scan": scan_id, "trial": api.claim(scan_id)["trial_id"]}


def assert_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    error = answer.body["error"]
    assert error["code"] == code and error["message"]
    return dict(error)


# ---- happy paths -----------------------------------------------------------------------------


def test_a_grid_scan_runs_to_completion_through_claim_200_204_410(api: Caller) -> None:
    scan_id = api.create_scan()
    trials = [api.claim(scan_id, "w1"), api.claim(scan_id, "w2")]
    busy = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w3"})
    assert (busy.status, busy.body) == (204, None)
    for trial in trials:
        tid, worker = trial["trial_id"], trial["worker_id"]
        beat = api("POST", f"/trials/{tid}/heartbeat", {"worker_id": worker, "attempt": 1})
        assert beat.status == 200 and beat.body["state"] == "RUNNING"
        decision = api(
            "POST", f"/trials/{tid}/reports", {"metric": "loss", "step": 1, "value": 0.5}
        )
        assert decision.status == 200 and decision.body["prune"] is False
        ckpt = api.server.tokens.path.parent / "checkpoints" / scan_id / tid / "c"  # state dir
        saved = api("POST", f"/trials/{tid}/checkpoints", {"step": 1, "uri": ckpt.as_uri()})
        assert saved.status == 200 and saved.body["checkpoint"]["step"] == 1
        done = api(
            "POST", f"/trials/{tid}/complete", {"value": trial["params"]["a"] / 10, "attempt": 1}
        )
        assert done.status == 200 and done.body["state"] == "COMPLETED"
    gone = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w3"})
    assert gone.status == 410 and gone.code == "scan_finished"
    summary = api("GET", f"/scans/{scan_id}").body
    assert summary["scan"]["status"] == "COMPLETED"
    assert summary["counts"]["COMPLETED"] == 2 and summary["best_trial"]["params"]["a"] == 1
    listing = api("GET", f"/scans/{scan_id}/trials?state=COMPLETED")
    assert listing.status == 200 and len(listing.body["trials"]) == 2


def test_scan_routes_create_list_show_extend_and_cancel(api: Caller) -> None:
    created = api("POST", "/scans", {"name": "sweep", "config": {**GRID, "max_run": 1}})
    assert created.status == 201
    scan_id = created.body["scan"]["scan_id"]
    assert api("GET", f"/scans/{scan_id}").body == created.body
    assert [s["scan_id"] for s in api("GET", "/scans?status=RUNNING").body["scans"]] == [scan_id]
    extended = api("POST", f"/scans/{scan_id}/extend", {"max_run": 2})
    assert extended.status == 200 and extended.body["scan"]["max_run"] == 2
    cancelled = api("POST", f"/scans/{scan_id}/cancel")
    assert cancelled.status == 200 and cancelled.body["scan"]["status"] == "CANCELLED"
    assert api("GET", "/scans?status=RUNNING").body["scans"] == []


def test_post_scans_honours_the_idempotency_key(api: Caller) -> None:
    key = {"Idempotency-Key": "k-123"}
    first = api("POST", "/scans", {"name": "g", "config": GRID}, headers=key)
    again = api("POST", "/scans", {"name": "g", "config": GRID}, headers=key)
    other = api("POST", "/scans", {"name": "g", "config": GRID}, headers={"Idempotency-Key": "k-2"})
    assert (first.status, again.status, other.status) == (201, 200, 201)
    assert first.body["scan"]["scan_id"] == again.body["scan"]["scan_id"]
    assert other.body["scan"]["scan_id"] != first.body["scan"]["scan_id"]
    assert len(api("GET", "/scans").body["scans"]) == 2


def test_trial_routes_add_show_claim_by_id_prune_and_fail(api: Caller) -> None:
    scan_id = api.create_scan()
    added = api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 2}})
    assert added.status == 201 and added.body["state"] == "QUEUED"
    assert api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 2}}).status == 200
    tid = added.body["trial_id"]
    assert api("GET", f"/trials/{tid}").body == added.body
    mine = api("POST", f"/trials/{tid}/claim", {"worker_id": "w1"})
    assert mine.status == 200 and mine.body["worker_id"] == "w1"
    theirs = api("POST", f"/trials/{tid}/claim", {"worker_id": "w2"})
    assert theirs.status == 409 and theirs.code == "already_claimed"
    pruned = api("POST", f"/trials/{tid}/prune")
    assert pruned.status == 200 and pruned.body["state"] == "PRUNED"
    other = api.claim(scan_id)
    failed = api("POST", f"/trials/{other['trial_id']}/fail", {"reason": "oom", "retry": False})
    assert failed.status == 200 and failed.body["state"] == "FAILED"


def test_health_needs_no_token_and_the_openapi_document_lists_the_routes(
    server: LocalServer, api: Caller
) -> None:
    health = call(server.url, "GET", "/health", token=None)
    assert (health.status, health.body) == (200, {"status": "ok"})
    doc = api("GET", "/openapi.json")
    assert doc.status == 200 and doc.body["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in doc.body["paths"].items() for m in ops}
    for route in ROUTES:
        path = route.template.replace("{scan}", "{scan_id}").replace("{trial}", "{trial_id}")
        assert (route.method, path) in listed


# ---- tokens and owners -------------------------------------------------------------------------


@pytest.mark.parametrize("route", [*ROUTES, Route("GET", "/openapi.json")], ids=lambda r: r.name)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer sf_not-a-token", "Basic dXNlcjpwYXNz", "Bearer", "sf_raw"]
)
def test_a_request_without_a_valid_token_gets_401(
    server: LocalServer, ids: dict[str, str], route: Route, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = call(
        server.url, route.method, route.path(**ids), route.body, token=None, headers=headers
    )
    assert_error(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_scan_under_one_token_is_invisible_under_another(
    server: LocalServer, api: Caller, ids: dict[str, str]
) -> None:
    other = Caller(server, server.tokens.create_token())
    assert_error(other("GET", f"/scans/{ids['scan']}"), 404, "scan_not_found")
    assert other("GET", "/scans").body["scans"] == []
    assert api("GET", f"/scans/{ids['scan']}").status == 200


@pytest.mark.parametrize("route", WITH_IDS, ids=lambda r: r.name)
def test_ids_of_another_token_get_404_on_every_route(
    server: LocalServer, api: Caller, ids: dict[str, str], route: Route
) -> None:
    other = Caller(server, server.tokens.create_token())
    answer = other(route.method, route.path(**ids), route.body)
    assert_error(answer, 404, "trial_not_found" if route.takes_trial_id else "scan_not_found")
    assert api("GET", f"/trials/{ids['trial']}").body["state"] == "RUNNING"


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", bad_bodies(), ids=lambda c: c.id)
def test_a_bad_body_gets_400_with_a_code_message_and_field_path(
    api: Caller, ids: dict[str, str], case: BadBody
) -> None:
    answer = api(case.route.method, case.route.path(**ids), raw=case.raw)
    error = assert_error(answer, 400, "invalid_request")
    assert any(p["path"].startswith(case.path) for p in error["details"]), error


@pytest.mark.parametrize("target, path", BAD_QUERIES)
def test_a_bad_query_gets_400_naming_the_parameter(
    api: Caller, ids: dict[str, str], target: str, path: str
) -> None:
    error = assert_error(api("GET", target.replace("{scan}", ids["scan"])), 400, "invalid_request")
    assert [p["path"] for p in error["details"]] == [path]


def _unknown_id_cases() -> list[tuple[Route, str]]:
    return [
        (route, bad)
        for route in WITH_IDS
        for bad in (UNKNOWN_TRIAL_IDS if route.takes_trial_id else UNKNOWN_SCAN_IDS)
    ]


@pytest.mark.parametrize(
    "route, bad_id", _unknown_id_cases(), ids=lambda v: v.name if isinstance(v, Route) else v[:40]
)
def test_an_unknown_id_gets_404_never_500(
    api: Caller, ids: dict[str, str], route: Route, bad_id: str
) -> None:
    bad_id = bad_id.replace("{scan}", ids["scan"])
    answer = api(route.method, route.path(scan=bad_id, trial=bad_id), route.body)
    assert_error(answer, 404, "trial_not_found" if route.takes_trial_id else "scan_not_found")


def test_an_invalid_config_lists_its_field_paths(api: Caller) -> None:
    answer = api("POST", "/scans", {"name": "x", "config": {"strategy": "?"}})
    error = assert_error(answer, 400, "invalid_config")
    assert {"strategy", "metric", "parameters"} <= {d["path"] for d in error["details"]}
    assert api("GET", "/scans").body["scans"] == []


def test_unknown_routes_get_404_and_wrong_methods_405_as_json(api: Caller) -> None:
    assert_error(api("GET", "/nowhere"), 404, "not_found")
    wrong = api("DELETE", "/scans")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["Allow"] == "GET, POST"


def test_a_body_that_is_not_json_gets_415(api: Caller, ids: dict[str, str]) -> None:
    answer = api(
        "POST",
        f"/scans/{ids['scan']}/trials/claim",
        raw=b"worker_id=w",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(answer, 415, "unsupported_media_type")


def test_a_body_that_is_not_utf8_gets_400_not_500(api: Caller, ids: dict[str, str]) -> None:
    answer = api("POST", f"/scans/{ids['scan']}/trials/claim", raw=b'{"worker_id": "\xff\xfe"}')
    assert_error(answer, 400, "invalid_request")


@pytest.mark.parametrize("depth", [65, 1000, 5000])
def test_json_nested_too_deep_gets_400_naming_the_body_not_500(api: Caller, depth: int) -> None:
    raw = b'{"name": "deep", "config": ' + b"[" * depth + b"]" * depth + b"}"
    error = assert_error(api("POST", "/scans", raw=raw), 400, "invalid_request")
    assert "nested more than 64 levels" in error["message"]
    assert error["details"] == [{"path": "body", "message": error["message"].split(": ", 1)[1]}]


def test_json_nested_64_deep_or_brackets_inside_strings_are_parsed(api: Caller) -> None:
    nested: Any = 1
    for _ in range(60):
        nested = [nested]
    answer = api("POST", "/scans", {"name": "fine", "config": {**GRID, "tags": {"t": "[" * 1000}}})
    assert answer.status == 201, answer.body
    answer = api("POST", "/scans", {"name": "fine", "config": {**GRID, "notes": nested}})
    assert answer.status == 400 and "unknown key 'notes'" in answer.body["error"]["message"]


@pytest.mark.parametrize(
    "script", ["a\0b.py", "x" * 256 + ".py", "é" * 128 + ".py", "..", "dir/.."]
)
def test_a_bad_script_name_gets_400_and_leaves_nothing_on_disk(
    server: LocalServer, api: Caller, script: str
) -> None:
    inputs = Path(server.service.inputs.root)  # type: ignore[union-attr]
    before = set(inputs.iterdir()) if inputs.exists() else set()
    body = {"name": "s", "config": {**GRID, "script": script}, "script_content": "print(1)"}
    assert_error(api("POST", "/scans", body), 400, "invalid_request")
    after = set(inputs.iterdir()) if inputs.exists() else set()
    assert after == before


def test_a_script_name_of_255_bytes_is_stored(server: LocalServer, api: Caller) -> None:
    name = "s" * 252 + ".py"
    body = {"name": "s", "config": {**GRID, "script": name}, "script_content": "print(1)"}
    answer = api("POST", "/scans", body)
    assert answer.status == 201, answer.body
    assert answer.body["scan"]["config"]["script"].endswith("/" + name)


@pytest.mark.parametrize(
    ("method", "path", "token"),
    [("TRACE", "/scans", True), ("PATCH", "/scans", True), ("TRACE", "/health", False)],
)
def test_methods_not_routed_get_405_as_json(
    api: Caller, method: str, path: str, token: bool
) -> None:
    answer = call(api.server.url, method, path, token=api.token if token else None)
    error = assert_error(answer, 405, "method_not_allowed")
    assert method in error["message"] and "Allow" in answer.headers


def test_a_body_over_the_limit_gets_413(server: LocalServer, api: Caller) -> None:
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    conn.putrequest("POST", "/scans")
    conn.putheader("Authorization", f"Bearer {api.token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    conn.endheaders()  # the body never comes: the server answers from the headers
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 413 and body["error"]["code"] == "payload_too_large"


def test_a_chunked_body_is_read_whole(server: LocalServer, api: Caller) -> None:
    payload = json.dumps({"name": "chunked", "config": GRID}).encode()
    chunks = iter([payload[:10], payload[10:]])
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    conn.request(
        "POST",
        "/scans",
        body=chunks,
        encode_chunked=True,
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 201 and body["scan"]["name"] == "chunked"


# ---- concurrency ------------------------------------------------------------------------------


def test_concurrent_workers_each_get_their_own_answers_and_no_trial_twice(api: Caller) -> None:
    scan_id = api.create_scan({**GRID, "parameters": {"a": {"values": list(range(24))}}})
    claimed: list[str] = []
    mixups: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            answer = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": name})
            if answer.status != 200:
                return
            trial = answer.body
            if trial["worker_id"] != name or trial["scan_id"] != scan_id:
                mixups.append(f"{name} got {trial}")
            with lock:
                claimed.append(trial["trial_id"])
            done = api("POST", f"/trials/{trial['trial_id']}/complete", {"value": 1.0})
            if done.body["trial_id"] != trial["trial_id"]:
                mixups.append(f"{name} completed {trial['trial_id']}, got {done.body}")

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert mixups == []
    assert len(claimed) == len(set(claimed)) == 24


# ---- the server itself -------------------------------------------------------------------------


def test_the_server_stops_cleanly_started_or_not(tmp_path: Path) -> None:
    never = LocalServer(open_local_service(tmp_path), TokenStore(tmp_path))
    never.stop()
    never.stop()
    with LocalServer(open_local_service(tmp_path), TokenStore(tmp_path)) as running:
        url = running.url
        assert call(url, "GET", "/health", token=None).status == 200
    running.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=5)


def test_serve_forever_serves_until_stop_is_called_from_another_thread(tmp_path: Path) -> None:
    server = LocalServer(open_local_service(tmp_path), TokenStore(tmp_path), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        answer = call(server.url, "GET", "/scans", token=server.tokens.default_token)
        assert (answer.status, answer.body) == (200, {"scans": []})
    finally:
        server.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_every_route_with_a_body_is_covered_by_the_bad_body_cases() -> None:
    assert {case.route.name for case in bad_bodies()} == {route.name for route in WITH_BODY}
