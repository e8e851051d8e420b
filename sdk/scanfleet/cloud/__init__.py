"""scanfleet in AWS: the tasks of the scan state machine and the executions of scans, the
token authorizer's decision and the stale-lease reaper.

``infra/orchestration.py`` builds the state machine, ``lambdas/orchestration.py`` adapts
these classes to Lambda, and ``lambdas/api.py`` gives the service :class:`ScanExecutions`
as its scan lifecycle (remote scans start, re-open and stop their executions).
"""

from scanfleet.cloud._authorizer import (
    SecretTokens,
    TokenRejectedError,
    authorize,
    read_secret,
    tokens_in_secret,
)
from scanfleet.cloud._batch import (
    ENV_ON_DEMAND_AFTER_PREEMPTIONS,
    ENV_ON_DEMAND_QUEUE,
    ENV_RUNNABLE_TIMEOUT_MINUTES,
    RUNNABLE_CANCEL_REASONS,
    JobAttempt,
    JobOutcome,
)
from scanfleet.cloud._executions import (
    ScanExecutions,
    execution_name,
    is_remote,
    job_name,
    new_run_id,
    replacement_run_id,
    scan_id_of_execution,
)
from scanfleet.cloud._history import (
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
    HISTORY_LIMIT,
    MAX_LANES_PER_EXECUTION,
    lane_budget,
    trials_before_hand_off,
)
from scanfleet.cloud._jobdefs import JobDefinitions, image_definition_name
from scanfleet.cloud._lanes import (
    START_LEASE_SECONDS,
    LaneSettings,
    LaneTasks,
    Revived,
    Settled,
    describe_task_error,
)
from scanfleet.cloud._payload import ExecutionInput, Key, Lane, LaneAction, Plan
from scanfleet.cloud._reaper import ReapResult, reap_stale_leases

__all__ = [
    "ENV_ON_DEMAND_AFTER_PREEMPTIONS",
    "ENV_ON_DEMAND_QUEUE",
    "ENV_RUNNABLE_TIMEOUT_MINUTES",
    "RUNNABLE_CANCEL_REASONS",
    "LaneSettings",
    "describe_task_error",
    "replacement_run_id",
    "EVENTS_PER_TRIAL",
    "EVENTS_PER_WAIT",
    "HISTORY_LIMIT",
    "MAX_LANES_PER_EXECUTION",
    "START_LEASE_SECONDS",
    "ExecutionInput",
    "ReapResult",
    "TokenRejectedError",
    "authorize",
    "reap_stale_leases",
    "tokens_in_secret",
    "read_secret",
    "SecretTokens",
    "JobAttempt",
    "JobDefinitions",
    "JobOutcome",
    "Key",
    "Lane",
    "LaneAction",
    "LaneTasks",
    "Plan",
    "Revived",
    "ScanExecutions",
    "Settled",
    "execution_name",
    "image_definition_name",
    "is_remote",
    "job_name",
    "lane_budget",
    "new_run_id",
    "scan_id_of_execution",
    "trials_before_hand_off",
]
