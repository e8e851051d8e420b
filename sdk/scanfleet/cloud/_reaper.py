"""The stale-lease reaper: re-queue RUNNING trials whose worker stopped heartbeating, in
every scan, so a scan whose workers all died does not wait for a claim that never comes.
Claims reclaim their own scan's stale leases too; this covers the scans nobody claims from.
On the same schedule it counts the scans by status, for the dashboard.

Both read sparse indexes: the lease index holds only RUNNING trials, the owner index only
scan items, so neither pass reads trials' history or intermediate values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanfleet.records import ScanStatus
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore
from scanfleet.store._dynamodb_layout import LAYOUT, Attr, TableLayout


@dataclass
class ReapResult:
    scans_checked: int = 0
    requeued: list[str] = field(default_factory=list)  # trial ids


def reap_stale_leases(
    service: ScanService,
    store: DynamoDBTrialStore,
    *,
    now: float,
    layout: TableLayout = LAYOUT,
) -> ReapResult:
    """Re-queue every trial whose lease expired before ``now``, scan by scan, through
    :meth:`ScanService.reclaim_stale` (which re-checks each lease on the trial item)."""
    result = ReapResult()
    for scan_id in sorted(_scans_with_expired_leases(store, now, layout)):
        owner = store.get_scan(scan_id).owner
        result.scans_checked += 1
        result.requeued += [t.trial_id for t in service.reclaim_stale(scan_id, owner=owner)]
    return result


def _scans_with_expired_leases(
    store: DynamoDBTrialStore, now: float, layout: TableLayout
) -> set[str]:
    index = layout.lease
    request: dict[str, Any] = {
        "TableName": store.table,
        "IndexName": index.name,
        "FilterExpression": "#l < :now",
        "ProjectionExpression": "#s",
        "ExpressionAttributeNames": {"#l": index.sort_key, "#s": index.partition_key},
        "ExpressionAttributeValues": {":now": {"N": repr(now)}},
    }
    scan_ids: set[str] = set()
    for page in store.client.get_paginator("scan").paginate(**request):
        scan_ids.update(item[index.partition_key]["S"] for item in page["Items"])
    return scan_ids


def count_scans_by_status(
    store: DynamoDBTrialStore, layout: TableLayout = LAYOUT
) -> dict[ScanStatus, int]:
    """How many scans (of every owner) are in each status; every status is present."""
    counts = dict.fromkeys(ScanStatus, 0)
    request: dict[str, Any] = {
        "TableName": store.table,
        "IndexName": layout.owner.name,
        "ProjectionExpression": "#st",
        "ExpressionAttributeNames": {"#st": Attr.STATUS},
    }
    for page in store.client.get_paginator("scan").paginate(**request):
        for item in page["Items"]:
            counts[ScanStatus(item[Attr.STATUS]["S"])] += 1
    return counts
