"""Permissions as enforced (issue 12 item 3): the remote end to end in moto with IAM
enforcement on, every component signing as the role the synthesised template gives it,
with exactly that role's policies (taken from the template by ``deploy``, never written
again here; tests/cloud/iam_enforcement.py says how each request is authorized):

- the API function, the orchestration functions (plan, claim, finish, finalise, revive)
  and the reaper as their execution roles, in containers of their own;
- the state machine as its role when it invokes the functions and drives Batch;
- each Batch job as a session of the job role (S3 checkpoints; the API over SigV4, where
  API Gateway asks for ``execute-api:Invoke``);
- an agent as a session of the agents' instance-profile role;
- the person as an IAM user with the documented ``execute-api:Invoke`` policy.

Taking one action out of one policy makes the run fail with AccessDenied."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import boto3
import pytest
from scanfleet.records import TrialState

from tests.cloud.deploy import ACCOUNT, REGION, role_name
from tests.cloud.harness import (
    STACK_NAME,
    Cloud,
    SpotPlan,
    agent_role_name,
    job_role_name,
    running_cloud,
    state_machine_role_arn,
)

GRID = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}
IMAGE = "ghcr.io/lab/trainer:2.1"


def remote_scan(trials: int = 2) -> dict[str, Any]:
    """A grid of the fault tier's step-counting script, run on Batch, checkpointing every
    3 steps (to S3, as the job role), with its own image (plan registers a job
    definition)."""
    return {
        "strategy": "grid",
        "command": "python steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "image": IMAGE,
        "execution": {"type": "remote", "max_worker": 2, "lease_seconds": 3},
        "parameters": {
            "steps": {"value": 7},
            "every": {"value": 3},
            "seed": {"values": list(range(trials))},
        },  # fmt: skip
    }


def function_role(template: dict[str, Any], handler: str) -> str:
    """The role name of the function whose handler is ``handler``."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and props["Handler"] == handler:
            return role_name(STACK_NAME, props["Role"]["Fn::GetAtt"][0])
    raise AssertionError(handler)


def state_machine_role(template: dict[str, Any]) -> str:
    return state_machine_role_arn(template).rsplit("/", 1)[1]


def test_every_component_signs_as_its_role_and_the_template_allows_what_it_does(
    cloud: Cloud, template: dict[str, Any]
) -> None:
    cloud.jobs.spot = SpotPlan(job_number=1, attempt=1, after_steps=4)
    status, body = cloud.api("POST", "/scans", {"name": "enforced", "config": remote_scan()})
    assert status == 201, body
    scan_id = body["scan"]["scan_id"]
    executions = cloud.wait_for_executions(timeout=90)
    assert [e["status"] for e in executions] == ["SUCCEEDED"], cloud.jobs.logs()
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2, cloud.jobs.logs()
    assert cloud.invoke("lambdas.reaper.handler", {}) == {"scans_checked": 0, "requeued": 0}

    allowed = cloud.authorized.by
    assert {"dynamodb:PutItem", "states:StartExecution"} <= allowed(
        function_role(template, "lambdas.api.handler")
    )
    plan = allowed(function_role(template, "lambdas.orchestration.plan"))
    assert {"batch:DescribeJobDefinitions", "batch:RegisterJobDefinition"} <= plan
    for handler in ("claim", "finish", "finalise"):
        role = function_role(template, f"lambdas.orchestration.{handler}")
        assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} & allowed(role), handler
    assert "dynamodb:Scan" in allowed(function_role(template, "lambdas.reaper.handler"))
    machine = allowed(state_machine_role(template))
    assert {"lambda:InvokeFunction", "batch:SubmitJob", "batch:DescribeJobs"} <= machine
    job = allowed(job_role_name(template))
    assert {"s3:PutObject", "s3:GetObject"} <= job  # the Spot checkpoint, then its restore
    # no session of one role did what only another's policy allows
    assert not {"batch:RegisterJobDefinition", "states:StartExecution"} & job
    assert "batch:SubmitJob" not in allowed(function_role(template, "lambdas.api.handler"))
    every = {who.split("/")[1] for who, _, _ in cloud.authorized.checks if "assumed-role" in who}
    assert every >= {function_role(template, f"lambdas.orchestration.{h}")
                     for h in ("plan", "claim", "finish", "finalise")}  # fmt: skip


