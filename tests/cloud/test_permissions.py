"""Permissions as enforced, first slice (issue 12 item 3): the API function's use cases run
against DynamoDB in moto with IAM enforcement on (``moto.core.enable_iam_authentication``),
signed by a session of a role that carries exactly the policies the synthesised template
attaches to the API function's role (taken from the template, resolved to moto's ARNs, not
written again); without one action of them the same use case is refused with AccessDenied.
The other components (orchestration functions, reaper, job, agent) and the other services
are not covered yet: docs/cloud.md, Testing it with no AWS account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import enable_iam_authentication
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore, create_table
from scanfleet.tenancy import Tenant

from tests.cloud.deploy import ACCOUNT, REGION, Deployment, Resolver

API_HANDLER = "lambdas.api.handler"
TABLE = "scanfleet-permissions"
GRID = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}


def role_statements(template: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    """Every statement of the policies the template attaches to ``handler``'s role, with the
    table's ARN resolved to the table made here."""
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    [function] = [f for f in functions if f["Properties"]["Handler"] == handler]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    deployment = Deployment("scanfleet")
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            deployment.arns[f"{logical}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
    resolve = Resolver("scanfleet", deployment)
    statements = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in props.get("Roles", []):
            statements += resolve(props["PolicyDocument"]["Statement"])
    return [s for s in map(_made_here, statements) if s["Resource"]]


def _made_here(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement on what this test made (the table); resources of the stack this test
    does not make (the bucket, the secret) are left out."""
    listed = statement["Resource"]
    listed = listed if isinstance(listed, list) else [listed]
    return {**statement, "Resource": [r for r in listed if str(r).startswith(("arn:", "*"))]}


def without(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    out = []
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        out.append({**statement, "Action": [a for a in actions if a != action]})
    return [s for s in out if s["Action"]]


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}  # fmt: skip


def _dynamodb_checks(action: str, body: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """What AWS authorizes for one DynamoDB request: (action, table, index) per table, a
    transaction's items each by its own action (there is no TransactWriteItems action)."""
    if action in ("TransactWriteItems", "TransactGetItems"):
        items = [next(iter(item.items())) for item in body.get("TransactItems", [])]
        return [(_TRANSACT_ACTIONS[kind], spec["TableName"], None) for kind, spec in items]
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, table, None) for table in body.get("RequestItems", {})]
    return [(action, body.get("TableName", "*"), body.get("IndexName"))]


@pytest.fixture
def dynamodb_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 authorizes every action but S3's on the resource ``*``, so a policy on a
    table's ARN (what the template grants) allows nothing: DynamoDB requests are checked
    here against their table's (and index's) ARN, as AWS does."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequest

    class DynamoDBRequest(IAMRequest):
        def check_action_permitted(self, resource: str) -> None:
            service, _, action = self._action.partition(":")
            body = json.loads(self._body or b"{}")
            for name, table, index in _dynamodb_checks(action, body):
                arn = f"arn:aws:dynamodb:{self._region}:{self.account_id}:table/{table}"
                self._action = f"{service}:{name}"
                super().check_action_permitted(f"{arn}/index/{index}" if index else arn)

    def authorize(self: Any, resource: str = "*") -> None:
        self._authenticate_and_authorize_action(DynamoDBRequest, resource)

    monkeypatch.setattr(DynamoHandler, "_authenticate_and_authorize_normal_action", authorize)


@pytest.fixture
def signed_as_role(dynamodb_resources: None) -> Iterator[Any]:
    """``(statements) → a DynamoDB client signed by a session of a role with them``."""
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        iam, sts = boto3.client("iam"), boto3.client("sts", region_name=REGION)
        made = iter(range(100))

        def client(statements: list[dict[str, Any]]) -> Any:
            name = f"ApiHandlerRole{next(made)}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
            document = {"Version": "2012-10-17", "Statement": statements}
            iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="api-fn"
            )["Credentials"]
            return boto3.client(
                "dynamodb",
                region_name=REGION,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )

        yield client


def a_scan_through_its_life(service: ScanService) -> None:
    owner = Tenant(ACCOUNT)
    scan, _ = service.create_scan("perm", GRID, owner=owner)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=owner)
    assert trial is not None
    service.heartbeat(trial.trial_id, owner=owner, worker_id="w1", attempt=1)
    service.report(trial.trial_id, "loss", 1, 0.5, owner=owner)
    service.complete(trial.trial_id, {"loss": 0.5}, owner=owner, attempt=1)
    assert [s.scan_id for s in service.list_scans(owner=owner)] == [scan.scan_id]
    service.summarize(scan.scan_id, owner=owner)
    service.delete_scan(scan.scan_id, owner=owner)


def test_the_api_roles_policy_from_the_template_runs_a_scans_life(
    template: dict[str, Any], signed_as_role: Any
) -> None:
    statements = role_statements(template, API_HANDLER)
    service = ScanService(DynamoDBTrialStore(TABLE, client=signed_as_role(statements)))
    with enable_iam_authentication():
        a_scan_through_its_life(service)


def test_one_action_less_is_access_denied(template: dict[str, Any], signed_as_role: Any) -> None:
    statements = without(role_statements(template, API_HANDLER), "dynamodb:UpdateItem")
    service = ScanService(DynamoDBTrialStore(TABLE, client=signed_as_role(statements)))
    with enable_iam_authentication(), pytest.raises(ClientError) as refused:
        a_scan_through_its_life(service)
    # moto answers DynamoDB's JSON protocol with IAM's XML error: botocore keeps the status
    # as the code, the text says what was refused
    text = str(refused.value)
    assert "AccessDenied" in text and "not authorized to perform: dynamodb:UpdateItem" in text
