"""The executions of the scan state machine and the Batch jobs they run, seen per scan.

:class:`ScanExecutions` is the service's scan lifecycle in AWS (``scanfleet.service.
ScanLifecycle``): a remote scan starts running when it is created, and again whenever a
COMPLETED scan is re-opened; cancelling or deleting it stops its executions and terminates
its Batch jobs. Scans of other execution types are left alone. It is also the one place
that starts executions at all: the lane tasks ask it for sibling executions, hand-offs
and restarts (``start_siblings``, ``hand_off``, ``restart``).

Every execution of a scan is named ``<scan_id>-<run>-<generation>-<first lane>``: the
scan's executions are found by name, a start or restart (a new ``run``) never collides
with an earlier one, and a hand-off (``generation + 1``) never collides with its parent.
A restart's ``run`` is derived from the name of the execution it replaces, so two revives
racing on the same stopped execution start one execution: the second start finds it
(Step Functions answers the running one, or ExecutionAlreadyExists once it has ended).
Every Batch job of a scan is named after its trial id, which starts with the scan id.
The clients are injected (boto3 ``stepfunctions`` and ``batch``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from scanfleet.cloud._history import MAX_LANES_PER_EXECUTION
from scanfleet.cloud._payload import ExecutionInput, Lane
from scanfleet.config import ExecutionType, ScanConfig
from scanfleet.errors import RunNotStartedError
from scanfleet.records import ScanRecord

log = logging.getLogger("scanfleet.cloud")

_ACTIVE_JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_run_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


def replacement_run_id(execution_arn: str) -> str:
    """The run id of the restart that replaces ``execution_arn``: the same for every revive
    that sees that execution stopped."""
    digest = hashlib.sha256(execution_arn.encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:6])


def execution_name(scan_id: str, run: str, generation: int, first_lane: int) -> str:
    return f"{scan_id}-{run}-{generation}-{first_lane}"


def scan_id_of_execution(name: str) -> str:
    """The scan an execution belongs to (names are ``<scan_id>-<run>-<gen>-<lane>``)."""
    return name.rsplit("-", 3)[0]


def job_name(trial_id: str) -> str:
    """Batch job names allow letters, digits, hyphens and underscores, up to 128."""
    return trial_id[:128]


def is_remote(scan: ScanRecord) -> bool:
    """Whether the scan's trials run on Batch (its config says ``execution: remote``)."""
    return ScanConfig.model_validate(scan.config).execution.type is ExecutionType.REMOTE


