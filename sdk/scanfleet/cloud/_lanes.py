"""The Lambda tasks of the scan state machine, over ScanService.

A lane loops *claim → run (one Batch job) → finish* until the scan is finished. The
claim is ``ScanService.claim_next_trial`` — the same call agents make — so remote scans,
agents and manual workers share one rule of what runs next. Everything a lane knows is in
DynamoDB, so a hand-off or a restart of the execution goes on where the last one stopped.
The tasks read and change scans only through the service's use cases, as the owner the
execution runs for; executions are started by :class:`ScanExecutions` alone.

Failure paths (``docs/cloud.md``): a lane task that fails for good (after the state
machine's retries) is recorded — on the lane's trial, re-queued against its error budget,
and on the scan (its ``status_reason`` while it runs) — and that lane ends. A job that Batch
cancelled after waiting ``runnableTimeoutMinutes`` in RUNNABLE puts its trial back in the
queue as a preemption (never an error) and the scan says why. With an On-Demand fallback
queue, a trial preempted ``onDemandAfterPreemptions`` times runs there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scanfleet.cloud._batch import (
    ENV_ON_DEMAND_AFTER_PREEMPTIONS,
    ENV_ON_DEMAND_QUEUE,
    ENV_RUNNABLE_TIMEOUT_MINUTES,
    RUNNABLE_CANCEL_REASONS,
    JobOutcome,
)
from scanfleet.cloud._executions import ScanExecutions, is_remote, scan_id_of_execution
from scanfleet.cloud._history import (
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
    MAX_LANES_PER_EXECUTION,
    lane_budget,
    must_hand_off,
)
from scanfleet.cloud._jobdefs import JobDefinitions
from scanfleet.cloud._payload import ExecutionInput, Lane, LaneAction, Plan
from scanfleet.config import ScanConfig
from scanfleet.errors import ConflictError
from scanfleet.records import ScanRecord, ScanStatus, TrialRecord, TrialState
from scanfleet.service import ScanFinishedError, ScanService
from scanfleet.store import ScanNotFoundError

log = logging.getLogger("scanfleet.cloud")

# The claim happens before the Batch job is even queued: the lease must cover the wait for
# a Spot instance and the image pull. The worker's first heartbeat shortens it to the
# scan's lease; if the job dies first, the finish step re-queues the trial at once. It is
# never shorter than the time a job may wait RUNNABLE plus START_MARGIN_SECONDS: the reaper
# must not re-queue a trial (and another lane start a second job) while its job still waits.
START_LEASE_SECONDS = 3600.0
START_MARGIN_SECONDS = 1800.0


@dataclass(frozen=True)
class LaneSettings:
    """What the deploy settings tell the lane tasks (environment of the Lambdas)."""

    runnable_timeout_minutes: int = 30
    on_demand_after_preemptions: int | None = None  # None: no On-Demand fallback queue
    region: str = ""

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> LaneSettings:
        after = env.get(ENV_ON_DEMAND_AFTER_PREEMPTIONS)
        has_fallback = bool(env.get(ENV_ON_DEMAND_QUEUE)) or after is not None
        return cls(
            runnable_timeout_minutes=int(env.get(ENV_RUNNABLE_TIMEOUT_MINUTES) or 30),
            on_demand_after_preemptions=int(after or 2) if has_fallback else None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "",
        )

    @property
    def start_lease_seconds(self) -> float:
        return max(START_LEASE_SECONDS, self.runnable_timeout_minutes * 60 + START_MARGIN_SECONDS)

    def run_action(self, trial: TrialRecord) -> LaneAction:
        """Spot, or the On-Demand queue once the trial was preempted often enough."""
        after = self.on_demand_after_preemptions
        if after is not None and trial.preemptions >= after:
            return LaneAction.RUN_ON_DEMAND
        return LaneAction.RUN

    def explain_runnable_cancel(self, outcome: JobOutcome, code: str) -> str:
        why = RUNNABLE_CANCEL_REASONS[code].format(region=self.region or "this region")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        return (
            f"{when}: {why} — Batch job {outcome.job_id} cancelled after "
            f"{self.runnable_timeout_minutes} min RUNNABLE ({code}); its trial went back "
            "to the queue"
        )


@dataclass
class Settled:
    """What the finish step saw and did, for metrics and logs."""

    trial_id: str
    state: TrialState
    spot_interruptions: int = 0
    action: str = "none"


@dataclass
class Revived:
    restarted: list[str] = field(default_factory=list)  # scan ids


class LaneTasks:
    """plan, claim, finish, finalise and revive: one method per Lambda task."""

    def __init__(
        self,
        service: ScanService,
        executions: ScanExecutions,
        *,
        job_definitions: JobDefinitions | None = None,
        settings: LaneSettings | None = None,
    ) -> None:
        self.service = service
        self.executions = executions
        self.job_definitions = job_definitions
        self.settings = settings or LaneSettings()

    # ---- plan ------------------------------------------------------------------------

    def plan(self, inp: ExecutionInput, *, state_machine: str) -> Plan:
        """The lanes this execution runs. More lanes than one inline Map runs at once go to
        sibling executions of the same run; a finished scan gets no lanes."""
        scan = self.service.get_scan(inp.scan_id, owner=inp.owner)
        config = self.service.config_of(scan)
        lanes = inp.lanes if inp.lanes is not None else list(range(config.execution.max_worker))
        if scan.status.is_finished():
            lanes = []
        job_definition = None
        if self.job_definitions is not None and lanes:
            job_definition = self.job_definitions.for_image(config.image)
        mine, rest = lanes[:MAX_LANES_PER_EXECUTION], lanes[MAX_LANES_PER_EXECUTION:]
        if rest:
            self.executions.start_siblings(inp, rest, state_machine_arn=state_machine)
        return Plan(
            scan_id=inp.scan_id,
            owner=inp.owner,
            run=inp.run,
            generation=inp.generation,
            lanes=mine,
            budget=lane_budget(len(mine)),
            job_definition=job_definition,
        )

    # ---- claim -----------------------------------------------------------------------

    def claim(self, lane: Lane) -> Lane:
        """Claim the lane's next trial, or say why not (wait, done, handed off)."""
        if must_hand_off(lane.events, lane.budget):
            self.executions.hand_off(lane)
            return lane.next(LaneAction.HANDED_OFF)
        try:
            trial = self.service.claim_next_trial(
                lane.scan_id,
                lane.worker_id,
                owner=lane.owner,
                lease_seconds=self.settings.start_lease_seconds,
            )
        except (ScanFinishedError, ScanNotFoundError):
            return lane.next(LaneAction.DONE)
        if trial is None:
            return lane.next(LaneAction.WAIT, events=lane.events + EVENTS_PER_WAIT)
        return lane.next(
            self.settings.run_action(trial),
            events=lane.events + EVENTS_PER_TRIAL,
            trial_id=trial.trial_id,
            attempt=trial.attempt,
        )

    # ---- finish ----------------------------------------------------------------------

    def finish(
        self,
        lane: Lane,
        *,
        job: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> tuple[Lane, Settled]:
        """Settle the lane's trial from how its Batch job ended.

        The worker in the job settles the trial itself when it can (complete, prune, fail,
        or re-queue on a Spot notice). What is left to do here is what only the job's end
        shows: the instance was reclaimed before the worker could say so (a preemption:
        re-queued against the preemption budget), the job failed without settling (a
        failure against the error budget), it succeeded without settling (FAILED), or Batch
        cancelled it before it ran, after ``runnableTimeoutMinutes`` in RUNNABLE (re-queued
        as a preemption, never an error, and the scan says why).
        """
        if lane.trial_id is None:
            raise ValueError("finish needs the lane's trial_id")
        outcome = JobOutcome.from_description(job) if job else JobOutcome.from_error(error or {})
        trial = self.service.get_trial(lane.trial_id, owner=lane.owner)
        settled = Settled(trial.trial_id, trial.state, outcome.spot_interruptions)
        if self._held_by_lane(trial, lane):
            code = outcome.runnable_cancel_reason
            if code is not None:
                trial = self._requeue_unplaced(trial, lane, outcome, code)
            else:
                trial = self._settle(trial, lane, outcome)
            settled.state = trial.state
            settled.action = "requeued" if trial.state is TrialState.QUEUED else "failed"
        return lane.next(LaneAction.RUN), settled

    def _requeue_unplaced(
        self, trial: TrialRecord, lane: Lane, outcome: JobOutcome, code: str
    ) -> TrialRecord:
        """The job never ran: no capacity, quota or fitting instance. Not the script's
        fault: back to the queue as a preemption; the scan shows why."""
        message = self.settings.explain_runnable_cancel(outcome, code)
        self._note_on_scan(lane, message)
        return self.service.fail(
            trial.trial_id, message, owner=lane.owner, attempt=trial.attempt, preempted=True
        )

    # ---- a lane task that failed for good --------------------------------------------

    def record_lane_error(self, lane: Lane, error: Mapping[str, Any]) -> Lane:
        """The lane's Claim or Finish failed after its retries: record why on the lane's
        trial (re-queued against its error budget, so another lane runs it) and on the scan,
        and end this lane. The other lanes go on."""
        reason = f"lane {lane.lane} stopped: {describe_task_error(error)}"
        log.error("scan %s: %s", lane.scan_id, reason)
        if lane.trial_id is not None:
            trial = self.service.get_trial(lane.trial_id, owner=lane.owner)
            if self._held_by_lane(trial, lane):
                self.service.fail(trial.trial_id, reason, owner=lane.owner, attempt=trial.attempt)
        self._note_on_scan(lane, reason)
        return lane.next(LaneAction.DONE)

    def _note_on_scan(self, lane: Lane, message: str) -> None:
        """What the scan shows while it runs (its ``status_reason``)."""
        with contextlib.suppress(ScanNotFoundError):
            self.service.store.set_scan_status(
                lane.scan_id,
                ScanStatus.RUNNING,
                reason=message[:1000],
                expected=ScanStatus.RUNNING,
                now=time.time(),
            )

    def _held_by_lane(self, trial: TrialRecord, lane: Lane) -> bool:
        return trial.state is TrialState.RUNNING and trial.worker_id == lane.worker_id

    def _settle(self, trial: TrialRecord, lane: Lane, outcome: JobOutcome) -> TrialRecord:
        reason = outcome.describe()
        if outcome.succeeded:
            return self.service.fail(
                trial.trial_id,
                f"{reason}, but the trial was not settled",
                owner=lane.owner,
                attempt=trial.attempt,
                retry=False,
            )
        return self.service.fail(
            trial.trial_id,
            reason,
            owner=lane.owner,
            attempt=trial.attempt,
            preempted=outcome.last_attempt_spot_reclaimed,
        )

    # ---- finalise --------------------------------------------------------------------

    def finalise(self, plan: Plan) -> dict[str, Any]:
        """The scan's status and counts once this execution's lanes have ended (every
        execution of the scan runs it; it changes nothing)."""
        summary = self.service.summarize(plan.scan_id, owner=plan.owner)
        return {
            "scan_id": plan.scan_id,
            "status": summary.scan.status.value,
            "counts": {state.value: n for state, n in summary.counts.items()},
        }

    # ---- revive ----------------------------------------------------------------------

    def revive(self, *, recent: int = 100) -> Revived:
        """Restart the scans whose execution failed, timed out or was stopped while the scan
        still runs and no other execution of it runs: the new run goes on from DynamoDB
        (stale leases are re-queued first, so nothing waits for a dead worker)."""
        revived = Revived()
        running = {scan_id_of_execution(e["name"]) for e in self.executions.executions("RUNNING")}
        looked_at: set[str] = set()
        for status in ("FAILED", "TIMED_OUT", "ABORTED"):
            for n, execution in enumerate(self.executions.executions(status)):
                if n >= recent:
                    break
                scan_id = scan_id_of_execution(execution["name"])
                if scan_id in running or scan_id in looked_at:
                    continue
                looked_at.add(scan_id)
                if self._restart_if_running(scan_id, execution["executionArn"]):
                    running.add(scan_id)
                    revived.restarted.append(scan_id)
        return revived

    def _restart_if_running(self, scan_id: str, execution_arn: str) -> bool:
        """Restart the scan of a stopped execution, as the owner that execution ran for."""
        owner = self.executions.input_of(execution_arn).owner
        try:
            scan = self.service.get_scan(scan_id, owner=owner)
        except ScanNotFoundError:
            return False
        if scan.status is not ScanStatus.RUNNING or not is_remote(scan):
            return False
        self.service.reclaim_stale(scan_id, owner=scan.owner)
        self._release_unstarted(scan, execution_arn.rsplit(":", 1)[-1])
        # named after the execution it replaces: two revives that both saw it stopped start
        # the same execution once (ListExecutions may lag behind a start)
        if self.executions.restart(scan, replacing=execution_arn) is None:
            return False
        log.warning("scan %s had no running execution; restarted it", scan_id)
        return True

    def _release_unstarted(self, scan: ScanRecord, execution_name: str) -> None:
        """Re-queue the trials the stopped execution's lanes claimed whose job never ran:
        Step Functions terminated it while RUNNABLE (or the stop came between claim and
        submit), so no worker will settle them, and they still hold the start lease (an
        hour), which a job's first heartbeat would have cut to the scan's lease. A job
        that did run re-queues its own trial when terminated."""
        lease = ScanConfig.model_validate(scan.config).execution.lease_seconds
        holders, now = f"{execution_name}/lane-", time.time()
        running = frozenset({TrialState.RUNNING})
        for trial in self.service.list_trials(scan.scan_id, owner=scan.owner, states=running):
            unstarted = (trial.lease_expires_at or 0.0) > now + lease
            if unstarted and (trial.worker_id or "").startswith(holders):
                with contextlib.suppress(ConflictError):  # its job took it after all
                    self.service.fail(
                        trial.trial_id,
                        f"execution {execution_name} stopped before the trial's job started",
                        owner=scan.owner,
                        attempt=trial.attempt,
                        preempted=True,
                    )


def describe_task_error(error: Mapping[str, Any]) -> str:
    """``Error: message`` of a caught task error (a Lambda's cause is its JSON error)."""
    name = str(error.get("Error") or error.get("error") or "Error")
    cause = str(error.get("Cause") or error.get("cause") or "")
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = str(parsed["errorMessage"])
    return f"{name}: {cause[:500]}" if cause else name
