"""Every route's happy path, through the resolver with API Gateway events."""

from __future__ import annotations

import json
from typing import Any

from scanfleet.api._models import (
    CURVE_PAGE_POINTS,
    PAGE_LIMIT,
    IntermediateValues,
    dump,
)

from tests.unit.api.conftest import Api, gateway_event
from tests.unit.api.routes import GRID, ROUTES

ONE_CELL = {**GRID, "parameters": {"a": {"value": 1}}}


def claim(api: Api, scan_id: str, worker: str = "w1") -> Any:
    answer = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": worker})
    assert answer.status == 200, answer.body
    return answer.body


# ---- scans -------------------------------------------------------------------------------


def test_post_scans_creates_a_scan_and_answers_201_with_its_summary(api: Api) -> None:
    answer = api("POST", "/scans", {"name": "lr-sweep", "config": GRID})
    assert answer.status == 201
    assert answer.headers["Content-Type"] == "application/json"
    summary = answer.body
    assert summary["scan"]["name"] == "lr-sweep"
    assert summary["scan"]["owner"] == api.owner
    assert summary["scan"]["status"] == "RUNNING"
    assert summary["planned_trials"] == 2
    assert summary["best_trial"] is None
    assert set(summary["counts"]) == {"QUEUED", "RUNNING", "COMPLETED", "PRUNED", "FAILED"}


def test_post_scans_replayed_with_its_idempotency_key_answers_200_with_the_same_scan(
    api: Api,
) -> None:
    key = {"Idempotency-Key": "3b1f0c9e-key"}
    first = api("POST", "/scans", {"name": "g", "config": GRID}, headers=key)
    again = api("POST", "/scans", {"name": "g", "config": GRID}, headers=key)
    assert (first.status, again.status) == (201, 200)
    assert again.body["scan"]["scan_id"] == first.body["scan"]["scan_id"]
    assert len(api("GET", "/scans").body["scans"]) == 1


def test_the_idempotency_key_is_read_whatever_the_header_case(api: Api) -> None:
    first = api("POST", "/scans", {"name": "g", "config": GRID}, headers={"idempotency-key": "k"})
    again = api("POST", "/scans", {"name": "g", "config": GRID}, headers={"IDEMPOTENCY-KEY": "k"})
    assert (first.status, again.status) == (201, 200)


def test_the_same_idempotency_key_of_another_owner_creates_another_scan(api: Api) -> None:
    key = {"Idempotency-Key": "shared-key"}
    mine = api("POST", "/scans", {"name": "g", "config": GRID}, headers=key)
    theirs = api.as_owner("tok-someone-else")(
        "POST", "/scans", {"name": "g", "config": GRID}, headers=key
    )
    assert (mine.status, theirs.status) == (201, 201)
    assert mine.body["scan"]["scan_id"] != theirs.body["scan"]["scan_id"]


def test_get_scans_lists_the_callers_scans_filtered_by_status_and_tag(api: Api) -> None:
    api.create_scan({**GRID, "tags": {"team": "vision"}}, name="tagged")
    plain = api.create_scan(name="plain")
    api.as_owner("tok-other")("POST", "/scans", {"name": "theirs", "config": GRID})
    assert api("POST", f"/scans/{plain}/cancel").status == 200

    def names(query: str) -> list[str]:
        answer = api("GET", f"/scans{query}")
        assert answer.status == 200, answer.body
        return sorted(s["name"] for s in answer.body["scans"])

    assert names("") == ["plain", "tagged"]
    assert names("?status=CANCELLED") == ["plain"]
    assert names("?status=RUNNING") == ["tagged"]
    assert names("?tag=team:vision") == ["tagged"]
    assert names("?tag=team:audio") == []


def test_get_scan_answers_its_summary_with_counts_and_best_trial(api: Api) -> None:
    scan_id = api.create_scan()
    trial = claim(api, scan_id)
    api("POST", f"/trials/{trial['trial_id']}/complete", {"value": 0.25})
    summary = api("GET", f"/scans/{scan_id}").body
    assert summary["counts"]["COMPLETED"] == 1
    assert summary["best_trial"]["trial_id"] == trial["trial_id"]
    assert summary["best_trial"]["values"] == {"loss": 0.25}


def test_cancel_answers_the_cancelled_summary_and_is_harmless_twice(api: Api) -> None:
    scan_id = api.create_scan()
    running = claim(api, scan_id)
    first = api("POST", f"/scans/{scan_id}/cancel")
    again = api("POST", f"/scans/{scan_id}/cancel")
    assert (first.status, again.status) == (200, 200)
    assert again.body["scan"]["status"] == "CANCELLED"
    assert api("GET", f"/trials/{running['trial_id']}").body["state"] == "FAILED"