def test_an_agent_signs_as_the_instance_profiles_role_and_a_role_without_the_grant_is_refused(
    cloud: Cloud, template: dict[str, Any]
) -> None:
    status, body = cloud.api("POST", "/scans", {"name": "agents", "config": GRID})
    assert status == 201
    claim = f"/scans/{body['scan']['scan_id']}/trials/claim"
    agent = cloud.identities.role_session(agent_role_name(template), "i-0abc123def4567890")
    status, trial = cloud.api("POST", claim, {"worker_id": "i-0abc"}, caller=agent)
    assert status == 200, trial
    stranger = cloud.identities.role_session("some-other-role", "i-0fff")  # no policy at all
    status, answer = cloud.api("POST", claim, {"worker_id": "i-0fff"}, caller=stranger)
    assert status == 403 and "not authorized to perform: execute-api:Invoke" in answer["message"]


def without(template: dict[str, Any], role: str, action: str) -> dict[str, Any]:
    """The template with ``action`` taken out of every policy of the role ``role``."""
    changed = copy.deepcopy(template)
    resources = changed["Resources"]
    [logical] = [k for k in resources if role_name(STACK_NAME, k) == role]
    removed = 0
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": logical} not in props["Roles"]:
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            removed += action in actions
            statement["Action"] = [a for a in actions if a != action] or ["none:Nothing"]
    assert removed, f"{role} has no {action} to take away"
    return changed


def test_one_action_less_in_the_state_machines_policy_fails_the_run_with_access_denied(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crippled = without(template, state_machine_role(template), "batch:SubmitJob")
    with running_cloud(crippled, tmp_path, monkeypatch) as cloud:
        status, body = cloud.api("POST", "/scans", {"name": "denied", "config": remote_scan(1)})
        assert status == 201, body
        cloud.wait_for_executions(timeout=90)
        scan_id = body["scan"]["scan_id"]
        [trial] = cloud.service.store.list_trials(scan_id)
        scan = cloud.service.store.get_scan(scan_id)
    assert cloud.batch.submitted == 0
    text = f"{trial.failure_reason} {scan.status_reason}"
    assert "AccessDenied" in text and "batch:SubmitJob" in text, (trial, scan)


def test_one_action_less_in_the_job_roles_policy_fails_the_checkpoint_with_access_denied(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crippled = without(template, job_role_name(template), "s3:PutObject")
    with running_cloud(crippled, tmp_path, monkeypatch) as cloud:
        status, body = cloud.api("POST", "/scans", {"name": "denied", "config": remote_scan(1)})
        assert status == 201, body
        cloud.wait_for_executions(timeout=90)
        [trial] = cloud.service.store.list_trials(body["scan"]["scan_id"])
        logs = cloud.jobs.logs()
    assert trial.state is not TrialState.COMPLETED, logs
    assert "AccessDenied" in logs and "PutObject" in logs, logs


def test_the_person_needs_the_documented_invoke_grant(cloud: Cloud) -> None:
    bob = cloud.identities.user("bob")  # an IAM user of the account without the grant
    status, answer = cloud.api("GET", "/scans", caller=bob)
    assert status == 403 and "execute-api:Invoke" in answer["message"]
    assert cloud.api("GET", "/scans")[0] == 200  # alice has it
    assert boto3.client("sts", region_name=REGION).get_caller_identity()["Account"] == ACCOUNT


def test_an_api_role_without_start_execution_fails_the_scan_with_awss_answer_not_a_500(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crippled = without(template, function_role(template, "lambdas.api.handler"),
                       "states:StartExecution")  # fmt: skip
    with running_cloud(crippled, tmp_path, monkeypatch) as cloud:
        status, body = cloud.api("POST", "/scans", {"name": "denied", "config": remote_scan(1)})
        assert status == 502, body
        assert body["error"]["code"] == "run_not_started"
        message = body["error"]["message"]
        assert "AccessDenied" in message and "states:StartExecution" in message, message
        [listed] = cloud.api("GET", "/scans")[1]["scans"]
        assert listed["status"] == "FAILED"  # not RUNNING with nothing to run it
        assert cloud.api("GET", f"/scans/{listed['scan_id']}")[1]["scan"]["status_reason"] == (
            message
        )
