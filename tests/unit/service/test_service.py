"""The use cases over the real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scanfleet.config import ConfigError
from scanfleet.records import ScanStatus, TrialState
from scanfleet.service import (
    InvalidParamsError,
    InvalidValuesError,
    ScanCancelledConflictError,
    ScanFinishedError,
    ScanService,
)
from scanfleet.store import (
    LeaseLostError,
    ScanNotFoundError,
    SQLiteTrialStore,
    TrialFinishedError,
    TrialNotFoundError,
)

from tests.conftest import FakeClock

OWNER = "alice"


def grid_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "strategy": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "batch_size": {"values": [2, 4, 8]},
            "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
            "steps": {"value": 1000},
        },
    }
    config.update(extra)
    return config


def optuna_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "strategy": "optuna",
        "metric": {"name": "loss", "goal": "minimize"},
        "max_run": 12,
        "optuna": {"seed": 3, "n_startup_trials": 4},
        "parameters": {
            "x": {"distribution": "uniform", "min": -5, "max": 5},
            "n": {"distribution": "int_uniform", "min": 1, "max": 9, "step": 2},
        },
    }
    config.update(extra)
    return config


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> ScanService:
    return ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=clock)


def run_to_end(service: ScanService, scan_id: str, value_of: Any) -> list[str]:
    done = []
    while True:
        try:
            trial = service.claim_next_trial(scan_id, "w1", owner=OWNER)
        except ScanFinishedError:
            return done
        assert trial is not None, "a single worker never waits: nothing else is running"
        service.complete(trial.trial_id, value_of(trial.params), owner=OWNER)
        done.append(trial.trial_id)


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


def test_expired_lease_goes_back_to_the_queue_with_its_checkpoint(
    service: ScanService, clock: FakeClock
) -> None:
    config = grid_config(max_run=1, execution={"lease_seconds": 30})
    scan, _ = service.create_scan("g", config, owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "dead-worker", owner=OWNER)
    assert trial is not None
    service.checkpoint(trial.trial_id, 40, "file:///ckpt/40", owner=OWNER)
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
        ({"acc": 1.0}, "must include the scan's metric 'loss'"),
        ({"loss": "low"}, "must be a number"),
        ({"loss": float("nan")}, "must be finite"),
    ],
)
def test_complete_rejects_bad_values(service: ScanService, values: Any, message: str) -> None:
    scan, _ = service.create_scan("g", grid_config(), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w1", owner=OWNER)
    assert trial is not None
    with pytest.raises(InvalidValuesError, match=message):
        service.complete(trial.trial_id, values, owner=OWNER)
    assert service.get_trial(trial.trial_id, owner=OWNER).state is TrialState.RUNNING


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