def test_extend_raises_max_run_and_a_completed_scan_runs_again(api: Api) -> None:
    scan_id = api.create_scan({**GRID, "max_run": 1})
    trial = claim(api, scan_id)
    api("POST", f"/trials/{trial['trial_id']}/complete", {"value": 1.0})
    assert api("GET", f"/scans/{scan_id}").body["scan"]["status"] == "COMPLETED"
    answer = api("POST", f"/scans/{scan_id}/extend", {"max_run": 2})
    assert answer.status == 200
    assert answer.body["scan"]["max_run"] == 2 and answer.body["scan"]["status"] == "RUNNING"
    assert claim(api, scan_id)["params"]["a"] == 2


# ---- the trials of a scan ----------------------------------------------------------------------


def test_get_trials_lists_a_scans_trials_filtered_by_state(api: Api) -> None:
    scan_id = api.create_scan()
    first = claim(api, scan_id)
    claim(api, scan_id)
    api("POST", f"/trials/{first['trial_id']}/complete", {"value": 1.0})
    every = api("GET", f"/scans/{scan_id}/trials").body["trials"]
    done = api("GET", f"/scans/{scan_id}/trials?state=COMPLETED").body["trials"]
    assert len(every) == 2
    assert [t["trial_id"] for t in done] == [first["trial_id"]]


def test_get_trials_answers_pages_that_follow_next_after_to_the_last(api: Api) -> None:
    scan_id = api.create_scan({**GRID, "parameters": {"a": {"values": [1, 2, 3, 4, 5]}}})
    for _ in range(5):
        claim(api, scan_id)
    numbers, after, pages = [], -1, 0
    while after is not None:
        page = api("GET", f"/scans/{scan_id}/trials?limit=2&after={after}").body
        numbers += [t["number"] for t in page["trials"]]
        after, pages = page["next_after"], pages + 1
    assert numbers == [0, 1, 2, 3, 4] and pages == 3
    assert api("GET", f"/scans/{scan_id}/trials").body["next_after"] is None


def test_intermediate_values_answers_the_curves_of_the_scans_metric_by_trial(api: Api) -> None:
    scan_id = api.create_scan()
    first, second = claim(api, scan_id), claim(api, scan_id)
    for trial, step, value in ((first, 1, 0.9), (first, 2, 0.5), (second, 1, 0.7)):
        body = {"metric": "loss", "step": step, "value": value}
        assert api("POST", f"/trials/{trial['trial_id']}/reports", body).status == 200
    api("POST", f"/trials/{first['trial_id']}/complete", {"value": 0.5})
    every = api("GET", f"/scans/{scan_id}/intermediate-values").body
    assert every == {
        "metric": "loss",
        "trials": {first["trial_id"]: {"1": 0.9, "2": 0.5}, second["trial_id"]: {"1": 0.7}},
        "next_after": None,
    }
    running = api("GET", f"/scans/{scan_id}/intermediate-values?state=RUNNING").body["trials"]
    assert running == {second["trial_id"]: {"1": 0.7}}
    other = api("GET", f"/scans/{scan_id}/intermediate-values?metric=acc").body
    assert other == {"metric": "acc", "trials": {}, "next_after": None}


def test_intermediate_values_answers_pages_of_trials_that_follow_next_after_to_the_last(
    api: Api,
) -> None:
    scan_id = api.create_scan({**GRID, "parameters": {"a": {"values": [1, 2, 3, 4, 5]}}})
    trials = [claim(api, scan_id) for _ in range(5)]
    for number, trial in enumerate(trials):
        if number != 2:  # a trial without a curve still counts towards its page
            body = {"metric": "loss", "step": 1, "value": number / 10}
            assert api("POST", f"/trials/{trial['trial_id']}/reports", body).status == 200
    api("POST", f"/trials/{trials[4]['trial_id']}/complete", {"value": 0.4})

    def pages(query: str) -> list[tuple[list[str], int | None]]:
        got, after = [], -1
        while after is not None:
            target = f"/scans/{scan_id}/intermediate-values?{query}&after={after}"
            page = api("GET", target).body
            got.append((list(page["trials"]), page["next_after"]))
            after = page["next_after"]
        return got

    ids = [t["trial_id"] for t in trials]
    assert pages("limit=2") == [(ids[0:2], 1), ([ids[3]], 3), ([ids[4]], None)]
    assert pages("limit=2&state=RUNNING") == [(ids[0:2], 1), ([ids[3]], 3), ([], None)]
    first = api("GET", f"/scans/{scan_id}/intermediate-values?limit=2").body
    assert first["trials"] == {ids[0]: {"1": 0.0}, ids[1]: {"1": 0.1}}


