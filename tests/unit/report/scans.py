"""Scans with every kind of trial, made through the real service over a real SQLite store:
completed ones with learning curves, pruned ones stopped early, a failed one, one still
running and one queued."""

from __future__ import annotations

import math
from pathlib import Path

from scanfleet.records import TrialState
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

OWNER = "alice"
CONFIG = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]},
        "layers": {"values": [1, 2, 3, 4]},
        "act": {"values": ["relu", "tanh"]},
        "dropout": {"values": [0.0, 0.1]},
    },
}  # 112 cells


def service_at(folder: Path) -> ScanService:
    return ScanService(SQLiteTrialStore(folder / "scanfleet.db"))


def loss_at(params: dict[str, object], step: int) -> float:
    lr = float(params["lr"])  # type: ignore[arg-type]
    return abs(math.log10(lr) + 2.5) + 1.0 / (step + 1) + 0.1 * int(params["layers"])  # type: ignore[call-overload]


def make_scan(service: ScanService, trials: int, steps: int = 5) -> str:
    """``trials`` trials: every 5th pruned after 2 steps, the 7th failed, and the last two
    left running (with 1 step reported) and queued."""
    scan, _ = service.create_scan("report", CONFIG, owner=OWNER)
    for i in range(trials):
        trial = service.claim_next_trial(scan.scan_id, f"w{i % 3}", owner=OWNER)
        assert trial is not None
        if i == trials - 1:
            service.fail(trial.trial_id, "machine lost", owner=OWNER, preempted=True)
            break  # back in the queue, preempted once
        if i == 6:
            service.fail(trial.trial_id, "diverged", owner=OWNER, retry=False)
            continue
        pruned = i % 5 == 4
        running = i == trials - 2
        last = 1 if running or pruned else steps
        for step in range(last + 1 if pruned else last):
            service.report(trial.trial_id, "loss", step, loss_at(trial.params, step), owner=OWNER)
        if running:
            continue
        if pruned:
            service.prune(trial.trial_id, owner=OWNER)
        else:
            service.complete(trial.trial_id, loss_at(trial.params, steps - 1), owner=OWNER)
    return scan.scan_id


def expected_states(trials: int) -> list[TrialState]:
    states = []
    for i in range(trials):
        if i == trials - 1:
            states.append(TrialState.QUEUED)
        elif i == trials - 2:
            states.append(TrialState.RUNNING)
        elif i == 6:
            states.append(TrialState.FAILED)
        elif i % 5 == 4:
            states.append(TrialState.PRUNED)
        else:
            states.append(TrialState.COMPLETED)
    return states
