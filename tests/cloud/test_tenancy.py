"""Tenancy as AWS delivers the callers (issue 12 items 1 and 2): requests reach the API
Lambda with the ``requestContext`` API Gateway builds after SigV4 (an IAM user, role
sessions of the job role and of an agent's instance profile) or after the REAL token
authorizer; nothing names the owner. Another tenant gets 404, an unmapped caller 403, and
a trial script's worker token reaches its own trial only. A scan stored before tenancy
(owned, and listed, by its creator's ARN) is listed for the tenant that ARN maps to."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from scanfleet.store import LAYOUT
from scanfleet.tenancy import ENV_TENANTS

from tests.cloud.deploy import ACCOUNT, REGION
from tests.cloud.harness import Cloud, agent_role_name, job_role_name

OTHER = "210987654321"
GRID = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}
INSTANCE = "i-0abc123def4567890"  # an agent's instance: its session name


def created(cloud: Cloud) -> str:
    status, body = cloud.api("POST", "/scans", {"name": "tenancy", "config": GRID})
    assert status == 201, body
    return str(body["scan"]["scan_id"])


def add_token(cloud: Cloud, label: str, value: Any) -> None:
    """A token added to the stack's secret (the authorizer reads it again)."""
    [name] = [n for n in cloud.deployment.physical.values() if ":secret:scanfleet-ApiTokens" in n]
    client = boto3.client("secretsmanager", region_name=REGION)
    document = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
    client.put_secret_value(SecretId=name, SecretString=json.dumps({**document, label: value}))
    parameters.clear_caches()


def test_an_agents_instance_profile_runs_trials_and_its_script_holds_a_worker_token(
    cloud: Cloud, template: Any
) -> None:
    agent = cloud.identities.role_session(agent_role_name(template), INSTANCE)
    scan_id = created(cloud)  # by alice, an IAM user of the account
    trials = []
    for worker in ("i-0abc", "i-0def"):
        path = f"/scans/{scan_id}/trials/claim"
        status, trial = cloud.api("POST", path, {"worker_id": worker}, caller=agent)
        assert status == 200, trial  # was 404: the owner was alice's ARN
        trials.append(trial["trial_id"])
    mine, other = trials
    body = {"worker_id": "i-0abc", "attempt": 1}
    status, minted = cloud.api("POST", f"/trials/{mine}/worker-token", body, caller=agent)
    assert status == 200, minted
    worker = minted["token"]
    report = {"metric": "loss", "step": 1, "value": 0.3}
    assert cloud.api("POST", f"/trials/{mine}/reports", report, token=worker)[0] == 200
    for method, path in [("GET", "/scans"), ("DELETE", f"/scans/{scan_id}"),
                         ("GET", f"/trials/{other}")]:  # fmt: skip
        status, answer = cloud.api(method, path, token=worker)
        assert status == 403 and answer["error"]["code"] == "forbidden", (path, answer)
    done = {"value": 0.3, "attempt": 1}
    assert cloud.api("POST", f"/trials/{mine}/complete", done, token=worker)[0] == 200
    assert cloud.api("POST", f"/trials/{mine}/reports", report, token=worker)[0] == 409
    assert cloud.api("GET", f"/trials/{mine}", token=worker[:-2] + "00")[0] == 401  # forged
    # the stack's default token belongs to the account: alice's scan is its scan too
    assert cloud.api("GET", f"/scans/{scan_id}", token=cloud.token)[0] == 200


