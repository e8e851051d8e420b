"""The lane tasks on their failure paths, over a real store: a lane error recorded on the
trial and the scan, a job cancelled while RUNNABLE, the On-Demand fallback, and revives
racing on a stale ListExecutions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scanfleet.cloud import (
    ENV_ON_DEMAND_AFTER_PREEMPTIONS,
    ENV_ON_DEMAND_QUEUE,
    ENV_RUNNABLE_TIMEOUT_MINUTES,
    START_LEASE_SECONDS,
    JobOutcome,
    LaneAction,
    LaneSettings,
    LaneTasks,
    describe_task_error,
)
from scanfleet.records import ScanStatus, TrialState

from tests.unit.cloud.lanes_fixtures import OWNER, World, remote

CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
QUOTA = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"


def cancelled_while_runnable(reason: str) -> dict[str, Any]:
    """What the .sync task's error carries when the queue's state-time limit cancelled the
    job: FAILED, never started, no attempts, the limit's reason."""
    description = {"JobId": "job-9", "Status": "FAILED", "StatusReason": reason, "Attempts": []}
    return {"Error": "States.TaskFailed", "Cause": json.dumps(description)}


def lambda_error(message: str, kind: str = "RuntimeError") -> dict[str, Any]:
    cause = {"errorType": kind, "errorMessage": message, "stackTrace": []}
    return {"Error": kind, "Cause": json.dumps(cause)}


def with_settings(world: World, settings: LaneSettings) -> LaneTasks:
    return LaneTasks(world.service, world.executions, settings=settings)


# ---- a lane task that failed for good ------------------------------------------------------


def test_a_claim_that_failed_for_good_ends_its_lane_and_the_scan_says_why(world: World) -> None:
    scan = world.scan()
    ended = world.tasks.record_lane_error(world.lane(scan, lane=1), lambda_error("boom"))
    assert ended.action is LaneAction.DONE
    after = world.service.store.get_scan(scan.scan_id)
    assert after.status is ScanStatus.RUNNING
    assert after.status_reason == "lane 1 stopped: RuntimeError: boom"
    # the other lanes go on: the scan's trials are still there to claim
    assert world.tasks.claim(world.lane(scan, lane=0)).action is LaneAction.RUN


def test_a_finish_that_failed_for_good_puts_its_trial_back_against_the_error_budget(
    world: World,
) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    world.tasks.record_lane_error(lane, lambda_error("store gone", "StoreBusyError"))
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.errors, trial.preemptions) == (TrialState.QUEUED, 1, 0)
    assert "lane 0 stopped: StoreBusyError: store gone" in (trial.failure_reason or "")
    other = world.tasks.claim(world.lane(scan, lane=1))
    assert other.trial_id == lane.trial_id  # another lane runs it


def test_a_task_error_reads_the_lambda_message_or_the_plain_cause() -> None:
    assert describe_task_error(lambda_error("no", "ValueError")) == "ValueError: no"
    assert describe_task_error({"Error": "States.Timeout", "Cause": "took too long"}) == (
        "States.Timeout: took too long"
    )
    assert describe_task_error({}) == "Error"


# ---- a job cancelled after waiting RUNNABLE --------------------------------------------------


def test_a_job_cancelled_while_runnable_requeues_its_trial_without_an_error(world: World) -> None:
    tasks = with_settings(world, LaneSettings(runnable_timeout_minutes=30, region="eu-west-1"))
    scan = world.scan(remote(retries={"max_errors": 0}))
    lane = tasks.claim(world.lane(scan))
    _, settled = tasks.finish(lane, error=cancelled_while_runnable(CAPACITY))
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.errors, trial.preemptions) == (TrialState.QUEUED, 0, 1)
    assert settled.action == "requeued" and settled.spot_interruptions == 0
    reason = world.service.store.get_scan(scan.scan_id).status_reason or ""
    assert "no Spot capacity for the stack's GPU instance types in eu-west-1" in reason
    assert "job-9 cancelled after 30 min RUNNABLE (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY)" in (
        reason
    )
    assert trial.failure_reason == reason  # the trial says the same
    again = tasks.claim(world.lane(scan, lane=1))
    assert again.trial_id == lane.trial_id and again.action is LaneAction.RUN


def test_a_quota_too_small_is_named_on_the_scan(world: World) -> None:
    tasks = with_settings(world, LaneSettings(runnable_timeout_minutes=45, region="us-east-1"))
    scan = world.scan()
    lane = tasks.claim(world.lane(scan))
    tasks.finish(lane, error=cancelled_while_runnable(QUOTA))
    reason = world.service.store.get_scan(scan.scan_id).status_reason or ""
    assert "vCPU quota for G and VT instances in us-east-1" in reason and "45 min" in reason


