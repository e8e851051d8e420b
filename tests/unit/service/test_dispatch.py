"""Handing out trials, and when a scan ends, over the real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.records import ScanStatus, TrialState
from scanfleet.service import ScanFinishedError, ScanService
from scanfleet.store import LeaseLostError

from tests.conftest import FakeClock
from tests.unit.service.scans import OWNER, grid_config, optuna_config, run_to_end


def test_grid_scan_runs_every_cell_once_then_completes(service: ScanService) -> None:
    scan, _ = service.create_scan("grid", grid_config(), owner=OWNER)
    done = run_to_end(service, scan.scan_id, lambda p: p["batch_size"] * p["learning_rate"])
    assert len(done) == len(set(done)) == 9
    summary = service.summarize(scan.scan_id, owner=OWNER)
    assert summary.scan.status is ScanStatus.COMPLETED
    assert summary.scan.status_reason == "grid exhausted"
    assert summary.counts[TrialState.COMPLETED] == 9
    assert summary.best_trial is not None
    assert summary.best_trial.params == {
        "batch_size": 2,
        "learning_rate": 1e-5,
        "steps": 1000,
    }
    with pytest.raises(ScanFinishedError):
        service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)


def test_max_run_caps_an_optuna_scan(service: ScanService) -> None:
    scan, _ = service.create_scan("opt", optuna_config(max_run=7), owner=OWNER)
    done = run_to_end(service, scan.scan_id, lambda p: (p["x"] - 1) ** 2 + p["n"])
    assert len(done) == 7
    final = service.get_scan(scan.scan_id, owner=OWNER)
    assert final.status is ScanStatus.COMPLETED
    assert final.status_reason == "max_run (7) reached"


def test_claim_waits_while_the_last_trials_run(service: ScanService) -> None:
    scan, _ = service.create_scan("g", grid_config(max_run=2), owner=OWNER)
    first = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    second = service.claim_next_trial(scan.scan_id, "w2", owner=OWNER)
    assert first and second and first.trial_id != second.trial_id
    assert service.claim_next_trial(scan.scan_id, "w3", owner=OWNER) is None
    service.complete(first.trial_id, 1.0, owner=OWNER)
    assert service.claim_next_trial(scan.scan_id, "w3", owner=OWNER) is None
    service.complete(second.trial_id, 2.0, owner=OWNER)
    with pytest.raises(ScanFinishedError):
        service.claim_next_trial(scan.scan_id, "w3", owner=OWNER)


def test_expired_lease_goes_back_to_the_queue_with_its_checkpoint(
    service: ScanService, clock: FakeClock, tmp_path: Path
) -> None:
    config = grid_config(max_run=1, execution={"lease_seconds": 30})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "dead-worker", owner=OWNER)
    assert trial is not None
    saved = tmp_path / "checkpoints" / scan.scan_id / trial.trial_id / "step-40"
    service.checkpoint(trial.trial_id, 40, saved.as_uri(), owner=OWNER)
    clock.advance(31)
    again = service.claim_next_trial(scan.scan_id, "w2", owner=OWNER)
    assert again is not None and again.trial_id == trial.trial_id
    assert (again.attempt, again.preemptions, again.worker_id) == (2, 1, "w2")
    assert again.checkpoint is not None and again.checkpoint.step == 40
    with pytest.raises(LeaseLostError):
        service.heartbeat(trial.trial_id, owner=OWNER, worker_id="dead-worker", attempt=1)
    with pytest.raises(LeaseLostError):
        service.complete(trial.trial_id, 1.0, owner=OWNER, attempt=1)
    service.complete(trial.trial_id, 1.0, owner=OWNER, attempt=2)


def test_target_ends_the_scan_early(service: ScanService) -> None:
    config = grid_config(completion={"target": 0.5})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    done = run_to_end(service, scan.scan_id, lambda p: 0.1 if p["batch_size"] == 2 else 1.0)
    assert len(done) == 1
    assert "target" in (service.get_scan(scan.scan_id, owner=OWNER).status_reason or "")


def test_patience_ends_the_scan_after_trials_without_improvement(
    service: ScanService,
) -> None:
    config = grid_config(completion={"patience": 3})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    done = run_to_end(service, scan.scan_id, lambda p: 1.0)
    assert len(done) == 4  # the first sets the best; three more without improvement


def test_max_failed_fails_the_scan(service: ScanService) -> None:
    config = grid_config(completion={"max_failed": 2}, retries={"max_errors": 0})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    for _ in range(2):
        trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
        assert trial is not None
        service.fail(trial.trial_id, "boom", owner=OWNER)
    final = service.get_scan(scan.scan_id, owner=OWNER)
    assert final.status is ScanStatus.FAILED
    assert final.status_reason == "2 trials failed"