class ScanExecutions:
    """Start, find and stop the executions of scans; terminate their Batch jobs."""

    def __init__(
        self,
        state_machine_arn: str,
        *,
        stepfunctions: Any,
        batch: Any | None = None,
        job_queue: str | None = None,
        on_demand_queue: str | None = None,
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = stepfunctions
        self._batch = batch
        # the Spot queue and the On-Demand fallback (when the stack has one): cancel
        # terminates the scan's jobs in both
        self._job_queues = [q for q in (job_queue, on_demand_queue) if q]

    # ---- the scan lifecycle (scanfleet.service.ScanLifecycle) ---------------------------

    def on_started(self, scan: ScanRecord) -> None:
        """A remote scan was created: its first execution runs every lane."""
        if is_remote(scan):
            self._start_run(scan)

    def on_reopened(self, scan: ScanRecord) -> None:
        """A COMPLETED remote scan runs again: a new run (its lanes go on from the store;
        a run still going finds the scan running and simply goes on too)."""
        if is_remote(scan):
            self._start_run(scan)

    def _start_run(self, scan: ScanRecord) -> None:
        """A new run of the scan, for a caller of the API: Step Functions refusing it (a
        policy without ``states:StartExecution``, a state machine deleted, throttling past
        botocore's retries) is :class:`RunNotStartedError` with what AWS answered."""
        from botocore.exceptions import ClientError

        try:
            self._start(scan.scan_id, scan.owner)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            what = f"{error.get('Code', 'Error')}: {error.get('Message', exc)}"
            raise RunNotStartedError(f"the scan's run could not start: {what}") from exc

    def on_stopped(self, scan: ScanRecord, *, reason: str) -> None:
        """A remote scan was cancelled or is being deleted: stop its executions and
        terminate its Batch jobs."""
        if is_remote(scan):
            self.stop(scan.scan_id, reason=reason)

    # ---- starts the lanes ask for ------------------------------------------------------

    def start_siblings(
        self, inp: ExecutionInput, lanes: Sequence[int], *, state_machine_arn: str
    ) -> list[str]:
        """Executions of the same run for ``lanes`` (those one inline Map does not run),
        ``MAX_LANES_PER_EXECUTION`` lanes each. Returns their ARNs."""
        return [
            self._start(
                inp.scan_id,
                inp.owner,
                lanes=lanes[first : first + MAX_LANES_PER_EXECUTION],
                run=inp.run,
                generation=inp.generation,
                state_machine_arn=state_machine_arn,
            )
            for first in range(0, len(lanes), MAX_LANES_PER_EXECUTION)
        ]

    def hand_off(self, lane: Lane) -> str:
        """The lane's next generation, in a fresh execution (its parent's history is
        nearly full). Returns its ARN."""
        return self._start(
            lane.scan_id,
            lane.owner,
            lanes=[lane.lane],
            run=lane.run,
            generation=lane.generation + 1,
            state_machine_arn=lane.state_machine,
        )

    def restart(self, scan: ScanRecord, *, replacing: str | None = None) -> str | None:
        """A new run of a scan that lost its executions. Returns its ARN, or None when the
        restart of ``replacing`` was already started and has ended since."""
        run = replacement_run_id(replacing) if replacing else new_run_id()
        try:
            return self._start(scan.scan_id, scan.owner, run=run)
        except self._sfn.exceptions.ExecutionAlreadyExists:
            log.info("scan %s: the restart of %s already ran", scan.scan_id, replacing)
            return None

    def _start(
        self,
        scan_id: str,
        owner: str,
        *,
        lanes: Sequence[int] | None = None,
        run: str | None = None,
        generation: int = 0,
        state_machine_arn: str | None = None,
    ) -> str:
        """Start an execution of the scan (every lane when ``lanes`` is None): the one call
        of ``StartExecution``. Returns its ARN. Starting the same (run, generation, lanes)
        twice is harmless: Step Functions answers the running execution of that name and
        input."""
        inp = ExecutionInput(
            scan_id=scan_id,
            owner=owner,
            run=run or new_run_id(),
            generation=generation,
            lanes=list(lanes) if lanes is not None else None,
        )
        name = execution_name(scan_id, inp.run, generation, lanes[0] if lanes else 0)
        answer = self._sfn.start_execution(
            stateMachineArn=state_machine_arn or self.state_machine_arn,
            name=name,
            input=inp.model_dump_json(),
        )
        log.info("started execution %s", name)
        return str(answer["executionArn"])

    # ---- finding and stopping ----------------------------------------------------------

    def executions(self, status: str) -> Iterator[dict[str, Any]]:
        """The state machine's executions in ``status`` (newest first)."""
        pages = self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter=status
        )
        for page in pages:
            yield from page["executions"]

    def running(self, scan_id: str) -> list[str]:
        """ARNs of the scan's RUNNING executions."""
        return [
            e["executionArn"]
            for e in self.executions("RUNNING")
            if scan_id_of_execution(e["name"]) == scan_id
        ]

    def input_of(self, execution_arn: str) -> ExecutionInput:
        answer = self._sfn.describe_execution(executionArn=execution_arn)
        return ExecutionInput.model_validate(json.loads(answer["input"]))

    def stop(self, scan_id: str, *, reason: str) -> tuple[int, int]:
        """Stop the scan's executions, then terminate its Batch jobs that are still queued or
        running. Returns (executions stopped, jobs terminated)."""
        stopped = 0
        for arn in self.running(scan_id):
            self._sfn.stop_execution(executionArn=arn, error="scanfleet.Cancelled", cause=reason)
            stopped += 1
        return stopped, self.terminate_jobs(scan_id, reason=reason)

    def terminate_jobs(self, scan_id: str, *, reason: str) -> int:
        """Terminate the scan's queued and running jobs in every queue (Spot, On-Demand)."""
        if self._batch is None:
            return 0
        terminated = 0
        for queue in self._job_queues:
            for status in _ACTIVE_JOB_STATUSES:
                pages = self._batch.get_paginator("list_jobs").paginate(
                    jobQueue=queue, jobStatus=status
                )
                for page in pages:
                    for job in page["jobSummaryList"]:
                        if job["jobName"].startswith(f"{scan_id}-"):
                            self._batch.terminate_job(jobId=job["jobId"], reason=reason[:256])
                            terminated += 1
        return terminated