def test_a_failed_job_that_ran_is_not_taken_for_a_runnable_cancel() -> None:
    attempt = {"StatusReason": "Essential container exited", "Container": {"ExitCode": 1}}
    ran = {"JobId": "j", "Status": "FAILED", "StatusReason": CAPACITY, "Attempts": [attempt]}
    assert JobOutcome.from_description(ran).runnable_cancel_reason is None
    cancelled = {"JobId": "j", "Status": "FAILED", "StatusReason": "scan cancelled"}
    assert JobOutcome.from_description(cancelled).runnable_cancel_reason is None
    stuck = json.loads(cancelled_while_runnable(QUOTA)["Cause"])
    assert JobOutcome.from_description(stuck).runnable_cancel_reason == QUOTA


def test_the_start_lease_outlasts_a_long_runnable_limit(world: World) -> None:
    tasks = with_settings(world, LaneSettings(runnable_timeout_minutes=120))
    scan = world.scan()
    lane = tasks.claim(world.lane(scan))
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert trial.lease_expires_at is not None and trial.started_at is not None
    held = trial.lease_expires_at - trial.started_at
    assert held >= 120 * 60 + 1800 > START_LEASE_SECONDS


# ---- the On-Demand fallback ----------------------------------------------------------------


def test_a_trial_preempted_often_enough_runs_on_demand(world: World) -> None:
    tasks = with_settings(world, LaneSettings(on_demand_after_preemptions=2))
    scan = world.scan()
    lane = tasks.claim(world.lane(scan))
    assert lane.action is LaneAction.RUN  # Spot first
    for n in (1, 2):
        world.service.fail(lane.trial_id or "", "reclaimed", owner=OWNER, preempted=True)
        lane = tasks.claim(world.lane(scan))
        expected = LaneAction.RUN if n < 2 else LaneAction.RUN_ON_DEMAND
        assert lane.action is expected, n


def test_without_a_fallback_queue_every_trial_runs_on_spot(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    for _ in range(3):
        world.service.fail(lane.trial_id or "", "reclaimed", owner=OWNER, preempted=True)
        lane = world.tasks.claim(world.lane(scan))
        assert lane.action is LaneAction.RUN


def test_lane_settings_come_from_the_lambda_environment() -> None:
    env = {
        ENV_ON_DEMAND_QUEUE: "arn:queue/od",
        ENV_ON_DEMAND_AFTER_PREEMPTIONS: "1",
        ENV_RUNNABLE_TIMEOUT_MINUTES: "60",
        "AWS_REGION": "eu-west-1",
    }
    assert LaneSettings.from_environment(env) == LaneSettings(60, 1, "eu-west-1")
    assert LaneSettings.from_environment({}) == LaneSettings(30, None, "")


# ---- revive --------------------------------------------------------------------------------


def test_two_revives_racing_start_one_execution(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ListExecutions is eventually consistent: the second revive does not see the first
    one's restart yet. The restart's name comes from the execution it replaces, so the
    second start finds the first."""
    scan = world.scan()
    world.sfn.stop_execution(executionArn=world.start_execution(scan))

    def stale_running_list(params: dict[str, Any], **_: Any) -> Any:
        if params.get("statusFilter") == "RUNNING":
            return _answer({"executions": []})
        return None

    world.sfn.meta.events.register(
        "before-call.sfn.ListExecutions", stale_running_list, unique_id="stale"
    )
    first, second = world.tasks.revive(), world.tasks.revive()
    world.sfn.meta.events.unregister("before-call.sfn.ListExecutions", unique_id="stale")

    assert first.restarted == [scan.scan_id]
    running = world.executions.running(scan.scan_id)
    assert len(running) == 1
    assert len(world.started()) == 2  # the stopped one and its one restart
    assert second.restarted in ([], [scan.scan_id])  # found the running restart, started none


def _answer(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A botocore short-circuit answer: (http response, parsed body)."""
    from botocore.awsrequest import AWSResponse

    http = AWSResponse("https://states.us-east-1.amazonaws.com", 200, {}, None)
    return http, {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}


def test_revive_puts_back_the_trials_whose_job_never_started_and_leaves_a_running_one(
    world: World,
) -> None:
    """The stopped execution's lanes claimed two trials; Step Functions terminated their
    jobs. One job had started (its heartbeat cut the start lease to the scan's lease, and
    on SIGTERM it re-queues its trial itself); the other never left RUNNABLE: nothing will
    ever settle it, and revive must not leave it waiting out the hour-long start lease."""
    scan = world.scan()
    arn = world.start_execution(scan)
    name = arn.rsplit(":", 1)[-1]
    unstarted, started = (
        world.tasks.claim(world.lane(scan, lane, execution=name)) for lane in (0, 1)
    )
    assert unstarted.trial_id and started.trial_id
    world.service.heartbeat(
        started.trial_id, owner=OWNER, worker_id=f"{name}/lane-1", attempt=started.attempt
    )
    world.sfn.stop_execution(executionArn=arn)

    assert world.tasks.revive().restarted == [scan.scan_id]

    back = world.service.get_trial(unstarted.trial_id, owner=OWNER)
    assert (back.state, back.preemptions, back.errors) == (TrialState.QUEUED, 1, 0)
    assert "stopped before the trial's job started" in (back.failure_reason or "")
    still = world.service.get_trial(started.trial_id, owner=OWNER)
    assert still.state is TrialState.RUNNING  # its job's own SIGTERM path settles it
