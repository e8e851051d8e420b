"""``scanfleet deploy --check``: what a deployment lacks, asked of the account (moto, where
moto has the call; botocore's Stubber for the answers moto cannot give) and of the
checkout, before anything is created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from scanfleet.cli import main
from scanfleet.cloud.deploy_checks import (
    SPOT_QUOTA_CODE,
    AccountClients,
    Status,
    account_checks,
    check_bootstrap,
    check_lambda_concurrency,
    check_layer,
    check_node,
    check_spot_quota,
    check_spot_role,
)

ROOT = Path(__file__).resolve().parents[3]
REGION = "eu-west-1"
# what `cdk bootstrap` leaves behind, as far as the check looks: the stack and its parameter
BOOTSTRAP_TEMPLATE = {
    "Resources": {
        "CdkBootstrapVersion": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Type": "String",
                "Name": "/cdk-bootstrap/hnb659fds/version",
                "Value": "21",
            },
        }
    }
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AccountClients]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        services = ("sts", "cloudformation", "ssm", "service-quotas", "iam", "lambda")
        yield AccountClients(*(boto3.client(s, region_name=REGION) for s in services))


def by_name(checks: list) -> dict:  # type: ignore[type-arg]
    return {check.name: check for check in checks}


def test_a_fresh_account_lacks_the_bootstrap_and_the_spot_role(aws: AccountClients) -> None:
    checks = by_name(account_checks(aws, region=REGION, needed_vcpus=4, reserved_concurrency=100))
    assert checks["credentials"].status is Status.OK
    assert "account 123456789012" in checks["credentials"].detail
    bootstrap = checks["bootstrap"]
    assert bootstrap.status is Status.MISSING
    assert "npx cdk bootstrap aws://123456789012/eu-west-1" in bootstrap.detail
    role = checks["Spot service-linked role"]
    assert role.status is Status.MISSING
    assert "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com" in role.detail
    # moto has no EC2 quotas and no Lambda account settings: said so, never guessed
    quota = checks["GPU Spot vCPU quota"]
    assert quota.status is Status.UNKNOWN and SPOT_QUOTA_CODE in quota.detail
    assert checks["Lambda concurrency"].status is Status.UNKNOWN


def test_a_bootstrapped_account_with_the_spot_role_passes(aws: AccountClients) -> None:
    aws.cloudformation.create_stack(
        StackName="CDKToolkit", TemplateBody=json.dumps(BOOTSTRAP_TEMPLATE)
    )
    aws.iam.create_service_linked_role(AWSServiceName="spot.amazonaws.com")
    bootstrap = check_bootstrap(aws.cloudformation, aws.ssm, account="123456789012", region=REGION)
    assert bootstrap.status is Status.OK and "version 21" in bootstrap.detail
    assert check_spot_role(aws.iam).status is Status.OK


def test_an_old_bootstrap_is_reported(aws: AccountClients) -> None:
    old = json.loads(json.dumps(BOOTSTRAP_TEMPLATE))
    old["Resources"]["CdkBootstrapVersion"]["Properties"]["Value"] = "4"
    aws.cloudformation.create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(old))
    bootstrap = check_bootstrap(aws.cloudformation, aws.ssm, account="123456789012", region=REGION)
    assert bootstrap.status is Status.MISSING and "version 4, the CDK needs 6+" in bootstrap.detail


def test_no_credentials_leaves_the_account_checks_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.Session(region_name=REGION)
    services = ("sts", "cloudformation", "ssm", "service-quotas", "iam", "lambda")
    clients = AccountClients(*(session.client(s) for s in services))
    checks = account_checks(clients, region=REGION, needed_vcpus=4, reserved_concurrency=0)
    assert checks[0].status is Status.MISSING and "--profile" in checks[0].detail
    assert {c.status for c in checks[1:]} == {Status.UNKNOWN}


@pytest.mark.parametrize(
    ("vcpus", "status", "said"),
    [(0.0, Status.MISSING, "request an increase"), (64.0, Status.OK, "64 vCPUs in eu-west-1")],
)
def test_the_gpu_spot_quota_against_one_job(vcpus: float, status: Status, said: str) -> None:
    client = boto3.client(
        "service-quotas",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    quota = {"Quota": {"QuotaCode": SPOT_QUOTA_CODE, "ServiceCode": "ec2", "Value": vcpus}}
    with Stubber(client) as stub:
        stub.add_response(
            "get_service_quota", quota, {"ServiceCode": "ec2", "QuotaCode": SPOT_QUOTA_CODE}
        )
        check = check_spot_quota(client, region=REGION, needed_vcpus=4)
    assert check.status is status and said in check.detail


@pytest.mark.parametrize(("unreserved", "status"), [(1000, Status.OK), (150, Status.MISSING)])
def test_the_reserved_lambda_concurrency_must_leave_100(unreserved: int, status: Status) -> None:
    client = boto3.client(
        "lambda",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    settings = {
        "AccountLimit": {
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": unreserved,
        }
    }
    with Stubber(client) as stub:
        stub.add_response("get_account_settings", settings, {})
        check = check_lambda_concurrency(client, reserved=100)
    assert check.status is status
    if status is Status.MISSING:
        assert "laneConcurrency=0" in check.detail


def test_the_layer_and_node(tmp_path: Path) -> None:
    assert check_layer(None, ["a"], tmp_path).status is Status.MISSING
    assert "other requirements" in check_layer(["b"], ["a"], tmp_path).detail
    assert check_layer(["a"], ["a"], tmp_path).status is Status.OK
    no_node = check_node(tmp_path, which=lambda name: None)
    assert no_node.status is Status.MISSING and "Node.js 20+" in no_node.detail
    if (ROOT / "node_modules" / ".bin" / "cdk").exists():
        assert check_node(ROOT).status is Status.OK
        assert "npm ci" in check_node(tmp_path).detail


def test_deploy_check_prints_what_is_missing_and_exits_1(
    aws: AccountClients, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "--check", "--project", str(ROOT), "--region", REGION])
    out = capsys.readouterr().out
    assert code == 1  # the bootstrap is missing: nothing was created
    lines = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    assert lines["credentials"] == "ok" and lines["bootstrap"] == "missing"
    assert lines["GPU"] == "unknown"
    assert not aws.cloudformation.list_stacks()["StackSummaries"]
