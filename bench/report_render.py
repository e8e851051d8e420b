"""Time and size of a scan's HTML report and Optuna journal against its number of trials.

Fills a SQLite store with N finished trials (each with a 10-step curve, one in five
pruned), then times ``write_report`` and ``write_journal`` beside writing the same trials
as CSV (the reference: a plain dump of the same rows), and prints the ratios.

    .venv/bin/python bench/report_render.py [--sizes 100,1000,5000]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scanfleet.client import row_columns, trial_row
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.report import ScanResults, write_journal, write_report
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

OWNER = "bench"
STEPS = 10
CONFIG = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "x": {"distribution": "uniform", "min": -5, "max": 5},
        "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1},
        "n": {"distribution": "int_uniform", "min": 1, "max": 64},
        "opt": {"values": ["adam", "sgd"]},
    },
}


def fill(store: SQLiteTrialStore, service: ScanService, n: int) -> str:
    scan, _ = service.create_scan("bench", {**CONFIG, "max_run": n}, owner=OWNER)
    rng = random.Random(0)
    for i in range(n):
        params = {
            "x": rng.uniform(-5, 5),
            "lr": 10 ** rng.uniform(-4, 0),
            "n": rng.randint(1, 64),
            "opt": rng.choice(["adam", "sgd"]),
        }
        trial_id = trial_id_for(scan.scan_id, params)
        store.insert_trial(
            TrialRecord(scan_id=scan.scan_id, trial_id=trial_id, number=0, params=params)
        )
        final = params["x"] ** 2 + abs(params["n"] - 32) / 10
        for step in range(STEPS):
            store.record_intermediate(trial_id, "loss", step, final + 3.0 / (step + 1))
        state = TrialState.PRUNED if i % 5 == 4 else TrialState.COMPLETED
        store.finish_trial(trial_id, state, now=time.time(), values={"loss": final + 0.3})
    return scan.scan_id


def timed(write: Callable[[ScanResults, Path], object], results: ScanResults, path: Path) -> float:
    started = time.perf_counter()
    write(results, path)
    return time.perf_counter() - started


def write_csv(results: ScanResults, path: Path) -> None:
    params, metrics = list(CONFIG["parameters"]), ["loss"]  # type: ignore[call-overload]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=row_columns(params, metrics))
        writer.writeheader()
        writer.writerows(trial_row(t, params, metrics) for t in results.trials)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print(
        f"{'trials':>7} {'report s':>9} {'report MB':>10} {'journal s':>10} {'journal MB':>11}"
        f" {'csv s':>7} {'report/csv':>11}"
    )
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            store = SQLiteTrialStore(out / "bench.db")
            service = ScanService(store)
            scan_id = fill(store, service, n)
            results = ScanResults.from_service(service, scan_id, owner=OWNER)
            report_s = timed(write_report, results, out / "report.html")
            journal_s = timed(write_journal, results, out / "scan.log")
            csv_s = timed(write_csv, results, out / "trials.csv")
            report_mb = (out / "report.html").stat().st_size / 1e6
            journal_mb = (out / "scan.log").stat().st_size / 1e6
            print(
                f"{n:>7} {report_s:>9.2f} {report_mb:>10.2f} {journal_s:>10.2f}"
                f" {journal_mb:>11.2f} {csv_s:>7.3f} {report_s / csv_s:>10.0f}x"
            )


if __name__ == "__main__":
    main()
