"""Lambda entry point of the stale-lease reaper (an EventBridge schedule): the composition
root, nothing else. Emits the number of re-queued trials (for the alarm) and the number of
scans in each status (for the dashboard)."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from scanfleet import names
from scanfleet.cloud import reap_stale_leases
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

logger = Logger()
metrics = Metrics()
tracer = Tracer()
store = DynamoDBTrialStore(os.environ[names.ENV_TABLE_NAME])
service = ScanService(store)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = reap_stale_leases(service, store, now=time.time())
    metrics.add_metric(names.Metric.STALE_TRIALS, MetricUnit.Count, len(result.requeued))
    for status, count in store.count_scans_by_status().items():
        metrics.add_metric(names.scans_metric(status.value), MetricUnit.Count, count)
    logger.info("reaped", extra={"scans": result.scans_checked, "requeued": result.requeued})
    return {"scans_checked": result.scans_checked, "requeued": len(result.requeued)}
