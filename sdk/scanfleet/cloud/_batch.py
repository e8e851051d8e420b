"""How a Batch job ended, read from what Step Functions hands over: the job description
(the ``batch:submitJob.sync`` result when it SUCCEEDED, the ``Cause`` of its error when
it FAILED).

Step Functions gives the description with PascalCase keys, DescribeJobs with camelCase;
both are read. A Spot reclaim shows as an attempt whose status reason starts with
``Host EC2`` (the instance went away), or whose container exited with
``ExitCode.INTERRUPTED`` (the worker saw the notice, saved a checkpoint and left).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scanfleet.names import ExitCode

SPOT_RECLAIM_REASON_PREFIX = "Host EC2"

# the lane functions' settings (infra/orchestration.py sets them from the deploy settings)
ENV_ON_DEMAND_QUEUE = "SCANFLEET_ON_DEMAND_QUEUE"  # the On-Demand fallback queue's ARN
ENV_ON_DEMAND_AFTER_PREEMPTIONS = "SCANFLEET_ON_DEMAND_AFTER_PREEMPTIONS"
ENV_RUNNABLE_TIMEOUT_MINUTES = "SCANFLEET_RUNNABLE_TIMEOUT_MINUTES"

# The status reasons of a job that waits RUNNABLE at the head of its queue (AWS Batch: "Jobs
# stuck in a RUNNABLE status"); the job queue's state-time limits cancel it with the same
# reason after ``runnableTimeoutMinutes``. What a user can do about each:
RUNNABLE_CANCEL_REASONS = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": (
        "no Spot capacity for the stack's GPU instance types in {region}"
    ),
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "the compute environment's maxVcpus, or the account's vCPU quota for G and VT "
        "instances in {region} (often 0 in a new account), is too small for the job"
    ),
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "no GPU instance type of the compute environment fits the job's vCPUs, memory and GPUs"
    ),
}


def _camel(data: Any) -> Any:
    """Keys of a JSON tree with their first letter lower-cased (``JobId`` → ``jobId``)."""
    if isinstance(data, dict):
        return {(k[:1].lower() + k[1:]): _camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_camel(v) for v in data]
    return data


@dataclass(frozen=True)
class JobAttempt:
    status_reason: str | None
    exit_code: int | None

    @property
    def spot_reclaimed(self) -> bool:
        reason = self.status_reason or ""
        return reason.startswith(SPOT_RECLAIM_REASON_PREFIX) or self.exit_code == int(
            ExitCode.INTERRUPTED
        )


@dataclass(frozen=True)
class JobOutcome:
    """The end of one Batch job, over all its attempts."""

    job_id: str | None
    status: str  # SUCCEEDED, FAILED, or ERROR when the job could not even be submitted
    status_reason: str | None
    attempts: list[JobAttempt] = field(default_factory=list)
    started: bool = True  # False: the job never left the queue (no attempt ran)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def runnable_cancel_reason(self) -> str | None:
        """The reason code when Batch cancelled the job while it waited RUNNABLE (the job
        queue's state-time limit), else None."""
        if self.started or self.status != "FAILED":
            return None
        reason = self.status_reason or ""
        return next((code for code in RUNNABLE_CANCEL_REASONS if code in reason), None)

    @property
    def spot_interruptions(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.spot_reclaimed)

    @property
    def last_attempt_spot_reclaimed(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].spot_reclaimed

    def describe(self) -> str:
        last = self.attempts[-1] if self.attempts else None
        details = [self.status_reason or ""]
        if last is not None and last.exit_code is not None:
            details.append(f"exit code {last.exit_code}")
        text = f"Batch job {self.job_id or '(not submitted)'} {self.status}"
        shown = [d for d in details if d]
        return f"{text} ({'; '.join(shown)})" if shown else text

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> JobOutcome:
        job = _camel(description)
        attempts = [
            JobAttempt(
                status_reason=a.get("statusReason") or (a.get("container") or {}).get("reason"),
                exit_code=(a.get("container") or {}).get("exitCode"),
            )
            for a in job.get("attempts") or []
        ]
        started = bool(attempts)  # a job that ran has at least one attempt
        if not attempts and job.get("status") == "FAILED":
            container = job.get("container") or {}
            attempts = [JobAttempt(job.get("statusReason"), container.get("exitCode"))]
        return cls(
            job_id=job.get("jobId"),
            status=str(job.get("status", "ERROR")),
            status_reason=job.get("statusReason"),
            attempts=attempts,
            started=started,
        )

    @classmethod
    def from_error(cls, error: dict[str, Any]) -> JobOutcome:
        """From a caught task error ``{Error, Cause}``: the cause is the job description
        when the job ran and failed, a message when it could not be submitted."""
        cause = error.get("Cause") or error.get("cause") or ""
        try:
            description = json.loads(cause)
        except (TypeError, ValueError):
            description = None
        if isinstance(description, dict) and ("Status" in description or "status" in description):
            return cls.from_description(description)
        name = error.get("Error") or error.get("error") or "error"
        return cls(job_id=None, status="ERROR", status_reason=f"{name}: {cause}"[:500])
