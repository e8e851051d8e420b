"""Per-trial worker tokens through the real local server (issue 14 item 9): what a trial
script holds reaches its own trial's routes only, and ends with its attempt."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from scanfleet.client import Client
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState
from scanfleet.runtime.agent import Agent
from scanfleet.tenancy import mint_trial_token

from tests.unit.api.routes import GRID


def call(
    server: LocalServer, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def started(server: LocalServer) -> tuple[str, str, list[str], str]:
    """A scan of the default token with two claimed trials; the first one's worker token."""
    owner = server.tokens.default_token
    status, summary = call(server, owner, "POST", "/scans", {"name": "w", "config": GRID})
    assert status == 201
    scan_id = summary["scan"]["scan_id"]
    trials = []
    for worker in ("w1", "w2"):
        status, trial = call(
            server, owner, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": worker}
        )
        assert status == 200
        trials.append(trial["trial_id"])
    body = {"worker_id": "w1", "attempt": 1}
    status, minted = call(server, owner, "POST", f"/trials/{trials[0]}/worker-token", body)
    assert status == 200, minted
    assert minted["trial_id"] == trials[0] and minted["token"].startswith("sft_")
    return owner, scan_id, trials, minted["token"]


def test_a_worker_token_runs_its_own_trial(local_api: LocalServer) -> None:
    _, _, [trial, _], token = started(local_api)
    assert call(local_api, token, "GET", f"/trials/{trial}")[0] == 200
    assert (
        call(
            local_api,
            token,
            "POST",
            f"/trials/{trial}/heartbeat",
            {"worker_id": "w1", "attempt": 1},
        )[0]
        == 200
    )
    report = {"metric": "loss", "step": 0, "value": 1.5}
    assert call(local_api, token, "POST", f"/trials/{trial}/reports", report)[0] == 200
    assert call(local_api, token, "POST", f"/trials/{trial}/checkpoints", {"step": 0, "uri": "x"})[
        0
    ] in (200, 400)
    status, done = call(
        local_api, token, "POST", f"/trials/{trial}/complete", {"value": 0.5, "attempt": 1}
    )
    assert status == 200 and done["state"] == "COMPLETED"


