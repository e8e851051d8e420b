"""The use cases of whole scans (create, read, cancel, extend) over the real SQLite store."""

from __future__ import annotations

import pytest
from scanfleet.config import ConfigError
from scanfleet.records import ScanStatus
from scanfleet.service import (
    InvalidValuesError,
    ScanCancelledConflictError,
    ScanFinishedError,
    ScanService,
)
from scanfleet.store import ScanNotFoundError, TrialFinishedError, TrialNotFoundError

from tests.unit.service.scans import OWNER, grid_config, optuna_config, run_to_end


def test_invalid_config_creates_nothing(service: ScanService) -> None:
    with pytest.raises(ConfigError) as err:
        service.create_scan("bad", grid_config(strategy="nope"), owner=OWNER)
    assert "strategy" in str(err.value)
    assert service.list_scans(owner=OWNER) == []


def test_create_scan_is_idempotent_by_client_token(service: ScanService) -> None:
    first, _ = service.create_scan("a", grid_config(), owner=OWNER, client_token="tok")
    again, _ = service.create_scan("a", grid_config(), owner=OWNER, client_token="tok")
    assert again.scan_id == first.scan_id
    assert len(service.list_scans(owner=OWNER)) == 1


def test_scans_of_another_owner_are_not_found(service: ScanService) -> None:
    scan, _ = service.create_scan("a", grid_config(), owner=OWNER)
    with pytest.raises(ScanNotFoundError):
        service.get_scan(scan.scan_id, owner="mallory")
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    with pytest.raises(TrialNotFoundError):
        service.complete(trial.trial_id, 1.0, owner="mallory")


def test_cancel_stops_claims_and_fails_unfinished_trials(service: ScanService) -> None:
    scan, _ = service.create_scan("g", grid_config(), owner=OWNER)
    running = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert running is not None
    service.cancel(scan.scan_id, owner=OWNER)
    assert service.get_scan(scan.scan_id, owner=OWNER).status is ScanStatus.CANCELLED
    with pytest.raises(ScanFinishedError):
        service.claim_next_trial(scan.scan_id, "w2", owner=OWNER)
    with pytest.raises(TrialFinishedError):
        service.heartbeat(running.trial_id, owner=OWNER, worker_id="w1", attempt=1)
    assert service.get_trial(running.trial_id, owner=OWNER).failure_reason == "scan cancelled"
    with pytest.raises(ScanCancelledConflictError):
        service.extend(scan.scan_id, 50, owner=OWNER)


def test_extend_reopens_a_completed_scan_and_keeps_its_history(service: ScanService) -> None:
    scan, _ = service.create_scan("o", optuna_config(max_run=4), owner=OWNER)
    first = run_to_end(service, scan.scan_id, lambda p: p["x"] ** 2)
    with pytest.raises(InvalidValuesError):
        service.extend(scan.scan_id, 3, owner=OWNER)
    reopened = service.extend(scan.scan_id, 6, owner=OWNER)
    assert reopened.status is ScanStatus.RUNNING
    more = run_to_end(service, scan.scan_id, lambda p: p["x"] ** 2)
    assert len(more) == 2 and not set(more) & set(first)
    trials = service.list_trials(scan.scan_id, owner=OWNER)
    assert [t.number for t in trials] == list(range(6))


def test_extend_keeps_max_run_within_the_bound_a_config_has(service: ScanService) -> None:
    scan, _ = service.create_scan("bound", optuna_config(max_run=4), owner=OWNER)
    with pytest.raises(InvalidValuesError, match="at most 1,000,000"):
        service.extend(scan.scan_id, 2**53 - 1, owner=OWNER)
    assert service.get_scan(scan.scan_id, owner=OWNER).max_run == 4
    assert service.extend(scan.scan_id, 1_000_000, owner=OWNER).max_run == 1_000_000
