"""Lambda entry points of the scan state machine: the composition root, nothing else.

Each handler parses its payload into the model of ``scanfleet.cloud``, makes one call of
:class:`~scanfleet.cloud.LaneTasks`, emits its metrics and dumps the answer. The store,
the clients and the tasks are built once per container (warm starts reuse them).
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from scanfleet import names
from scanfleet.artifacts import CheckpointCopier
from scanfleet.cloud import (
    ExecutionInput,
    JobDefinitions,
    Key,
    Lane,
    LaneAction,
    LaneSettings,
    LaneTasks,
    Plan,
    ScanExecutions,
)
from scanfleet.records import TrialState
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

logger = Logger()
metrics = Metrics()
tracer = Tracer()

store = DynamoDBTrialStore(os.environ[names.ENV_TABLE_NAME])
_BUCKET = os.environ.get(names.ENV_BUCKET_NAME)
_CHECKPOINT_ROOT = f"s3://{_BUCKET}/checkpoints" if _BUCKET else None  # PBT copies' root
executions = ScanExecutions(
    os.environ.get(names.ENV_STATE_MACHINE_ARN, ""),
    stepfunctions=boto3.client("stepfunctions"),
)
job_definitions = JobDefinitions(
    os.environ.get(names.ENV_JOB_DEFINITION, ""), batch=boto3.client("batch")
)
# every service in the stack has the executions as its scan lifecycle (the lane tasks'
# use cases create, re-open and stop no scan today)
tasks = LaneTasks(
    ScanService(store, lifecycle=executions, artifacts=CheckpointCopier(root=_CHECKPOINT_ROOT)),
    executions,
    job_definitions=job_definitions,
    settings=LaneSettings.from_environment(),
)

_FINISHED_METRIC = {
    TrialState.COMPLETED: names.Metric.TRIALS_COMPLETED,
    TrialState.FAILED: names.Metric.TRIALS_FAILED,
    TrialState.PRUNED: names.Metric.TRIALS_PRUNED,
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"input": <execution input>, "state_machine": <its ARN>}`` → the Plan."""
    inp = ExecutionInput.model_validate(event["input"])
    answer = tasks.plan(inp, state_machine=event[Key.STATE_MACHINE])
    logger.info("plan", extra={"scan_id": inp.scan_id, "lanes": answer.lanes})
    return answer.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def claim(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The lane → the lane with its next action (and trial)."""
    started = time.perf_counter()
    lane = tasks.claim(Lane.model_validate(event))
    started_one = lane.action in (LaneAction.RUN, LaneAction.RUN_ON_DEMAND)
    metrics.add_metric(names.Metric.TRIALS_STARTED, MetricUnit.Count, int(started_one))
    if started_one:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(names.Metric.CLAIM_LATENCY, MetricUnit.Milliseconds, elapsed_ms)
    logger.info(
        "claim", extra={"lane": lane.worker_id, "action": lane.action, "trial": lane.trial_id}
    )
    return lane.dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def finish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The lane with its Batch job's description (``job``) or error (``job_error``) → the
    lane, ready to claim again. With ``lane_error`` (the RecordLaneError step: its Claim or
    Finish failed for good): record the error and end the lane."""
    if event.get(Key.LANE_ERROR):
        ended = tasks.record_lane_error(Lane.model_validate(event), event[Key.LANE_ERROR])
        logger.error("lane ended on an error", extra={"lane": ended.worker_id})
        return ended.dump()
    lane, settled = tasks.finish(
        Lane.model_validate(event), job=event.get(Key.JOB), error=event.get(Key.JOB_ERROR)
    )
    if settled.state in _FINISHED_METRIC:
        metrics.add_metric(_FINISHED_METRIC[settled.state], MetricUnit.Count, 1)
    metrics.add_metric(
        names.Metric.SPOT_INTERRUPTIONS, MetricUnit.Count, settled.spot_interruptions
    )
    logger.info(
        "finish",
        extra={"trial": settled.trial_id, "state": settled.state, "action": settled.action},
    )
    return lane.dump()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def finalise(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Plan → the scan's status and counts."""
    return tasks.finalise(Plan.model_validate(event))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def revive(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """(EventBridge schedule) Restart running scans that lost their execution."""
    revived = tasks.revive()
    if revived.restarted:
        logger.warning("restarted scans", extra={"scans": revived.restarted})
    return {"restarted": revived.restarted}