def test_a_worker_token_cannot_list_delete_or_touch_another_trial(local_api: LocalServer) -> None:
    owner, scan_id, [_, other], token = started(local_api)
    refused = [
        ("GET", "/scans", None),
        ("POST", "/scans", {"name": "x", "config": GRID}),
        ("GET", f"/scans/{scan_id}", None),
        ("DELETE", f"/scans/{scan_id}", None),
        ("POST", f"/scans/{scan_id}/cancel", None),
        ("GET", f"/scans/{scan_id}/trials", None),
        ("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "script"}),
        ("GET", f"/trials/{other}", None),
        ("POST", f"/trials/{other}/complete", {"value": 0.1, "attempt": 1}),
        ("POST", f"/trials/{other}/fail", {"reason": "x", "attempt": 1}),
        ("POST", f"/trials/{other}/worker-token", {"worker_id": "w2", "attempt": 1}),
    ]
    for method, path, body in refused:
        status, answer = call(local_api, token, method, path, body)
        assert status == 403, (method, path, status, answer)
        assert answer["error"]["code"] == "forbidden"
    assert call(local_api, owner, "GET", f"/scans/{scan_id}")[0] == 200  # nothing changed
    status, trial = call(local_api, owner, "GET", f"/trials/{other}")
    assert status == 200 and trial["state"] == "RUNNING"


def test_a_worker_token_ends_with_its_attempt(local_api: LocalServer) -> None:
    """Finished: it can only read its record (so a retried complete sees it landed);
    re-queued or taken by another attempt: nothing at all."""
    owner, _, [trial, other], token = started(local_api)
    done = {"value": 0.5, "attempt": 1}
    assert call(local_api, owner, "POST", f"/trials/{trial}/complete", done)[0] == 200
    assert call(local_api, token, "GET", f"/trials/{trial}")[0] == 200
    for method, path, body in [
        ("POST", f"/trials/{trial}/reports", {"metric": "loss", "step": 1, "value": 1.0}),
        ("POST", f"/trials/{trial}/heartbeat", {"worker_id": "w1", "attempt": 1}),
        ("POST", f"/trials/{trial}/tags", {"tags": {"a": "b"}}),
        ("POST", f"/trials/{trial}/fail", {"reason": "x", "attempt": 1}),
    ]:
        status, answer = call(local_api, token, method, path, body)
        assert status == 409 and answer["error"]["code"] == "trial_finished", answer
    # the other trial's attempt 1 goes back to the queue: its token is dead for good
    body = {"worker_id": "w2", "attempt": 1}
    status, minted = call(local_api, owner, "POST", f"/trials/{other}/worker-token", body)
    requeue = {"reason": "spot", "attempt": 1, "preempted": True}
    assert call(local_api, owner, "POST", f"/trials/{other}/fail", requeue)[0] == 200
    for method, path in [("GET", f"/trials/{other}"), ("POST", f"/trials/{other}/tags")]:
        answer = call(
            local_api,
            minted["token"],
            method,
            path,
            {"tags": {"a": "b"}} if method == "POST" else None,
        )
        assert answer[0] == 403 and "has ended" in answer[1]["error"]["message"], answer


def test_forged_and_expired_worker_tokens_are_unauthorized(local_api: LocalServer) -> None:
    _, _, [trial, _], token = started(local_api)
    key = local_api.tokens.trial_key
    expired = mint_trial_token(key, trial, 1, time.time() - 1)
    forged = mint_trial_token(b"another server's key", trial, 1, time.time() + 3600)
    for bad in (expired, forged, token[:-1] + ("0" if token[-1] != "0" else "1")):
        status, answer = call(local_api, bad, "GET", f"/trials/{trial}")
        assert status == 401, answer


def test_only_the_attempts_holder_gets_a_worker_token(local_api: LocalServer) -> None:
    owner, _, [trial, _], _ = started(local_api)
    for body in ({"worker_id": "w2", "attempt": 1}, {"worker_id": "w1", "attempt": 2}):
        status, answer = call(local_api, owner, "POST", f"/trials/{trial}/worker-token", body)
        assert status == 409 and answer["error"]["code"] == "lease_lost"
    stranger = local_api.tokens.create_token()
    body = {"worker_id": "w1", "attempt": 1}
    assert call(local_api, stranger, "POST", f"/trials/{trial}/worker-token", body)[0] == 404


PROBE = """
import json, os, urllib.error, urllib.request
import scanfleet

def status(method, path):
    request = urllib.request.Request(os.environ["SCANFLEET_API_URL"] + path, method=method)
    request.add_header("Authorization", "Bearer " + os.environ["SCANFLEET_TOKEN"])
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code

trial = scanfleet.current_trial()
scan = os.environ["SCANFLEET_SCAN_ID"]
seen = {"list": status("GET", "/scans"), "delete": status("DELETE", "/scans/" + scan),
        "token": os.environ["SCANFLEET_TOKEN"][:4]}
with open(os.environ["PROBE_OUT"], "a") as out:
    out.write(json.dumps(seen) + "\\n")
trial.report("loss", trial.params["x"], step=1)
"""


def test_the_agent_gives_the_script_its_trials_token_not_the_owners(
    client: Client, local_api: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "probe.py").write_text(PROBE)
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe.jsonl"))
    config = {"script": "probe.py", "strategy": "grid", "metric": {"name": "loss"},
              "parameters": {"x": {"values": [1, 2]}}}  # fmt: skip
    scan = client.create_scan("probe", config)
    agent = Agent(client, scan.id, logs_dir=tmp_path / "logs", workdir=project)
    agent.poll_interval = 0.05
    worker = threading.Thread(target=agent.run)  # not the main thread: no signal handlers
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    seen = [json.loads(line) for line in (tmp_path / "probe.jsonl").read_text().splitlines()]
    assert seen == [{"list": 403, "delete": 403, "token": "sft_"}] * 2
    trials = client.get_scan(scan.id).trials()
    assert sorted(t.state for t in trials) == [TrialState.COMPLETED] * 2  # reports went through