def test_another_tenant_gets_404_through_the_api_lambda(
    cloud: Cloud, template: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan_id = created(cloud)
    status, trial = cloud.api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"})
    assert status == 200
    # another account's job role: API Gateway refuses it (the API has no resource policy)
    foreign_job = cloud.identities.role_session(job_role_name(template), "job-1", account=OTHER)
    assert foreign_job.arn.startswith(f"arn:aws:sts::{OTHER}:assumed-role/")
    status, answer = cloud.api("GET", f"/scans/{scan_id}", caller=foreign_job)
    assert status == 403 and "execute-api:Invoke" in answer["message"]
    # another tenant of this account, by a role mapped to it, and by a token of its own
    role = agent_role_name(template)
    mapping = {f"arn:aws:iam::{ACCOUNT}:role/{role}": "audio"}
    monkeypatch.setenv(ENV_TENANTS, json.dumps(mapping))
    audio_agent = cloud.identities.role_session(role, INSTANCE)
    add_token(cloud, "audio", {"token": "sf_audio_team_token", "tenant": "audio"})
    for who in ({"caller": audio_agent}, {"token": "sf_audio_team_token"}):
        assert cloud.api("GET", f"/scans/{scan_id}", **who)[0] == 404  # type: ignore[arg-type]
        path = f"/trials/{trial['trial_id']}/heartbeat"
        heartbeat = {"worker_id": "w", "attempt": 1}
        assert cloud.api("POST", path, heartbeat, **who)[0] == 404  # type: ignore[arg-type]
        assert cloud.api("GET", "/scans", **who)[1]["scans"] == []  # type: ignore[arg-type]


def test_an_unmapped_principal_gets_403(
    cloud: Cloud, template: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = job_role_name(template)
    mapping = {
        f"arn:aws:iam::{ACCOUNT}:user/alice": "vision",
        f"arn:aws:iam::{ACCOUNT}:role/{role}": "vision",  # its sessions: the Batch jobs
        "*": None,
    }
    monkeypatch.setenv(ENV_TENANTS, json.dumps(mapping))
    scan_id = created(cloud)
    job = cloud.identities.role_session(role, "job-2")
    assert cloud.api("GET", f"/scans/{scan_id}", caller=job)[1]["scan"]["owner"] == "vision"
    agent = cloud.identities.role_session(agent_role_name(template), INSTANCE)
    status, answer = cloud.api("GET", f"/scans/{scan_id}", caller=agent)
    assert status == 403 and answer["error"]["code"] == "forbidden"
    assert agent.arn in answer["error"]["message"] and ENV_TENANTS in answer["error"]["message"]


def owner_index_key(cloud: Cloud, scan_id: str) -> str:
    """What ``list_scans`` finds the scan item by (the owner index's partition key)."""
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=cloud.deployment.table_name, Key=LAYOUT.scan_key(scan_id), ConsistentRead=True
    )["Item"]
    return str(item[LAYOUT.owner.partition_key]["S"])


def test_a_scan_stored_before_tenancy_is_listed_for_the_tenant_its_arn_maps_to(
    cloud: Cloud, template: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = agent_role_name(template)
    monkeypatch.setenv(ENV_TENANTS, json.dumps({f"arn:aws:iam::{ACCOUNT}:role/{role}": "audio"}))
    # written as the API wrote it before tenancy: the service's create_scan with the
    # caller's userArn as the owner (the store writes it as owner and owner-index key)
    before, _ = cloud.service.create_scan("before tenancy", GRID, owner=cloud.person.arn)
    assert owner_index_key(cloud, before.scan_id) == cloud.person.arn
    since = created(cloud)  # alice's tenant: the account
    for who in ({}, {"token": cloud.token}):  # alice, and the account's default token
        status, body = cloud.api("GET", "/scans", **who)  # type: ignore[arg-type]
        assert status == 200, body
        assert [s["scan_id"] for s in body["scans"]] == [since, before.scan_id]  # was [since]
    assert owner_index_key(cloud, before.scan_id) == ACCOUNT  # listed under its tenant now
    status, body = cloud.api("GET", f"/scans/{before.scan_id}")
    assert status == 200 and body["scan"]["owner"] == cloud.person.arn  # the record as stored
    job = cloud.identities.role_session(job_role_name(template), "job-3")  # the account's job
    status, body = cloud.api("GET", "/scans?status=RUNNING", caller=job)
    assert [s["scan_id"] for s in body["scans"]] == [since, before.scan_id]
    audio = cloud.identities.role_session(role, INSTANCE)  # another tenant of the account
    assert cloud.api("GET", "/scans", caller=audio)[1]["scans"] == []
    assert cloud.api("GET", f"/scans/{before.scan_id}", caller=audio)[0] == 404
