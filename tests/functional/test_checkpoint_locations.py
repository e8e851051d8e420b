"""The checkpoint-copy attack through the real local server (issue 14 item 1): a PBT
trial may record only a checkpoint inside ``<state>/checkpoints/<scan>/<trial>/``; the
next generation's claim copies only from there, whatever an older record says."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from scanfleet.local.server import LocalServer
from scanfleet.records import Checkpoint

PBT = {
    "strategy": "pbt",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0}},
    "pbt": {"population_size": 2, "generation_steps": 5, "max_generations": 2, "seed": 3},
}


def call(server: LocalServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {server.tokens.default_token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def generation_zero(server: LocalServer) -> tuple[str, list[str]]:
    status, created = call(server, "POST", "/scans", {"name": "pbt", "config": PBT})
    assert status == 201, created
    scan_id = created["scan"]["scan_id"]
    trials = []
    for worker in ("w1", "w2"):
        status, trial = call(
            server, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": worker}
        )
        assert status == 200, trial
        trials.append(trial["trial_id"])
    return scan_id, trials


def a_victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"  # outside the state dir, as a system folder would be
    victim.mkdir()
    (victim / "secret.key").write_text("secret")
    return victim


def finish_and_claim_the_child(server: LocalServer, trials: list[str]) -> dict[str, Any]:
    for loss, trial in enumerate(trials):
        status, _ = call(server, "POST", f"/trials/{trial}/complete", {"value": float(loss)})
        assert status == 200
    claim = {"worker_id": "w3"}
    status, child = call(server, "POST", f"/scans/{child_scan(trials)}/trials/claim", claim)
    assert status == 200 and child["lineage"]["generation"] == 1, child
    return child


def child_scan(trials: list[str]) -> str:
    return trials[0].rpartition("-")[0]


def test_a_checkpoint_outside_the_trials_folder_is_refused_with_400_naming_uri(
    local_api: LocalServer, tmp_path: Path
) -> None:
    victim = a_victim(tmp_path)
    scan_id, trials = generation_zero(local_api)
    root = tmp_path / "state" / "checkpoints"
    for uri in (
        str(victim),
        victim.as_uri(),
        "/etc",
        f"{root}/{scan_id}/{trials[0]}/../{trials[1]}/step-5",  # another trial, through ..
        f"{root}/{scan_id}/{trials[1]}/step-5",  # another trial's folder
        f"s3://bucket/checkpoints/{scan_id}/{trials[0]}/step-5",  # no S3 root here
    ):
        status, body = call(
            local_api, "POST", f"/trials/{trials[0]}/checkpoints", {"step": 5, "uri": uri}
        )
        assert status == 400, (uri, body)
        assert body["error"]["code"] == "invalid_request" and body["error"]["message"].startswith(
            "uri: "
        )
    status, trial = call(local_api, "GET", f"/trials/{trials[0]}")
    assert status == 200 and trial["checkpoint"] is None
    child = finish_and_claim_the_child(local_api, trials)
    assert child["checkpoint"] is None
    assert sorted(p.name for p in tmp_path.iterdir() if "victim" in p.name) == ["victim"]


def test_the_child_copies_only_a_contained_checkpoint(
    local_api: LocalServer, tmp_path: Path
) -> None:
    scan_id, trials = generation_zero(local_api)
    root = tmp_path / "state" / "checkpoints"
    for trial in trials:
        saved = root / scan_id / trial / "step-0000000005-a1"
        saved.mkdir(parents=True)
        (saved / "weights.bin").write_text(trial)
        status, body = call(
            local_api, "POST", f"/trials/{trial}/checkpoints", {"step": 5, "uri": saved.as_uri()}
        )
        assert status == 200, body
    child = finish_and_claim_the_child(local_api, trials)
    parent = child["lineage"]["parent_trial_id"]
    copy = root / scan_id / child["trial_id"] / "step-0000000005-a1"
    assert child["checkpoint"] == {"step": 5, "uri": copy.as_uri()}
    assert (copy / "weights.bin").read_text() == parent


def test_a_record_made_before_the_rule_is_not_copied(
    local_api: LocalServer, tmp_path: Path
) -> None:
    victim = a_victim(tmp_path)
    _, trials = generation_zero(local_api)
    for trial in trials:  # as a store written before the fix may hold it
        local_api.service.store.record_checkpoint(trial, Checkpoint(step=5, uri=str(victim)))
    child = finish_and_claim_the_child(local_api, trials)
    assert child["checkpoint"] is None  # starts from scratch
    assert sorted(p.name for p in tmp_path.iterdir() if "victim" in p.name) == ["victim"]
