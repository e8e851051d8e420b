"""Size and time of the paged curves answer against the old single answer.

Fills a real SQLite store with N trials of S intermediate values each (realistic floats),
then reads every curve of the scan the way ``GET /scans/{id}/intermediate-values`` does:
page by page (the API's default limit and point cap) and, as the reference, in one
answer (the old route). Prints the JSON bytes of the largest page and of the single
answer against Lambda's 6 MB response cap, and the time of each, with ratios.

    .venv/bin/python bench/curve_pages.py [--trials 2000] [--steps 500]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from scanfleet.api._models import CURVE_PAGE_LIMIT, CURVE_PAGE_POINTS, IntermediateValues, dump
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

OWNER = "bench"
LAMBDA_CAP = 6 * 1024 * 1024


def body_bytes(page: IntermediateValues) -> int:
    # the API's serializer (Powertools: compact separators)
    return len(json.dumps(dump(page), separators=(",", ":")).encode())


def fill(service: ScanService, trials: int, steps: int) -> str:
    config = {
        "strategy": "random",
        "max_run": trials,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
    }
    scan, _ = service.create_scan("bench", config, owner=OWNER)
    rng = random.Random(0)
    store = service.store
    for _ in range(trials):
        trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER, lease_seconds=86_400)
        assert trial is not None
        for step in range(steps):
            store.record_intermediate(trial.trial_id, "loss", step, rng.random() / (step + 1))
    return scan.scan_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service = ScanService(SQLiteTrialStore(Path(tmp) / "bench.db"))
        started = time.perf_counter()
        scan_id = fill(service, args.trials, args.steps)
        filled_s = time.perf_counter() - started
        print(f"filled {args.trials} trials x {args.steps} steps in {filled_s:.1f} s")

        started = time.perf_counter()
        metric, curves_whole = service.intermediate_values(scan_id, owner=OWNER)
        single = body_bytes(IntermediateValues(metric=metric, trials=curves_whole))
        single_s = time.perf_counter() - started

        started = time.perf_counter()
        pages, largest, got, after = 0, 0, 0, -1
        while after is not None:
            metric, curves, after = service.intermediate_values_page(
                scan_id,
                owner=OWNER,
                after=after,
                limit=CURVE_PAGE_LIMIT,
                max_points=CURVE_PAGE_POINTS,
            )
            page = IntermediateValues(metric=metric, trials=curves, next_after=after)
            largest, pages, got = max(largest, body_bytes(page)), pages + 1, got + len(curves)
        paged_s = time.perf_counter() - started
        assert got == len(curves_whole) == args.trials

    mb = 1024 * 1024
    print(f"{'answer':<20}{'largest body MB':>16}{'of 6 MB':>9}{'total s':>9}{'requests':>10}")
    for name, size, seconds, requests in (
        ("single (reference)", single, single_s, 1),
        ("paged", largest, paged_s, pages),
    ):
        print(f"{name:<20}{size / mb:>16.2f}{size / LAMBDA_CAP:>9.2f}{seconds:>9.2f}{requests:>10}")
    print(f"paged / single: largest body x{largest / single:.3f}, time x{paged_s / single_s:.2f}")


if __name__ == "__main__":
    main()
