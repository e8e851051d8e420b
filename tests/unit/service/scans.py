"""Configs and a worker loop shared by the service tests."""

from __future__ import annotations

from typing import Any

from scanfleet.service import ScanFinishedError, ScanService

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