def test_the_widest_page_of_curves_stays_far_below_lambdas_6_mb() -> None:
    widest_point = (2**53 - 1, -1.2345678901234567e-308)
    per_trial, extra = divmod(CURVE_PAGE_POINTS, PAGE_LIMIT)
    trials = {
        f"sc{'f' * 12}-{number:016x}": {
            widest_point[0] - step: widest_point[1] for step in range(per_trial + (number < extra))
        }
        for number in range(PAGE_LIMIT)
    }
    page = dump(IntermediateValues(metric="m" * 200, trials=trials, next_after=2**53 - 1))
    proxied = json.dumps({"statusCode": 200, "body": json.dumps(page)})  # as Lambda answers
    assert sum(map(len, trials.values())) == CURVE_PAGE_POINTS
    assert len(proxied.encode()) < 3_000_000


def test_post_trials_queues_a_trial_201_and_the_same_params_again_answer_200(api: Api) -> None:
    scan_id = api.create_scan()
    added = api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 2}, "tags": {"by": "hand"}})
    again = api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 2, "b": "x"}})
    assert (added.status, again.status) == (201, 200)
    assert added.body["state"] == "QUEUED" and added.body["tags"] == {"by": "hand"}
    assert added.body["params"] == {"a": 2, "b": "x"}  # the constant filled in
    assert again.body["trial_id"] == added.body["trial_id"]
    assert claim(api, scan_id)["trial_id"] == added.body["trial_id"]  # queued ones go first


def test_claim_answers_200_then_204_while_trials_run_then_410_once_finished(api: Api) -> None:
    scan_id = api.create_scan()
    trials = [claim(api, scan_id, "w1"), claim(api, scan_id, "w2")]
    assert {t["params"]["a"] for t in trials} == {1, 2}
    assert all(t["state"] == "RUNNING" and t["attempt"] == 1 for t in trials)
    busy = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w3"})
    assert (busy.status, busy.body) == (204, None)
    for trial in trials:
        done = api(
            "POST",
            f"/trials/{trial['trial_id']}/complete",
            {"value": trial["params"]["a"] / 10, "attempt": 1},
        )
        assert done.status == 200 and done.body["state"] == "COMPLETED"
    gone = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w3"})
    assert gone.status == 410 and gone.code == "scan_finished"
    summary = api("GET", f"/scans/{scan_id}").body
    assert summary["scan"]["status"] == "COMPLETED"
    assert summary["best_trial"]["params"]["a"] == 1


# ---- one trial -----------------------------------------------------------------------------


def test_get_trial_answers_the_trial(api: Api) -> None:
    trial = claim(api, api.create_scan())
    answer = api("GET", f"/trials/{trial['trial_id']}")
    assert answer.status == 200 and answer.body == trial


def test_claim_by_id_answers_200_then_409_already_claimed_for_another_worker(api: Api) -> None:
    scan_id = api.create_scan()
    queued = api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 1}}).body
    mine = api("POST", f"/trials/{queued['trial_id']}/claim", {"worker_id": "w1"})
    theirs = api("POST", f"/trials/{queued['trial_id']}/claim", {"worker_id": "w2"})
    assert mine.status == 200 and mine.body["worker_id"] == "w1"
    assert mine.body["state"] == "RUNNING"
    assert theirs.status == 409 and theirs.code == "already_claimed"
    assert queued["trial_id"] in theirs.body["error"]["message"]


def test_heartbeat_extends_the_lease_of_the_holder(api: Api, clock: Any) -> None:
    trial = claim(api, api.create_scan())
    clock.advance(30)
    answer = api(
        "POST", f"/trials/{trial['trial_id']}/heartbeat", {"worker_id": "w1", "attempt": 1}
    )
    assert answer.status == 200
    assert answer.body["lease_expires_at"] > trial["lease_expires_at"]


def test_reports_store_a_value_and_answer_the_prune_decision(api: Api) -> None:
    trial = claim(api, api.create_scan())
    answer = api(
        "POST", f"/trials/{trial['trial_id']}/reports", {"metric": "loss", "step": 3, "value": 0.7}
    )
    assert answer.status == 200
    assert answer.body == {"step": 3, "prune": False, "reason": "no early stopping configured"}


