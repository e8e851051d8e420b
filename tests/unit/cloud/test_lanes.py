"""The Lambda tasks of the scan state machine over a real store: plan, claim, finish,
finalise, revive."""

from __future__ import annotations

import json
from typing import Any

from scanfleet.cloud import (
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
    MAX_LANES_PER_EXECUTION,
    START_LEASE_SECONDS,
    ExecutionInput,
    LaneAction,
    lane_budget,
)
from scanfleet.records import ScanStatus, TrialState

from tests.unit.cloud.lanes_fixtures import OWNER, World, remote

SPOT = "Host EC2 (instance i-0abc) terminated."


def job(status: str, *attempts: tuple[str, int | None]) -> dict[str, Any]:
    """A Batch job description as Step Functions hands it over (PascalCase)."""
    return {
        "JobId": "job-1",
        "Status": status,
        "Attempts": [
            {"StatusReason": reason, "Container": {"ExitCode": code}} for reason, code in attempts
        ],
    }


# ---- plan --------------------------------------------------------------------------------


def test_plan_gives_one_lane_per_worker_and_shares_the_history_budget(world: World) -> None:
    scan = world.scan(remote(max_worker=3))
    inp = ExecutionInput(scan_id=scan.scan_id, owner=OWNER, run="r1")
    plan = world.tasks.plan(inp, state_machine=world.executions.state_machine_arn)
    assert plan.lanes == [0, 1, 2]
    assert plan.budget == lane_budget(3) == (25_000 - 1_000) // 3
    assert world.started() == []


def test_plan_sends_lanes_beyond_one_inline_map_to_sibling_executions(world: World) -> None:
    scan = world.scan(remote(max_worker=90))
    inp = ExecutionInput(scan_id=scan.scan_id, owner=OWNER, run="r1")
    plan = world.tasks.plan(inp, state_machine=world.executions.state_machine_arn)
    assert plan.lanes == list(range(MAX_LANES_PER_EXECUTION))
    assert [s.lanes for s in world.started()] == [list(range(40, 80)), list(range(80, 90))]
    assert {(s.run, s.generation) for s in world.started()} == {("r1", 0)}


def test_plan_of_a_finished_scan_has_no_lanes(world: World) -> None:
    scan = world.scan()
    world.service.cancel(scan.scan_id, owner=OWNER)
    inp = ExecutionInput(scan_id=scan.scan_id, owner=OWNER, run="r1")
    assert world.tasks.plan(inp, state_machine="arn").lanes == []


# ---- claim -------------------------------------------------------------------------------


def test_claim_holds_the_trial_for_the_lane_until_its_job_starts(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan, lane=1))
    assert lane.action is LaneAction.RUN and lane.events == EVENTS_PER_TRIAL
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert trial.state is TrialState.RUNNING and trial.worker_id == lane.worker_id
    assert lane.worker_id.endswith("/lane-1") and lane.attempt == 1
    assert trial.lease_expires_at is not None
    assert trial.lease_expires_at - (trial.started_at or 0) == START_LEASE_SECONDS
    assert json.loads(json.dumps(lane.dump()))["worker_id"] == lane.worker_id


def test_claim_waits_while_the_last_trials_run_and_ends_when_the_scan_is_done(
    world: World,
) -> None:
    scan = world.scan()
    lanes = [world.tasks.claim(world.lane(scan, lane=n)) for n in range(3)]
    idle = world.tasks.claim(world.lane(scan, lane=3))
    assert idle.action is LaneAction.WAIT and idle.events == EVENTS_PER_WAIT
    for lane in lanes:
        world.service.complete(lane.trial_id or "", 1.0, owner=OWNER)
    assert world.tasks.claim(idle).action is LaneAction.DONE
    assert world.service.store.get_scan(scan.scan_id).status is ScanStatus.COMPLETED


def test_a_lane_whose_budget_is_spent_hands_off_to_a_new_execution(world: World) -> None:
    scan = world.scan()
    lane = world.lane(scan, lane=2, generation=4, budget=1_000, events=1_000 - EVENTS_PER_TRIAL)
    answer = world.tasks.claim(lane)
    assert answer.action is LaneAction.HANDED_OFF and answer.trial_id is None
    (successor,) = world.started()
    assert (successor.lanes, successor.generation, successor.run) == ([2], 5, "r1")
    assert world.service.store.counts(scan.scan_id)[TrialState.RUNNING] == 0  # nothing claimed


