"""A remote scan end to end in moto: created through the API Lambda, run by the REAL state
machine of the synthesised stack, its trials run by Batch jobs that are the worker's
entrypoint, one of them reclaimed by Spot and resumed from its checkpoint."""

from __future__ import annotations

import time
from typing import Any

import boto3
from scanfleet.cloud._history import (
    EVENTS_PER_LANE_END,
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
    EXECUTION_OVERHEAD,
)
from scanfleet.records import ScanStatus, TrialState

from tests.cloud.deploy import ACCOUNT, REGION
from tests.cloud.harness import Cloud, SpotPlan, count_history, execution_history, job_role_name
from tests.cloud.moto_patches import ABORTED_TASK_REASON

TRIALS = 5
MAX_WORKER = 2
STEPS, EVERY = 12, 3
IMAGE = "ghcr.io/lab/trainer:2.1"


def remote_scan(**execution: Any) -> dict[str, Any]:
    """A grid of TRIALS trials of the fault tier's step-counting script, run on Batch."""
    return {
        "strategy": "grid",
        "command": "python steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "execution": {"type": "remote", "max_worker": MAX_WORKER, "lease_seconds": 3, **execution},
        "parameters": {
            "steps": {"value": STEPS},
            "every": {"value": EVERY},
            "seed": {"values": list(range(TRIALS))},
        },
    }


def test_a_remote_scan_completes_every_trial_and_survives_a_spot_reclaim(
    cloud: Cloud, template: dict[str, Any]
) -> None:
    cloud.jobs.spot = SpotPlan(job_number=1, attempt=1, after_steps=EVERY + 1)
    config = remote_scan() | {"image": IMAGE}
    status, body = cloud.api("POST", "/scans", {"name": "e2e", "config": config})
    assert status == 201, body
    scan_id = body["scan"]["scan_id"]

    executions = cloud.wait_for_executions(timeout=90)

    assert [e["status"] for e in executions] == ["SUCCEEDED"], cloud.jobs.logs()
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * TRIALS, cloud.jobs.logs()
    assert cloud.service.store.get_scan(scan_id).status is ScanStatus.COMPLETED
    # alice created it for her account; every job signed as a session of the job role
    assert cloud.service.store.get_scan(scan_id).owner == ACCOUNT
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/{job_role_name(template)}/"
    assert cloud.gateway.callers and all(c.startswith(role) for c in cloud.gateway.callers)
    assert len(set(cloud.gateway.callers)) == cloud.batch.submitted  # a session per job
    reclaimed = [t for t in trials if t.preemptions]
    assert len(reclaimed) == 1 and cloud.jobs.spot_notices == 1
    (spot_trial,) = reclaimed
    assert spot_trial.attempt == 2
    assert all(t.attempt == 1 for t in trials if t is not spot_trial)
    # the retry resumed from the checkpoint taken at the notice, not from step 0
    resumed = [s for t, a, s in cloud.jobs.ledger.lines() if t == spot_trial.trial_id and a == 2]
    assert resumed[0] >= EVERY, resumed
    # Batch retried the reclaimed job by its retry strategy. (If another lane claimed the
    # re-queued trial first, that retry found it taken and ended; see docs/cloud.md.)
    spot_runs = [(n, end) for name, n, end in cloud.batch.attempts if name == spot_trial.trial_id]
    reclaimed_runs = [n for n, end in spot_runs if end.status_reason.startswith("Host EC2")]
    assert reclaimed_runs == [1]
    assert 2 in [n for n, _ in spot_runs]  # the retry strategy ran the reclaimed job again
    others = [name for name, n, _ in cloud.batch.attempts if name != spot_trial.trial_id]
    assert sorted(others) == sorted(t.trial_id for t in trials if t is not spot_trial)
    assert cloud.batch.max_running <= MAX_WORKER
    assert cloud.batch.max_running == MAX_WORKER  # the lanes did run side by side
    # every job ran with the scan's own image (a copy of the stack's job definition)
    assert cloud.batch.images == {IMAGE}

    # the history arithmetic of scanfleet.cloud._history, against the real history
    count = count_history(execution_history(executions[0]["executionArn"]))
    assert count.per_trial == EVENTS_PER_TRIAL
    runs, waits, lanes = (count.visits.get(s, 0) for s in ("RunTrial", "Idle", "LaneEnd"))
    assert runs == cloud.batch.submitted and lanes == MAX_WORKER
    lane_events = runs * EVENTS_PER_TRIAL + waits * EVENTS_PER_WAIT + lanes * EVENTS_PER_LANE_END
    assert 0 < count.total - lane_events <= EXECUTION_OVERHEAD


