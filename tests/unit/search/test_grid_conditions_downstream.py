"""What a grid's conditions mean past the grid itself: the number of trials a scan plans
(progress, ETA) and the Optuna study of its trials (report, journal export)."""

from __future__ import annotations

from pathlib import Path

from scanfleet.config import load_config
from scanfleet.search import GridStrategy, build_study
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.unit.service.scans import OWNER, run_to_end

CONFIG = {
    "strategy": "grid",
    "metric": {"name": "loss"},
    "parameters": {
        "optimizer": {"values": ["sgd", "adam"]},
        "beta2": {"values": [0.9, 0.99, 0.999]},
    },
    "conditions": [{"when": {"optimizer": "sgd"}, "set": {"beta2": [0.0]}}],
}


def test_a_scan_plans_the_distinct_trials_its_conditions_leave(tmp_path: Path) -> None:
    assert GridStrategy(load_config(CONFIG)).planned_trials() == 4  # of 6 cells
    service = ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"))
    scan, _ = service.create_scan("g", CONFIG, owner=OWNER)
    assert service.summarize(scan.scan_id, owner=OWNER).planned_trials == 4
    ran = run_to_end(service, scan.scan_id, lambda p: {"loss": p["beta2"]})
    assert len(ran) == 4


def test_the_study_of_a_grid_holds_the_values_its_conditions_set(tmp_path: Path) -> None:
    service = ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"))
    scan, _ = service.create_scan("g", CONFIG, owner=OWNER)
    run_to_end(service, scan.scan_id, lambda p: {"loss": p["beta2"]})
    trials = service.list_trials(scan.scan_id, owner=OWNER)
    study = build_study(load_config(CONFIG), trials)  # raised "0.0 not in (0.9, ...)"
    assert sorted(t.params["beta2"] for t in study.trials) == [0.0, 0.9, 0.99, 0.999]
    assert study.best_trial.params == {"optimizer": "sgd", "beta2": 0.0}
