"""Each moto patch the cloud tier relies on, on its own (moto pinned at 5.2.5)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.cloud import moto_patches
from tests.cloud.deploy import ROLE_ARN, create_job_queue
from tests.cloud.harness import MOTO_CONFIG
from tests.cloud.moto_patches import AttemptEnd, JobAttemptRun, retry_decision

REGION = "us-east-1"
SPOT = "Host EC2 (instance i-0abc) terminated."
STRATEGY = {  # the stack's: retry Spot and the worker's 7x codes, exit on anything else
    "attempts": 3,
    "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onExitCode": "7*", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ],
}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        boto3.client("iam").create_role(
            RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument="{}"
        )
        yield


def _function(handler: str, env: dict[str, str] | None = None) -> str:
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=handler.rsplit(".", 1)[1],
        Runtime="python3.12",
        Role=ROLE_ARN,
        Handler=handler,
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": env or {}},
    )
    return handler.rsplit(".", 1)[1]


def _invoke(name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    answer = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=name, Payload=json.dumps(event).encode()
    )
    return answer, json.loads(answer["Payload"].read())


def _start(definition: dict[str, Any]) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    return sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]


def _run(definition: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    execution = _start(definition)
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described  # type: ignore[no-any-return]
        time.sleep(0.05)


# ---- Lambda dispatch ---------------------------------------------------------------------


def test_an_invoked_function_runs_its_handler_in_process(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_patches.lambda_dispatch(monkeypatch) as calls:
        name = _function("tests.cloud.handlers_for_tests.double", {"SOME_SETTING": "on"})
        answer, body = _invoke(name, {"n": 21})
    assert body == {"n": 42, "function": "double"}
    assert "FunctionError" not in answer
    assert calls.calls == [("tests.cloud.handlers_for_tests.double", {"n": 21})]


def test_a_handler_that_raises_is_an_unhandled_function_error(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_patches.lambda_dispatch(monkeypatch):
        answer, body = _invoke(_function("tests.cloud.handlers_for_tests.fail"), {})
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "the handler refused"


def test_without_the_dispatch_moto_only_echoes_the_event(aws: None) -> None:
    _, body = _invoke(_function("tests.cloud.handlers_for_tests.double"), {"n": 21})
    assert body == {"n": 21}  # why the patch exists


# ---- Batch -------------------------------------------------------------------------------


def _batch_setup() -> tuple[str, str]:
    batch = boto3.client("batch", region_name=REGION)
    queue = create_job_queue(batch, "trials")
    definition = batch.register_job_definition(
        jobDefinitionName="worker",
        type="container",
        containerProperties={
            "image": "worker",
            "command": ["work"],
            "environment": [],
            "resourceRequirements": [
                {"type": "MEMORY", "value": "2048"},
                {"type": "VCPU", "value": "1"},
            ],
        },
        retryStrategy=STRATEGY,
    )
    return queue, definition["jobDefinitionArn"]


def _settled(job_id: str, timeout: float = 10) -> dict[str, Any]:
    batch = boto3.client("batch", region_name=REGION)
    deadline = time.monotonic() + timeout
    while True:
        (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("end", "attempt", "retried"),
    [
        (AttemptEnd(75, SPOT), 1, True),  # Spot took the host
        (AttemptEnd(None, SPOT), 1, True),  # ... before the container even started
        (AttemptEnd(75), 1, True),  # the worker saw the notice and asked for a retry
        (AttemptEnd(77), 2, True),  # the API was unreachable
        (AttemptEnd(1), 1, False),  # the script failed: the catch-all EXIT
        (AttemptEnd(3), 1, False),  # nothing to do
        (AttemptEnd(75, SPOT), 3, False),  # attempts spent
    ],
)
def test_the_retry_strategy_decides_like_batch(
    end: AttemptEnd, attempt: int, retried: bool
) -> None:
    assert retry_decision(STRATEGY, end, attempt) is retried


def test_without_a_matching_rule_batch_retries() -> None:
    only_spot = {
        "attempts": 2,
        "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "EXIT"}],
    }
    assert retry_decision(only_spot, AttemptEnd(1), 1) is True  # the trap the catch-all avoids
    assert retry_decision(only_spot, AttemptEnd(1, SPOT), 1) is False


def test_a_submitted_job_runs_its_attempts_and_settles_by_the_retry_strategy(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[JobAttemptRun] = []

    def runner(run: JobAttemptRun) -> AttemptEnd:
        runs.append(run)
        return AttemptEnd(75, SPOT) if run.attempt == 1 else AttemptEnd(0)

    queue, definition = _batch_setup()
    with moto_patches.batch_jobs(monkeypatch, runner) as ledger:
        job = boto3.client("batch", region_name=REGION).submit_job(
            jobName="trial-1",
            jobQueue=queue,
            jobDefinition=definition,
            containerOverrides={"environment": [{"name": "SCANFLEET_TRIAL_ID", "value": "t1"}]},
        )
        described = _settled(job["jobId"])
    assert described["status"] == "SUCCEEDED"
    assert [a["statusReason"] for a in described["attempts"]][0] == SPOT
    assert [a["container"]["exitCode"] for a in described["attempts"]] == [75, 0]
    assert [(r.attempt, r.command, r.environment["SCANFLEET_TRIAL_ID"]) for r in runs] == [
        (1, ["work"], "t1"),
        (2, ["work"], "t1"),
    ]
    assert runs[1].environment["AWS_BATCH_JOB_ATTEMPT"] == "2"
    assert ledger.max_running == 1 and ledger.submitted == 1


def test_a_job_cancelled_before_it_ran_fails_with_the_reason_and_no_attempt(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a job queue's state-time limit cancels a job stuck RUNNABLE."""
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    queue, definition = _batch_setup()
    runner = lambda run: AttemptEnd(None, status_reason=reason, never_ran=True)  # noqa: E731
    with moto_patches.batch_jobs(monkeypatch, runner) as ledger:
        job = boto3.client("batch", region_name=REGION).submit_job(
            jobName="trial-1", jobQueue=queue, jobDefinition=definition
        )
        described = _settled(job["jobId"])
    assert (described["status"], described["statusReason"]) == ("FAILED", reason)
    assert described["attempts"] == []
    assert ledger.queues == [("trial-1", "trials")]