# ---- finish ------------------------------------------------------------------------------


def test_finish_leaves_a_trial_the_worker_settled(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    world.service.complete(lane.trial_id or "", 0.5, owner=OWNER)
    after, settled = world.tasks.finish(lane, job=job("SUCCEEDED", ("exited", 0)))
    assert settled.state is TrialState.COMPLETED and settled.action == "none"
    assert after.action is LaneAction.RUN and after.trial_id is None


def test_a_host_lost_to_spot_requeues_the_trial_as_a_preemption(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    error = {"Error": "States.TaskFailed", "Cause": json.dumps(job("FAILED", (SPOT, None)))}
    _, settled = world.tasks.finish(lane, error=error)
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.preemptions, trial.errors) == (TrialState.QUEUED, 1, 0)
    assert settled.spot_interruptions == 1 and settled.action == "requeued"


def test_a_failed_job_counts_against_the_error_budget(world: World) -> None:
    scan = world.scan(remote(retries={"max_errors": 1}))
    lane = world.tasks.claim(world.lane(scan))
    failed = {"Error": "States.TaskFailed", "Cause": json.dumps(job("FAILED", ("exited", 1)))}
    world.tasks.finish(lane, error=failed)
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.errors) == (TrialState.QUEUED, 1)
    again = world.tasks.claim(world.lane(scan))
    assert again.trial_id == lane.trial_id  # re-queued trials go first
    world.tasks.finish(again, error=failed)
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert trial.state is TrialState.FAILED and "exit code 1" in (trial.failure_reason or "")


def test_a_job_that_succeeded_without_settling_fails_its_trial(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    _, settled = world.tasks.finish(lane, job=job("SUCCEEDED", ("exited", 0)))
    assert settled.state is TrialState.FAILED
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert "not settled" in (trial.failure_reason or "")


def test_a_job_that_could_not_be_submitted_is_an_error_of_its_trial(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    error = {"Error": "Batch.ClientException", "Cause": "Job queue does not exist"}
    world.tasks.finish(lane, error=error)
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.errors) == (TrialState.QUEUED, 1)


def test_finish_leaves_alone_a_trial_another_worker_took(world: World) -> None:
    scan = world.scan()
    lane = world.tasks.claim(world.lane(scan))
    error = {"Error": "States.TaskFailed", "Cause": json.dumps(job("FAILED", (SPOT, 75)))}
    world.service.fail(lane.trial_id or "", "notice", owner=OWNER, preempted=True)
    other = world.tasks.claim(world.lane(scan, lane=1))
    assert other.trial_id == lane.trial_id
    world.tasks.finish(lane, error=error)
    trial = world.service.store.get_trial(lane.trial_id or "")
    assert (trial.state, trial.worker_id, trial.preemptions) == (
        TrialState.RUNNING,
        other.worker_id,
        1,
    )


# ---- finalise and revive -----------------------------------------------------------------


def test_finalise_reports_the_scan_status_and_counts(world: World) -> None:
    scan = world.scan()
    world.service.cancel(scan.scan_id, owner=OWNER)
    inp = ExecutionInput(scan_id=scan.scan_id, owner=OWNER, run="r1")
    plan = world.tasks.plan(inp, state_machine="arn")
    summary = world.tasks.finalise(plan)
    assert summary["status"] == "CANCELLED" and summary["counts"]["QUEUED"] == 0


def test_revive_restarts_a_running_scan_whose_execution_stopped(world: World) -> None:
    live, cancelled, agents = world.scan(), world.scan(), world.scan(remote() | {"execution": {}})
    world.service.cancel(cancelled.scan_id, owner=OWNER)
    for scan in (live, cancelled, agents):
        arn = world.start_execution(scan)  # as if each had run remotely once
        world.sfn.stop_execution(executionArn=arn)  # ABORTED
    assert world.tasks.revive().restarted == [live.scan_id]
    assert world.executions.running(live.scan_id) != []
    assert world.tasks.revive().restarted == []  # it runs again: nothing to do
