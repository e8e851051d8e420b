"""Ownership in the use cases (issue 12 item 1): a tenant, its former token id, a trial
grant, and the platform's own callers that pass the scan's stored owner."""

from __future__ import annotations

import pytest
from scanfleet.errors import PermissionDeniedError
from scanfleet.records import ScanRecord
from scanfleet.service import ScanService
from scanfleet.store import ScanNotFoundError, TrialNotFoundError
from scanfleet.tenancy import Tenant, TrialGrant

ARN = "arn:aws:iam::123456789012:user/alice"
GRID = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}


def legacy_scan(service: ScanService) -> str:
    """A scan stored before tenancy, owned by its creator's ARN."""
    record = ScanRecord(scan_id="scold0000001", name="old", owner=ARN, config=GRID, max_run=2,
                        created_at=1.0)  # fmt: skip
    service.context.store.create_scan(record)
    return record.scan_id


def test_a_scan_stored_under_an_arn_is_its_accounts_and_still_its_lanes(
    service: ScanService,
) -> None:
    scan_id = legacy_scan(service)
    assert service.get_scan(scan_id, owner=Tenant("123456789012")).owner == ARN
    assert service.claim_next_trial(scan_id, "lane-0", owner=ARN) is not None  # a lane's call
    with pytest.raises(ScanNotFoundError):
        service.get_scan(scan_id, owner=Tenant("210987654321"))
    with pytest.raises(ScanNotFoundError):
        service.get_scan(scan_id, owner="123456789012-not")


def test_a_trial_grant_reaches_its_own_running_trial_only(service: ScanService) -> None:
    scan, _ = service.create_scan("g", GRID, owner=Tenant("vision"))
    mine = service.claim_next_trial(scan.scan_id, "w1", owner="vision")
    other = service.claim_next_trial(scan.scan_id, "w2", owner="vision")
    assert mine is not None and other is not None
    grant = TrialGrant(mine.trial_id, mine.attempt)
    assert service.heartbeat(mine.trial_id, owner=grant, worker_id="w1", attempt=1)
    with pytest.raises(TrialNotFoundError):
        service.get_trial(other.trial_id, owner=grant)
    assert service.list_scans(owner=grant) == []
    with pytest.raises(PermissionDeniedError):
        service.create_scan("x", GRID, owner=grant)
    stale = TrialGrant(mine.trial_id, mine.attempt + 1)
    with pytest.raises(PermissionDeniedError, match="has ended"):
        service.get_trial(mine.trial_id, owner=stale)