def test_a_terminated_job_stops_its_attempt_and_fails(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def runner(run: JobAttemptRun) -> AttemptEnd:
        assert run.stopped.wait(10), "TerminateJob never reached the attempt"
        return AttemptEnd(143)

    queue, definition = _batch_setup()
    batch = boto3.client("batch", region_name=REGION)
    with moto_patches.batch_jobs(monkeypatch, runner):
        job = batch.submit_job(jobName="trial-2", jobQueue=queue, jobDefinition=definition)
        batch.terminate_job(jobId=job["jobId"], reason="scan cancelled")
        described = _settled(job["jobId"])
    assert described["status"] == "FAILED"
    assert described["statusReason"] == "scan cancelled"
    assert len(described["attempts"]) == 1  # a terminated job is not retried


def _submit_sync_machine(queue: str, definition: str) -> dict[str, Any]:
    return {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobName": "trial-3",
                    "JobQueue": queue,
                    "JobDefinition": definition,
                    "ContainerOverrides": {"Environment": [{"Name": "X", "Value": "1"}]},
                },
                "End": True,
            }
        },
    }


def test_a_sync_batch_task_submits_with_batch_names_and_answers_in_pascal_case(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, str]] = []

    def runner(run: JobAttemptRun) -> AttemptEnd:
        seen.append(run.environment)
        return AttemptEnd(0)

    queue, definition = _batch_setup()
    with (
        moto_patches.batch_sync_casing(monkeypatch),
        moto_patches.batch_jobs(monkeypatch, runner),
        moto_patches.fast_polls(monkeypatch),
    ):
        execution = _run(_submit_sync_machine(queue, definition))
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert (output["JobName"], output["Status"]) == ("trial-3", "SUCCEEDED")
    assert output["Attempts"][0]["Container"]["ExitCode"] == 0
    assert seen[0]["X"] == "1"


def test_without_the_casing_patch_the_sync_task_fails_on_job_definition(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, definition = _batch_setup()
    with moto_patches.batch_jobs(monkeypatch, lambda run: AttemptEnd(0)):
        execution = _run(_submit_sync_machine(queue, definition))
    assert execution["status"] == "FAILED"  # why the patch exists


def _end_while_its_job_runs(
    monkeypatch: pytest.MonkeyPatch, *, terminate_on_stop: bool = True, timeout: int = 0
) -> tuple[str, dict[str, Any]]:
    """Stop an execution (or let it time out after ``timeout`` s) while its ``.sync`` task's
    job runs: the execution's ARN, and the job as Batch describes it once it ended, or
    after two seconds (then ended by hand)."""
    started, runs = threading.Event(), []

    def runner(run: JobAttemptRun) -> AttemptEnd:
        runs.append(run)
        started.set()
        run.stopped.wait(30)
        return AttemptEnd(143)

    queue, definition = _batch_setup()
    machine = _submit_sync_machine(queue, definition) | (
        {"TimeoutSeconds": timeout} if timeout else {}
    )
    batch = boto3.client("batch", region_name=REGION)
    with (
        moto_patches.batch_sync_casing(monkeypatch, terminate_on_stop=terminate_on_stop),
        moto_patches.batch_jobs(monkeypatch, runner),
        moto_patches.fast_polls(monkeypatch),
    ):
        execution = _start(machine)
        assert started.wait(10), "the job never ran"
        if not timeout:
            boto3.client("stepfunctions", region_name=REGION).stop_execution(executionArn=execution)
        job = _settled(runs[0].job_id, timeout=timeout + 2)
        batch.terminate_job(jobId=runs[0].job_id, reason="the test is over")
    return execution, job


def _aborted(execution: str) -> str:
    return (
        f"The Task state in AWS Step Functions execution [{execution}] which was managing "
        "this resource was aborted"
    )


def test_a_stopped_execution_terminates_the_job_its_sync_task_waits_on(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution, job = _end_while_its_job_runs(monkeypatch)
    assert (job["status"], job["statusReason"]) == ("FAILED", _aborted(execution))
    assert len(job["attempts"]) == 1  # a terminated job is not retried


def test_a_timed_out_execution_terminates_its_job_too(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution, job = _end_while_its_job_runs(monkeypatch, timeout=1)
    assert (job["status"], job["statusReason"]) == ("FAILED", _aborted(execution))
    described = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=execution
    )
    assert described["status"] == "TIMED_OUT"


def test_without_the_patch_the_job_of_a_stopped_execution_runs_on(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, job = _end_while_its_job_runs(monkeypatch, terminate_on_stop=False)
    assert job["status"] not in ("SUCCEEDED", "FAILED")  # still running: why the patch exists


# ---- time --------------------------------------------------------------------------------


def test_a_long_wait_state_passes_quickly_with_fast_polls(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = {"StartAt": "Idle", "States": {"Idle": {"Type": "Wait", "Seconds": 300, "End": True}}}
    with moto_patches.fast_polls(monkeypatch, wait_scale=0.001):
        execution = _run(machine, timeout=10)
    assert execution["status"] == "SUCCEEDED"