def test_checkpoints_record_the_last_checkpoint(api: Api) -> None:
    trial = claim(api, api.create_scan())
    uri = f"s3://bucket/checkpoints/{trial['scan_id']}/{trial['trial_id']}/step-5"
    answer = api("POST", f"/trials/{trial['trial_id']}/checkpoints", {"step": 5, "uri": uri})
    assert answer.status == 200
    assert answer.body["checkpoint"] == {"step": 5, "uri": uri}


def test_a_checkpoint_outside_the_trials_prefix_is_400_naming_uri(api: Api) -> None:
    trial = claim(api, api.create_scan())
    for uri in ("s3://bucket/ckpt/5", f"s3://other/checkpoints/{trial['scan_id']}/x/5"):
        answer = api("POST", f"/trials/{trial['trial_id']}/checkpoints", {"step": 5, "uri": uri})
        assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request"
        assert answer.body["error"]["details"][0]["path"] == "uri"


def test_complete_takes_every_metric_by_name(api: Api) -> None:
    trial = claim(api, api.create_scan())
    answer = api(
        "POST", f"/trials/{trial['trial_id']}/complete", {"values": {"loss": 0.1, "accuracy": 0.9}}
    )
    assert answer.status == 200
    assert answer.body["values"] == {"loss": 0.1, "accuracy": 0.9}


def test_prune_with_or_without_a_body_finishes_the_trial_as_pruned(api: Api) -> None:
    scan_id = api.create_scan()
    first, second = claim(api, scan_id), claim(api, scan_id)
    api("POST", f"/trials/{first['trial_id']}/reports", {"metric": "loss", "step": 1, "value": 2.0})
    bare = api("POST", f"/trials/{first['trial_id']}/prune")
    guarded = api("POST", f"/trials/{second['trial_id']}/prune", {"attempt": 1})
    assert (bare.status, guarded.status) == (200, 200)
    assert bare.body["state"] == guarded.body["state"] == "PRUNED"
    assert bare.body["values"] == {"loss": 2.0}  # its last reported value


def test_fail_requeues_while_the_budget_allows_and_fails_for_good_without_retry(
    api: Api,
) -> None:
    scan_id = api.create_scan(ONE_CELL)
    trial = claim(api, scan_id)
    tid = trial["trial_id"]
    preempted = api("POST", f"/trials/{tid}/fail", {"reason": "spot", "preempted": True})
    assert preempted.status == 200
    assert preempted.body["state"] == "QUEUED" and preempted.body["preemptions"] == 1
    claim(api, scan_id)
    errored = api("POST", f"/trials/{tid}/fail", {"reason": "exit 1", "attempt": 2})
    assert errored.body["state"] == "QUEUED" and errored.body["errors"] == 1
    claim(api, scan_id)
    final = api("POST", f"/trials/{tid}/fail", {"reason": "bad config", "retry": False})
    assert final.status == 200
    assert final.body["state"] == "FAILED" and final.body["failure_reason"] == "bad config"


# ---- around the routes ---------------------------------------------------------------------


def test_health_answers_ok_without_an_identity(api: Api) -> None:
    answer = api.as_owner(None)("GET", "/health")
    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_openapi_document_lists_every_route_and_no_422(api: Api) -> None:
    answer = api("GET", "/openapi.json")
    assert answer.status == 200
    doc = answer.body
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for route in ROUTES:
        path = route.template.replace("{scan}", "{scan_id}").replace("{trial}", "{trial_id}")
        assert (route.method, path) in listed
    assert ("GET", "/health") in listed
    statuses = {s for ops in doc["paths"].values() for op in ops.values() for s in op["responses"]}
    assert "422" not in statuses  # validation errors are 400 here
    claim_next = doc["paths"]["/scans/{scan_id}/trials/claim"]["post"]
    assert {"200", "204", "400", "401", "404", "410"} <= set(claim_next["responses"])
    assert "ErrorBody" in doc["components"]["schemas"]


def test_an_iam_caller_is_scoped_to_its_accounts_tenant(api: Api) -> None:
    arn = "arn:aws:iam::123456789012:user/alice"
    event = gateway_event("POST", "/scans", {"name": "g", "config": GRID}, owner=None)
    event["requestContext"]["identity"]["userArn"] = arn
    answer = api.resolve(event)
    assert answer.status == 201 and answer.body["scan"]["owner"] == "123456789012"
    listing = gateway_event("GET", "/scans", owner=None)
    listing["requestContext"]["identity"]["userArn"] = "arn:aws:iam::123456789012:user/bob"
    assert [s["owner"] for s in api.resolve(listing).body["scans"]] == ["123456789012"]
