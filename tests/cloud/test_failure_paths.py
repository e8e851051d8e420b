"""The state machine's failure paths, run for real in moto: a lane whose claim breaks ends
alone, a throttled DynamoDB transaction is retried, a job cancelled while RUNNABLE puts
its trial back without an error, with the On-Demand fallback the trial's next job goes to
the On-Demand queue, and an execution stopped mid-run terminates its job (revive then
resumes the trial from its checkpoint)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from scanfleet.cloud import LaneSettings
from scanfleet.records import ScanStatus, TrialState

from tests.cloud import handlers_for_tests
from tests.cloud.deploy import ACCOUNT, REGION
from tests.cloud.harness import (
    Cloud,
    count_history,
    execution_history,
    running_cloud,
    state_machine_role_arn,
)
from tests.cloud.test_remote_scan import EVERY, TRIALS, remote_scan, wait_until

CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"


def use_deployment_environment(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The lane handlers' module as the Claim function's container has it: its environment
    set, the lane settings read from it."""
    for key, value in cloud.deployment.environments["lambdas.orchestration.claim"].items():
        monkeypatch.setenv(key, value)
    orchestration = cloud.function_module("lambdas.orchestration.claim")
    monkeypatch.setattr(orchestration.tasks, "settings", LaneSettings.from_environment())
    return orchestration


def visits(execution: dict[str, Any]) -> dict[str, int]:
    return count_history(execution_history(execution["executionArn"])).visits


def scan_note(cloud: Cloud, scan_id: str) -> str:
    return cloud.service.store.get_scan(scan_id).status_reason or ""


def test_a_lane_whose_claim_breaks_ends_alone_and_the_other_lanes_finish_the_scan(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(handlers_for_tests.FAIL_CLAIM_ON_LANE, "0")
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName=cloud.deployment.functions["lambdas.orchestration.claim"],
        Handler="tests.cloud.handlers_for_tests.claim_failing_on_one_lane",
    )
    _, body = cloud.api("POST", "/scans", {"name": "one-lane-breaks", "config": remote_scan()})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: "lane 0 stopped" in scan_note(cloud, scan_id), 30, "the lane's note")

    (execution,) = cloud.wait_for_executions(timeout=90)

    assert execution["status"] == "SUCCEEDED", cloud.jobs.logs()
    seen = visits(execution)
    assert (seen["RecordLaneError"], seen["LaneFailed"], seen["LaneEnd"]) == (1, 1, 1)
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * TRIALS, cloud.jobs.logs()
    assert all(t.worker_id is None or t.worker_id.endswith("lane-1") for t in trials)
    assert cloud.batch.max_running == 1  # lane 1 ran every trial
    assert cloud.service.store.get_scan(scan_id).status is ScanStatus.COMPLETED


def test_the_note_names_the_lane_and_the_error(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(handlers_for_tests.FAIL_CLAIM_ON_LANE, "1")
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName=cloud.deployment.functions["lambdas.orchestration.claim"],
        Handler="tests.cloud.handlers_for_tests.claim_failing_on_one_lane",
    )
    config = remote_scan()
    config["parameters"]["steps"] = {"value": 400}  # still running when the note is read
    _, body = cloud.api("POST", "/scans", {"name": "noted", "config": config})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: "lane 1 stopped" in scan_note(cloud, scan_id), 30, "the lane's note")
    status, answer = cloud.api("GET", f"/scans/{scan_id}")
    assert status == 200 and answer["scan"]["status"] == "RUNNING"
    assert answer["scan"]["status_reason"] == (
        "lane 1 stopped: RuntimeError: injected: the claim of lane 1 broke"
    )
    cloud.api("POST", f"/scans/{scan_id}/cancel")
    cloud.wait_for_executions(timeout=60)