def wait_until(predicate: Any, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_cancelling_a_remote_scan_stops_its_execution_and_terminates_its_jobs(
    cloud: Cloud,
) -> None:
    config = remote_scan()
    config["parameters"]["steps"] = {"value": 2_000}  # ~40 s a trial: still running at cancel
    _, body = cloud.api("POST", "/scans", {"name": "to-cancel", "config": config})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: len({t for t, _, _ in cloud.jobs.ledger.lines()}) == MAX_WORKER, 60, "jobs")

    status, body = cloud.api("POST", f"/scans/{scan_id}/cancel")

    assert status == 200 and body["scan"]["status"] == "CANCELLED"
    executions = cloud.wait_for_executions(timeout=30)
    # AWS reports ABORTED; moto's interpreter, stopped while a .sync task polls, ends the
    # execution FAILED (States.Runtime) instead — either way it stopped at once
    assert [e["status"] for e in executions] in (["ABORTED"], ["FAILED"])
    wait_until(lambda: len(cloud.batch.attempts) == MAX_WORKER, 30, "terminated jobs")
    batch = boto3.client("batch", region_name=REGION)
    listed = batch.list_jobs(jobQueue=cloud.deployment.job_queue_arn, jobStatus="FAILED")
    described = batch.describe_jobs(jobs=[j["jobId"] for j in listed["jobSummaryList"]])["jobs"]
    # the cancel and the stopped execution both terminate the jobs: the first reason stays
    (execution,) = executions
    aborted = ABORTED_TASK_REASON.format(execution=execution["executionArn"])
    assert len(described) == MAX_WORKER
    assert {j["statusReason"] for j in described} <= {"scan cancelled", aborted}
    assert cloud.batch.submitted == MAX_WORKER  # nothing started after the cancel
    trials = cloud.service.store.list_trials(scan_id)
    assert {t.state for t in trials} == {TrialState.FAILED}
    assert max(s for _, _, s in cloud.jobs.ledger.lines()) < 1_000  # stopped, not finished


def test_a_scan_whose_execution_died_is_revived_and_goes_on_from_dynamodb(cloud: Cloud) -> None:
    config = remote_scan(max_worker=1)
    _, body = cloud.api("POST", "/scans", {"name": "revived", "config": config})
    scan_id = body["scan"]["scan_id"]
    wait_until(lambda: len({t for t, _, _ in cloud.jobs.ledger.lines()}) == 2, 60, "a 2nd trial")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    (first,) = cloud.wait_for_executions_started()
    sfn.stop_execution(executionArn=first, error="Test.Failure", cause="an execution died")
    cloud.wait_for_executions(timeout=30)

    revived = cloud.invoke("lambdas.orchestration.revive", {})

    assert revived == {"restarted": [scan_id]}
    executions = cloud.wait_for_executions(timeout=90)
    assert sorted(e["status"] for e in executions)[-1] == "SUCCEEDED" and len(executions) == 2
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * TRIALS, cloud.jobs.logs()
    # the stop terminated the job in flight (unless it had just finished): its worker put the
    # trial back as a preemption and the revived run resumed it from that checkpoint
    assert all((t.attempt, t.preemptions) in ((1, 0), (2, 1)) for t in trials)
    assert sum(t.attempt for t in trials) <= TRIALS + 1
    assert cloud.jobs.ledger.repeats() == 0  # no step of the trial in flight ran twice
    assert cloud.service.store.get_scan(scan_id).status is ScanStatus.COMPLETED


def test_a_host_lost_without_notice_is_resumed_from_its_checkpoint_by_the_jobs_retry(
    cloud: Cloud,
) -> None:
    cloud.jobs.spot = SpotPlan(job_number=1, attempt=1, after_steps=EVERY + 2, notice=False)
    config = remote_scan()
    config["parameters"]["seed"] = {"values": [0, 1, 2]}
    _, body = cloud.api("POST", "/scans", {"name": "vanished", "config": config})
    scan_id = body["scan"]["scan_id"]

    executions = cloud.wait_for_executions(timeout=90)

    assert [e["status"] for e in executions] == ["SUCCEEDED"], cloud.jobs.logs()
    trials = cloud.service.store.list_trials(scan_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3, cloud.jobs.logs()
    (lost,) = [(name, end) for name, _, end in cloud.batch.attempts if end.exit_code is None]
    assert lost[1].status_reason.startswith("Host EC2")
    # the retry waited for the dead attempt's lease, which re-queued it as a preemption
    (trial,) = [t for t in trials if t.trial_id == lost[0]]
    assert (trial.attempt, trial.preemptions, trial.errors) == (2, 1, 0)
    steps = cloud.jobs.steps_of(lost[0])
    resumed = steps[cloud.jobs.steps_before_loss]
    assert resumed >= EVERY and resumed % EVERY == 0, steps  # from a checkpoint
    assert sorted(set(steps)) == list(range(STEPS))
