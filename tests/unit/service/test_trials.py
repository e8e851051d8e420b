"""The life of a trial (retries, heartbeats, values, trials added by hand, pruning) over
the real SQLite store."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.records import ScanStatus, TrialState
from scanfleet.service import InvalidParamsError, InvalidValuesError, ScanService
from scanfleet.store import TrialFinishedError

from tests.conftest import FakeClock
from tests.unit.service.scans import OWNER, grid_config, optuna_config


def test_script_errors_retry_within_budget_then_fail(service: ScanService) -> None:
    config = grid_config(max_run=1, retries={"max_errors": 2})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    attempts = []
    for _ in range(3):
        trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
        assert trial is not None
        attempts.append(trial.attempt)
        after = service.fail(trial.trial_id, "exit 1", owner=OWNER, attempt=trial.attempt)
    assert attempts == [1, 2, 3]
    assert after.state is TrialState.FAILED
    assert after.errors == 2
    assert "error budget" in (after.failure_reason or "")
    assert service.get_scan(scan.scan_id, owner=OWNER).status is ScanStatus.COMPLETED


def test_preemptions_do_not_spend_the_error_budget(service: ScanService) -> None:
    config = grid_config(max_run=1, retries={"max_errors": 0, "max_preemptions": 5})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    for _ in range(4):
        trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
        assert trial is not None
        service.fail(trial.trial_id, "spot", owner=OWNER, attempt=trial.attempt, preempted=True)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    assert (trial.attempt, trial.preemptions, trial.errors) == (5, 4, 0)
    done = service.complete(trial.trial_id, 0.5, owner=OWNER, attempt=trial.attempt)
    assert done.state is TrialState.COMPLETED


def test_heartbeat_keeps_the_lease(service: ScanService, clock: FakeClock) -> None:
    config = grid_config(max_run=1, execution={"lease_seconds": 30})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    for _ in range(5):
        clock.advance(20)
        service.heartbeat(trial.trial_id, owner=OWNER, worker_id="w1", attempt=1)
    assert service.reclaim_stale(scan.scan_id, owner=OWNER) == []
    assert service.get_trial(trial.trial_id, owner=OWNER).state is TrialState.RUNNING


def test_finished_trials_are_immutable(service: ScanService) -> None:
    scan, _ = service.create_scan("g", grid_config(), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    service.complete(trial.trial_id, 0.1, owner=OWNER)
    with pytest.raises(TrialFinishedError):
        service.complete(trial.trial_id, 0.2, owner=OWNER)
    with pytest.raises(TrialFinishedError):
        service.fail(trial.trial_id, "late", owner=OWNER)
    with pytest.raises(TrialFinishedError):
        service.report(trial.trial_id, "loss", 3, 0.3, owner=OWNER)
    assert service.get_trial(trial.trial_id, owner=OWNER).values == {"loss": 0.1}


@pytest.mark.parametrize(
    "values, message",
    [
        ({}, "must include the scan's metric 'loss'"),
        ({"loss": "low"}, "must be a number"),
    ],
)
def test_complete_rejects_bad_values(service: ScanService, values: Any, message: str) -> None:
    scan, _ = service.create_scan("g", grid_config(), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    with pytest.raises(InvalidValuesError, match=message):
        service.complete(trial.trial_id, values, owner=OWNER)
    assert service.get_trial(trial.trial_id, owner=OWNER).state is TrialState.RUNNING


def test_complete_without_the_scans_metric_fails_the_trial_naming_both(
    service: ScanService,
) -> None:
    scan, _ = service.create_scan("g", grid_config(), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    service.report(trial.trial_id, "val_loss", 0, 0.5, owner=OWNER)  # not the scan's metric
    done = service.complete(trial.trial_id, {"val_loss": 0.2, "val_acc": 0.9}, owner=OWNER)
    assert done.state is TrialState.FAILED and done.errors == 0  # for good: a retry won't help
    assert done.failure_reason == "reported val_loss, val_acc; the scan's metric is loss"


def test_added_trials_run_first_and_duplicates_are_not_added(service: ScanService) -> None:
    scan, _ = service.create_scan("o", optuna_config(), owner=OWNER)
    added, created = service.add_trial(scan.scan_id, {"x": 1.0, "n": 3}, owner=OWNER)
    assert created and added.state is TrialState.QUEUED
    _, created_again = service.add_trial(scan.scan_id, {"n": 3, "x": 1.0}, owner=OWNER)
    assert not created_again
    claimed = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert claimed is not None and claimed.trial_id == added.trial_id


@pytest.mark.parametrize(
    "params, message",
    [
        ({"x": 1.0}, "missing parameter: n"),
        ({"x": 99.0, "n": 3}, "x: must be between"),
        ({"x": 1.0, "n": 3, "y": 2}, "unknown parameter"),
        ({"x": "a", "n": 3}, "x: must be a number"),
    ],
)
def test_add_trial_checks_params_against_the_space(
    service: ScanService, params: dict[str, Any], message: str
) -> None:
    scan, _ = service.create_scan("o", optuna_config(), owner=OWNER)
    with pytest.raises(InvalidParamsError, match=message):
        service.add_trial(scan.scan_id, params, owner=OWNER)


def test_hyperband_prunes_a_bad_curve_and_records_why(service: ScanService) -> None:
    config = optuna_config(
        max_run=40,
        early_stopping={"median": {"n_startup_trials": 3, "n_warmup_steps": 0}},
    )
    scan, _ = service.create_scan("o", config, owner=OWNER)
    for _ in range(4):
        trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
        assert trial is not None
        for step in range(5):
            decision = service.report(trial.trial_id, "loss", step, 1.0 / (step + 1), owner=OWNER)
            assert not decision.prune
        service.complete(trial.trial_id, 0.2, owner=OWNER)
    bad = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert bad is not None
    decision = service.report(bad.trial_id, "loss", 2, 50.0, owner=OWNER)
    assert decision.prune and decision.reason
    stored = service.get_trial(bad.trial_id, owner=OWNER)
    assert stored.prune_decision == decision
    pruned = service.prune(bad.trial_id, owner=OWNER)
    assert pruned.state is TrialState.PRUNED
    assert pruned.values == {"loss": 50.0}
