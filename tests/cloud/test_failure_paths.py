"""The state machine's failure paths, run for real in moto: a lane whose claim breaks ends
alone, a throttled DynamoDB transaction is retried, a job cancelled while RUNNABLE puts
its trial back without an error, and with the On-Demand fallback the trial's next job
goes to the On-Demand queue."""

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
from tests.cloud.deploy import REGION
from tests.cloud.harness import Cloud, count_history, execution_history, running_cloud
from tests.cloud.test_remote_scan import TRIALS, remote_scan, wait_until

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
