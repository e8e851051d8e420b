"""Tenancy through the resolver (issue 12 item 1): a scan belongs to a tenant; a person (an
IAM user), the stack's job role and an agent's instance profile (assumed-role ARNs with a
session name) of one tenant all act on its trials; another tenant gets 404, an identity the
mapping refuses 403; token callers are scoped by their authorizer's tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from scanfleet.records import ScanRecord
from scanfleet.service import ScanService
from scanfleet.tenancy import ENV_TENANTS

from tests.unit.api.conftest import Answer, Api, gateway_event
from tests.unit.api.routes import GRID

ACCOUNT, OTHER = "123456789012", "210987654321"
PERSON = f"arn:aws:iam::{ACCOUNT}:user/alice"
JOB_ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/scanfleet-JobRole-1AB2C3/3f2c9e1d-job-7"
INSTANCE = f"arn:aws:sts::{ACCOUNT}:assumed-role/gpu-agent-profile-role/i-0abc123def4567890"
STRANGER = f"arn:aws:sts::{OTHER}:assumed-role/scanfleet-JobRole-9Z8Y7X/a1b2c3"


def signed(api: Api, arn: str, method: str, target: str, body: Any = None) -> Answer:
    """The event API Gateway sends after SigV4: the caller's ARN, ids and account, no
    authorizer."""
    event = gateway_event(method, target, body, owner=None)
    account = arn.split(":")[4]
    unique = (
        "AIDAEXAMPLEUSER0001" if ":user/" in arn else "AROAEXAMPLEROLE0001:" + arn.rsplit("/", 1)[1]
    )
    event["requestContext"]["identity"].update(
        {"accountId": account, "caller": unique, "user": unique, "userArn": arn}
    )
    return api.resolve(event)


def by_token(
    api: Api, authorizer: dict[str, Any], method: str, target: str, body: Any = None
) -> Answer:
    event = gateway_event(method, target, body, owner=None)
    event["requestContext"]["authorizer"] = {**authorizer, "integrationLatency": 4}
    return api.resolve(event)


def create(api: Api, arn: str) -> str:
    answer = signed(api, arn, "POST", "/scans", {"name": "g", "config": GRID})
    assert answer.status == 201, answer.body
    return str(answer.body["scan"]["scan_id"])


def run_trial(api: Api, arn: str, scan_id: str, worker: str) -> int:
    """A worker's whole conversation with one trial, as ``arn``; the first status that is
    not 200, else 200."""
    claim = signed(api, arn, "POST", f"/scans/{scan_id}/trials/claim", {"worker_id": worker})
    if claim.status != 200:
        return claim.status
    trial = claim.body["trial_id"]
    steps: list[tuple[str, str, Any]] = [
        ("GET", f"/scans/{scan_id}", None),
        ("GET", f"/trials/{trial}", None),
        ("POST", f"/trials/{trial}/heartbeat", {"worker_id": worker, "attempt": 1}),
        ("POST", f"/trials/{trial}/reports", {"metric": "loss", "step": 0, "value": 1.0}),
        ("POST", f"/trials/{trial}/complete", {"value": 0.5, "attempt": 1}),
    ]
    for method, target, body in steps:
        answer = signed(api, arn, method, target, body)
        if answer.status != 200:
            return answer.status
    return 200


@pytest.mark.parametrize("worker", [JOB_ROLE, INSTANCE], ids=["job-role", "instance-profile"])
def test_a_worker_of_the_account_runs_a_persons_trials(api: Api, worker: str) -> None:
    scan_id = create(api, PERSON)
    assert run_trial(api, worker, scan_id, "w1") == 200  # was 404: owner == userArn


def test_another_account_gets_404_on_every_call(api: Api) -> None:
    scan_id = create(api, PERSON)
    assert run_trial(api, STRANGER, scan_id, "w1") == 404
    assert signed(api, STRANGER, "GET", f"/scans/{scan_id}").status == 404
    assert signed(api, STRANGER, "GET", "/scans").body["scans"] == []


def test_the_mapping_names_tenants_and_refuses_unmapped_callers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = {
        f"arn:aws:iam::{ACCOUNT}:user/alice": "vision",
        f"arn:aws:iam::{ACCOUNT}:role/scanfleet-JobRole-1AB2C3": "vision",  # and its sessions
        f"arn:aws:iam::{ACCOUNT}:user/*": "research",
        "*": None,
    }
    monkeypatch.setenv(ENV_TENANTS, json.dumps(mapping))
    scan_id = create(api, PERSON)
    assert signed(api, PERSON, "GET", f"/scans/{scan_id}").body["scan"]["owner"] == "vision"
    assert run_trial(api, JOB_ROLE, scan_id, "w1") == 200
    bob = f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert signed(api, bob, "GET", f"/scans/{scan_id}").status == 404  # research
    refused = signed(api, INSTANCE, "GET", "/scans")
    assert refused.status == 403 and refused.code == "forbidden"
    assert INSTANCE in refused.body["error"]["message"]
    assert ENV_TENANTS in refused.body["error"]["message"]


def test_a_broken_mapping_is_a_clear_error_not_a_crash(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_TENANTS, '{"alice": "vision"}')
    answer = signed(api, PERSON, "GET", "/scans")
    assert answer.status == 500 and ENV_TENANTS in answer.body["error"]["message"]


def test_a_scan_stored_with_an_arn_owner_belongs_to_that_arns_tenant(
    api: Api, service: ScanService
) -> None:
    """The migration rule: scans made before tenancy keep their owner field (the creator's
    ARN), which is read as the tenant that ARN maps to now."""
    stored = ScanRecord(
        scan_id="scold0000001", name="old", owner=PERSON, config={**GRID}, max_run=3,
        created_at=1.0,
    )  # fmt: skip
    service.context.store.create_scan(stored)
    assert signed(api, JOB_ROLE, "GET", "/scans/scold0000001").status == 200
    assert run_trial(api, JOB_ROLE, "scold0000001", "w1") == 200
    assert signed(api, STRANGER, "GET", "/scans/scold0000001").status == 404


def test_token_callers_are_scoped_by_their_tenant_and_keep_their_former_scans(
    app: APIGatewayRestResolver,
) -> None:
    api = Api(app, "unused")
    old = by_token(
        api, {"principalId": "tok-aaaa"}, "POST", "/scans", {"name": "old", "config": GRID}
    )
    assert old.status == 201 and old.body["scan"]["owner"] == "tok-aaaa"  # an older authorizer
    ci = {"principalId": "tok-aaaa", "tenant": "vision", "former": "tok-aaaa"}
    laptop = {"principalId": "tok-bbbb", "tenant": "vision", "former": "tok-bbbb"}
    other = {"principalId": "tok-cccc", "tenant": "audio", "former": "tok-cccc"}
    new = by_token(api, ci, "POST", "/scans", {"name": "new", "config": GRID})
    assert new.body["scan"]["owner"] == "vision"
    new_id, old_id = new.body["scan"]["scan_id"], old.body["scan"]["scan_id"]
    assert sorted(s["name"] for s in by_token(api, ci, "GET", "/scans").body["scans"]) == [
        "new",
        "old",
    ]
    assert by_token(api, laptop, "GET", f"/scans/{new_id}").status == 200
    assert by_token(api, laptop, "GET", f"/scans/{old_id}").status == 404  # ci's own, from before
    assert by_token(api, other, "GET", f"/scans/{new_id}").status == 404
