"""The use cases behind Schedy and Oscar over the real SQLite store: a queue scan (only
the trials added by hand, any params), marking a scan done or running, deleting it."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.config import ConfigError, load_config
from scanfleet.records import ScanStatus
from scanfleet.service import (
    InvalidParamsError,
    InvalidValuesError,
    ScanCancelledConflictError,
    ScanFinishedError,
    ScanService,
)
from scanfleet.store import ScanNotFoundError, SQLiteTrialStore, TrialNotFoundError

QUEUE = {"strategy": "queue", "metric": {"name": "loss"}, "parameters": {}}


@pytest.fixture
def service(tmp_path: Path) -> ScanService:
    return ScanService(SQLiteTrialStore(tmp_path / "db.sqlite"))


def test_a_queue_hands_out_only_added_trials_and_waits_for_more(service: ScanService) -> None:
    scan, _ = service.create_scan("q", QUEUE, owner="me")
    assert service.claim_next_trial(scan.scan_id, "w", owner="me") is None
    first, _ = service.add_trial(scan.scan_id, {"lr": 0.1, "opt": "adam"}, owner="me")
    service.add_trial(scan.scan_id, {"anything": [1, 2]}, owner="me")
    claimed = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert claimed is not None and claimed.trial_id == first.trial_id
    service.complete(claimed.trial_id, 1.0, owner="me")
    other = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert other is not None and other.params == {"anything": [1, 2]}
    service.complete(other.trial_id, 2.0, owner="me")
    assert service.claim_next_trial(scan.scan_id, "w", owner="me") is None
    assert service.get_scan(scan.scan_id, owner="me").status is ScanStatus.RUNNING


def test_a_queue_with_a_space_checks_added_params(service: ScanService) -> None:
    spaced = {**QUEUE, "parameters": {"lr": {"min": 0.0, "max": 1.0}}}
    scan, _ = service.create_scan("q", spaced, owner="me")
    with pytest.raises(InvalidParamsError, match="lr: must be between"):
        service.add_trial(scan.scan_id, {"lr": 5.0}, owner="me")


def test_only_a_queue_may_leave_the_space_empty(service: ScanService) -> None:
    assert "parameters: any (trials are added by hand)" in load_config(QUEUE).summary()
    with pytest.raises(ConfigError) as refused:
        service.create_scan("g", {**QUEUE, "strategy": "grid"}, owner="me")
    assert [(p.path, p.message) for p in refused.value.problems] == [
        ("parameters", "must not be empty")
    ]


def test_a_scan_marked_done_hands_out_nothing_until_running_again(service: ScanService) -> None:
    scan, _ = service.create_scan("q", QUEUE, owner="me")
    service.add_trial(scan.scan_id, {"x": 1}, owner="me")
    done = service.set_status(scan.scan_id, ScanStatus.COMPLETED, owner="me")
    assert done.status is ScanStatus.COMPLETED and done.status_reason == "marked COMPLETED by user"
    with pytest.raises(ScanFinishedError):
        service.claim_next_trial(scan.scan_id, "w", owner="me")
    again = service.set_status(scan.scan_id, ScanStatus.RUNNING, owner="me")
    assert again.status is ScanStatus.RUNNING and again.finished_at is None
    assert service.claim_next_trial(scan.scan_id, "w", owner="me") is not None
    with pytest.raises(InvalidValuesError):
        service.set_status(scan.scan_id, ScanStatus.CANCELLED, owner="me")
    service.cancel(scan.scan_id, owner="me")
    with pytest.raises(ScanCancelledConflictError):
        service.set_status(scan.scan_id, ScanStatus.RUNNING, owner="me")


def test_deleting_a_scan_is_for_its_owner_and_takes_its_trials(service: ScanService) -> None:
    scan, _ = service.create_scan("q", QUEUE, owner="me")
    trial, _ = service.add_trial(scan.scan_id, {"x": 1}, owner="me")
    with pytest.raises(ScanNotFoundError):
        service.delete_scan(scan.scan_id, owner="someone else")
    assert service.delete_scan(scan.scan_id, owner="me").scan_id == scan.scan_id
    with pytest.raises(TrialNotFoundError):
        service.get_trial(trial.trial_id, owner="me")
    with pytest.raises(ScanNotFoundError):
        service.delete_scan(scan.scan_id, owner="me")
    assert service.list_scans(owner="me") == []