@contextlib.contextmanager
def throttled_transactions(client: Any, times: int) -> Iterator[list[str]]:
    """DynamoDB cancels the next ``times`` transactions of ``client`` for throttling (its
    answer, short-circuited on the real client). Yields the operations it throttled."""
    throttled: list[str] = []

    def before_call(model: Any, **_: Any) -> Any:
        if len(throttled) >= times:
            return None
        throttled.append(model.name)
        http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 400, {}, None)
        return http, {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    event = "before-call.dynamodb.TransactWriteItems"
    client.meta.events.register(event, before_call, unique_id="throttled-transactions")
    try:
        yield throttled
    finally:
        client.meta.events.unregister(event, unique_id="throttled-transactions")


def test_a_throttled_transaction_is_retried_by_the_state_machine(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    orchestration = use_deployment_environment(cloud, monkeypatch)
    config = remote_scan(max_worker=1)
    config["parameters"]["seed"] = {"values": [0, 1]}
    with throttled_transactions(orchestration.store.client, times=1) as throttled:
        _, body = cloud.api("POST", "/scans", {"name": "throttled", "config": config})
        (execution,) = cloud.wait_for_executions(timeout=90)

    assert throttled == ["TransactWriteItems"]
    assert execution["status"] == "SUCCEEDED", cloud.jobs.logs()
    history = execution_history(execution["executionArn"])
    failures = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in history
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert failures == ["StoreBusyError"]  # the one throttled call, retried once
    assert "RecordLaneError" not in count_history(history).visits
    trials = cloud.service.store.list_trials(body["scan"]["scan_id"])
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2
    assert all(t.errors == 0 for t in trials)


def test_a_job_cancelled_while_runnable_requeues_its_trial_without_an_error(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_deployment_environment(cloud, monkeypatch)
    cloud.jobs.runnable_cancels = {1: CAPACITY}
    config = remote_scan(max_worker=1)
    config["parameters"]["seed"] = {"values": [0, 1]}
    config["retries"] = {"max_errors": 0}  # an error would fail the trial at once
    _, body = cloud.api("POST", "/scans", {"name": "no-capacity", "config": config})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: "RUNNABLE" in scan_note(cloud, scan_id), 30, "the scan's note")
    note = scan_note(cloud, scan_id)

    (execution,) = cloud.wait_for_executions(timeout=90)

    assert execution["status"] == "SUCCEEDED", cloud.jobs.logs()
    assert f"no Spot capacity for the stack's GPU instance types in {REGION}" in note
    assert f"cancelled after 30 min RUNNABLE ({CAPACITY})" in note
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2, cloud.jobs.logs()
    (cancelled,) = [t for t in trials if t.preemptions]
    assert (cancelled.errors, cancelled.preemptions, cancelled.attempt) == (0, 1, 2)
    # one job at a time for the trial: the cancelled one, then the one that ran
    names = [name for name, _ in cloud.batch.queues]
    assert names.count(cancelled.trial_id) == 2 and len(names) == 3
    assert cloud.batch.max_running == 1


@pytest.fixture
def fallback_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    from tests.infra.synth import synthesise_once

    context = (("onDemandFallback", "true"), ("onDemandAfterPreemptions", "1"))
    template = synthesise_once(context).template
    with running_cloud(template, tmp_path, monkeypatch) as cloud:
        yield cloud


def test_with_the_fallback_a_trial_whose_spot_job_got_no_capacity_runs_on_demand(
    fallback_cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = fallback_cloud
    use_deployment_environment(cloud, monkeypatch)
    cloud.jobs.runnable_cancels = {1: CAPACITY}
    config = remote_scan(max_worker=1)
    config["parameters"]["seed"] = {"values": [0, 1]}
    _, body = cloud.api("POST", "/scans", {"name": "fallback", "config": config})

    (execution,) = cloud.wait_for_executions(timeout=90)

    assert execution["status"] == "SUCCEEDED", cloud.jobs.logs()
    trials = cloud.service.store.list_trials(body["scan"]["scan_id"])
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2, cloud.jobs.logs()
    (moved,) = [t for t in trials if t.preemptions]
    jobs = [queue for name, queue in cloud.batch.queues if name == moved.trial_id]
    assert len(jobs) == 2
    assert "OnDemand" not in jobs[0] and "OnDemand" in jobs[1], jobs
    others = [queue for name, queue in cloud.batch.queues if name != moved.trial_id]
    assert others and all("OnDemand" not in q for q in others)  # the rest stay on Spot
    assert visits(execution).get("RunTrialOnDemand") == 1


def test_an_execution_stopped_mid_run_terminates_its_job_and_revive_resumes_the_trial(
    cloud: Cloud, template: dict[str, Any]
) -> None:
    config = remote_scan(max_worker=1)
    config["parameters"]["steps"] = {"value": 150}  # ~8 s: still running at the stop
    config["parameters"]["seed"] = {"values": [0]}
    _, body = cloud.api("POST", "/scans", {"name": "stopped", "config": config})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: len(cloud.jobs.ledger.lines()) >= EVERY, 60, "a trial's first steps")
    (execution,) = cloud.wait_for_executions_started()

    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.stop_execution(executionArn=execution, error="Test.Stop", cause="stopped mid-run")

    # Step Functions terminated the job with the state machine's role (AWS's reason text)
    batch = boto3.client("batch", region_name=REGION)

    def failed() -> list[dict[str, Any]]:
        queue = cloud.deployment.job_queue_arn
        return batch.list_jobs(jobQueue=queue, jobStatus="FAILED")["jobSummaryList"]

    wait_until(failed, 15, "the job's end")
    (job,) = batch.describe_jobs(jobs=[j["jobId"] for j in failed()])["jobs"]
    (trial,) = cloud.service.store.list_trials(scan_id)
    assert (job["jobName"], job["status"]) == (trial.trial_id, "FAILED")
    assert job["statusReason"] == (
        f"The Task state in AWS Step Functions execution [{execution}] which was managing "
        "this resource was aborted"
    )
    machine_role = state_machine_role_arn(template).rsplit("/", 1)[1]
    terminated = ("batch:TerminateJob", f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job['jobId']}")
    assert terminated in {
        (action, resource)
        for who, action, resource in cloud.authorized.checks
        if f":assumed-role/{machine_role}/" in who
    }
    # its process got SIGTERM and ended as the worker ends an interrupted trial: exit 75
    assert [(n, end.exit_code) for _, n, end in cloud.batch.attempts] == [(1, 75)]
    assert max(cloud.jobs.steps_of(trial.trial_id)) < 149  # stopped, not finished
    # moto ends the stopped execution FAILED (States.Runtime); AWS says ABORTED
    assert [e["status"] for e in cloud.wait_for_executions(timeout=30)] in (["ABORTED"], ["FAILED"])
    # the worker put its trial back itself, as a preemption, with a checkpoint
    assert trial.state is TrialState.QUEUED
    assert (trial.attempt, trial.preemptions, trial.errors) == (1, 1, 0)
    assert trial.failure_reason == "worker stopped by SIGTERM"
    assert trial.checkpoint is not None and trial.checkpoint.step >= EVERY
    stopped_at = trial.checkpoint.step
    assert cloud.service.store.get_scan(scan_id).status is ScanStatus.RUNNING

    # the scan still runs, without an execution: revive starts one, the trial resumes
    assert cloud.invoke("lambdas.orchestration.revive", {}) == {"restarted": [scan_id]}
    assert [e["status"] for e in cloud.wait_for_executions(timeout=90)].count("SUCCEEDED") == 1
    (trial,) = cloud.service.store.list_trials(scan_id)
    assert (trial.state, trial.attempt) == (TrialState.COMPLETED, 2), cloud.jobs.logs()
    resumed = [step for _, attempt, step in cloud.jobs.ledger.lines() if attempt == 2]
    assert resumed == list(range(stopped_at, 150))  # from the checkpoint the SIGTERM saved
    assert cloud.jobs.ledger.repeats() == 0
    assert cloud.service.store.get_scan(scan_id).status is ScanStatus.COMPLETED
