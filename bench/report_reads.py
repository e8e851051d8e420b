"""DynamoDB reads of one report (issue 12 item 6), in moto: a scan of N finished trials
of 100 steps each (median pruner), then a running trial's reports. The first report of a
process reads every finished curve once (the pruning inputs it keeps); each report after
it reads the trial's own curve, the changes since the last report and what it writes
back. The full read a report made before (every trial, every curve) is priced beside it.

    .venv/bin/python bench/report_reads.py [--trials 100 2000] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT / "bench")]

from dynamodb_units import Units, count_units  # noqa: E402
from scanfleet.records import TrialRecord, TrialState, trial_id_for  # noqa: E402
from scanfleet.store._codec import float_text  # noqa: E402
from scanfleet.store.dynamodb_layout import LAYOUT, Attr, create_table  # noqa: E402

OWNER = "bench"
TABLE = "scanfleet-reads"
CONFIG = {
    "strategy": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "max_run": 100_000,
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
    "early_stopping": {"median": {"n_startup_trials": 5, "n_warmup_steps": 1}},
}


def measure(trials: int, steps: int) -> dict[str, float]:
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models import dynamodb_backends
    from scanfleet.service import ScanService
    from scanfleet.store import DynamoDBTrialStore

    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        os.environ.setdefault(key, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        store = DynamoDBTrialStore(TABLE, client=client)
        service = ScanService(store, now=time.time)
        scan, _ = service.create_scan("reads", CONFIG, owner=OWNER)
        backend = dynamodb_backends["123456789012"]["us-east-1"]
        for n in range(trials):
            params = {"x": n / (trials + 1)}
            trial = _trial(scan.scan_id, params)
            store.insert_trial(trial)
            for step in range(steps):
                backend.put_item(TABLE, _curve_item(scan.scan_id, trial.trial_id, step, n + step))
            store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=time.time(),
                               values={"loss": float(n)})  # fmt: skip
        running = _trial(scan.scan_id, {"x": 0.999999})
        store.insert_trial(running)
        store.claim_trial(running.trial_id, "w", lease_seconds=600, now=time.time())
        units = Units()
        monkeypatch = pytest.MonkeyPatch()
        with count_units(monkeypatch, units):
            first = _units_of(
                units, lambda: service.report(running.trial_id, "loss", 0, 1.0, owner=OWNER)
            )
            steady = _units_of(
                units, lambda: service.report(running.trial_id, "loss", 1, 1.0, owner=OWNER)
            )
            full = _units_of(units, lambda: _full_read(store, scan.scan_id))
        return {"first": first, "steady": steady, "full": full}


def _full_read(store: object, scan_id: str) -> None:
    """What a report read before: every trial and every curve of the scan."""
    store.list_trials(scan_id)  # type: ignore[attr-defined]
    store.intermediate_values(scan_id, "loss")  # type: ignore[attr-defined]


def _units_of(units: Units, call: object) -> float:
    before = units.read_total()
    call()  # type: ignore[operator]
    return units.read_total() - before


def _trial(scan_id: str, params: dict[str, float]) -> TrialRecord:
    return TrialRecord(scan_id=scan_id, trial_id=trial_id_for(scan_id, params), number=0,
                       params=params, created_at=time.time())  # fmt: skip


def _curve_item(scan_id: str, trial_id: str, step: int, value: float) -> dict[str, dict[str, str]]:
    """A curve item as ``record_intermediate`` writes it (written straight into moto)."""
    return {
        **LAYOUT.curve_key(scan_id, "loss", trial_id, step),
        Attr.SCAN_ID: {"S": scan_id},
        Attr.TRIAL_ID: {"S": trial_id},
        Attr.METRIC: {"S": "loss"},
        Attr.STEP: {"N": str(step)},
        Attr.VALUE: {"S": float_text(float(value))},
    }


def print_reads_per_report(trials: tuple[int, ...] = (100, 2_000), steps: int = 100) -> None:
    print(f"\nDynamoDB read units of one report, median pruner, N finished trials × {steps} steps")
    print(f"{'N':>6} {'a report':>10} {'1st in a process':>17} {'full read (before)':>19}")
    for n in trials:
        got = measure(n, steps)
        print(f"{n:>6,} {got['steady']:>10.1f} {got['first']:>17.1f} {got['full']:>19.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 2_000])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    print_reads_per_report(tuple(args.trials), args.steps)


if __name__ == "__main__":
    main()
