"""The Lambda entry point serves real API Gateway proxy events over DynamoDB (moto)."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet.store import create_table

EVENTS = Path(__file__).resolve().parents[2] / "events"


class FakeContext:
    function_name = "scanfleet-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:scanfleet-api"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("SCANFLEET_TABLE_NAME", "scanfleet")
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "scanfleet")
        sys.modules.pop("lambdas.api", None)
        yield importlib.import_module("lambdas.api")


def event(name: str = "api_gateway_create_scan.json", **changes: Any) -> dict[str, Any]:
    base = json.loads((EVENTS / name).read_text())
    base.update(changes)
    return base


def test_an_api_gateway_event_creates_a_scan_and_a_replay_returns_it(
    handler_module: ModuleType,
) -> None:
    first = handler_module.handler(event(), FakeContext())
    assert first["statusCode"] == 201, first["body"]
    body = json.loads(first["body"])
    assert body["scan"]["name"] == "from-api-gateway" and body["planned_trials"] == 3
    again = handler_module.handler(event(), FakeContext())
    assert again["statusCode"] == 200
    assert json.loads(again["body"])["scan"]["scan_id"] == body["scan"]["scan_id"]


def test_claims_flow_through_lambda_until_the_scan_is_gone(handler_module: ModuleType) -> None:
    created = json.loads(handler_module.handler(event(), FakeContext())["body"])
    scan_id = created["scan"]["scan_id"]
    claim = event(path=f"/scans/{scan_id}/trials/claim", body=json.dumps({"worker_id": "b1"}))
    for _ in range(3):
        answer = handler_module.handler(copy.deepcopy(claim), FakeContext())
        assert answer["statusCode"] == 200
        trial = json.loads(answer["body"])
        done = event(
            path=f"/trials/{trial['trial_id']}/complete",
            body=json.dumps({"value": trial["params"]["a"]}),
        )
        assert handler_module.handler(done, FakeContext())["statusCode"] == 200
    gone = handler_module.handler(copy.deepcopy(claim), FakeContext())
    assert gone["statusCode"] == 410
    assert json.loads(gone["body"])["error"]["code"] == "scan_finished"


def test_an_event_without_an_identity_is_401(handler_module: ModuleType) -> None:
    anonymous = event()
    anonymous["requestContext"]["authorizer"] = None
    answer = handler_module.handler(anonymous, FakeContext())
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "unauthorized"


def test_an_iam_signed_event_is_served_as_its_accounts_tenant(handler_module: ModuleType) -> None:
    listing = event("api_gateway_iam_list_scans.json")
    arn = listing["requestContext"]["identity"]["userArn"]
    create = event()
    create["requestContext"]["authorizer"] = None
    create["requestContext"]["identity"]["userArn"] = arn
    assert handler_module.handler(create, FakeContext())["statusCode"] == 201
    handler_module.handler(event(), FakeContext())  # another owner's scan (the token's)
    answer = handler_module.handler(listing, FakeContext())
    assert answer["statusCode"] == 200
    scans = json.loads(answer["body"])["scans"]
    account = listing["requestContext"]["accountId"]  # the tenant, by default (tenancy)
    assert arn.split(":")[4] == account
    assert [(s["owner"], s["status"]) for s in scans] == [(account, "RUNNING")]
